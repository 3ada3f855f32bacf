"""Request bodies -> feature rows -> predictions -> response bodies.

Protocol routers (protocols/) translate their wire format to `Predictor.predict(rows)`;
everything here is independent of HTTP frameworks, so it is tested on literal inputs.

Accepted bodies (SageMaker "Common data formats for inference"):
- `application/json`: `{"instances": [[f1, f2, ...], ...]}`, or the bare list of rows,
  or one row `[f1, f2, ...]`;
- `text/csv`: one row per line, no header.
Responses: `application/json` `{"predictions": [...]}` (default) or `text/csv`, one
prediction per line, as `Accept` asks.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any

from model_server.artifact import LoadedModel, Manifest

JSON = "application/json"
CSV = "text/csv"
MAX_BODY_BYTES = 6 * 1024 * 1024  # SageMaker's real-time payload limit
MAX_ROWS = 10_000


class RequestError(Exception):
    """The request is wrong (4xx): `status` and a message that says how."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ModelFailure(Exception):
    """The model failed on a valid request (500)."""


def media_type(header: str | None) -> str:
    """`"Application/JSON; charset=utf-8"` -> `"application/json"`."""
    return (header or "").split(";", 1)[0].strip().lower()


def response_type(accept: str | None) -> str:
    """The response media type for an Accept header (JSON unless CSV is preferred)."""
    if not accept:
        return JSON
    for part in accept.split(","):
        kind = media_type(part)
        if kind in (JSON, CSV):
            return kind
        if kind in ("*/*", "application/*"):
            return JSON
        if kind == "text/*":
            return CSV
    raise RequestError(406, f"cannot answer in {accept!r}: this model answers "
                            f"{JSON} or {CSV}")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(400, f"{where}: expected a number, found {json.dumps(value)[:40]}")
    number = float(value)
    if not math.isfinite(number):
        raise RequestError(400, f"{where}: {value} is not a finite number")
    return number


def parse_json(body: bytes) -> list[list[float]]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RequestError(400, f"the body is not valid JSON ({err})") from err
    if isinstance(data, dict):
        if set(data) != {"instances"}:
            raise RequestError(400, 'a JSON object body must be {"instances": [[...], ...]}; '
                                    f"found keys {sorted(data)[:5]}")
        data = data["instances"]
    if isinstance(data, list) and data and not isinstance(data[0], list):
        data = [data]  # one row
    if not isinstance(data, list):
        raise RequestError(400, "expected a list of rows, each a list of numbers")
    rows = []
    for i, row in enumerate(data):
        if not isinstance(row, list):
            raise RequestError(400, f"row {i}: expected a list of numbers")
        rows.append([_number(v, f"row {i} column {j}") for j, v in enumerate(row)])
    return rows


def parse_csv(body: bytes) -> list[list[float]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RequestError(400, f"the CSV body is not UTF-8 ({err})") from err
    rows = []
    for i, fields in enumerate(csv.reader(io.StringIO(text))):
        if not fields or all(not f.strip() for f in fields):
            continue
        row = []
        for j, field in enumerate(fields):
            try:
                value = float(field)
            except ValueError as err:
                raise RequestError(400, f"line {i + 1} column {j + 1}: {field[:40]!r} is not a "
                                        "number (CSV bodies have no header)") from err
            row.append(_number(value, f"line {i + 1} column {j + 1}"))
        rows.append(row)
    return rows


def parse(body: bytes, content_type: str | None) -> list[list[float]]:
    """Feature rows from a request body, or RequestError saying what is wrong."""
    kind = media_type(content_type) or JSON
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(413, f"the body is {len(body)} bytes; at most {MAX_BODY_BYTES}")
    if kind == JSON:
        rows = parse_json(body)
    elif kind == CSV:
        rows = parse_csv(body)
    else:
        raise RequestError(415, f"content type {content_type!r} is not supported; send "
                                f"{JSON} or {CSV}")
    if not rows:
        raise RequestError(400, "the request has no rows to predict")
    if len(rows) > MAX_ROWS:
        raise RequestError(413, f"{len(rows)} rows in one request; at most {MAX_ROWS}")
    return rows


def render(predictions: list[Any], kind: str) -> bytes:
    if kind == CSV:
        return "".join(f"{p}\n" for p in predictions).encode()
    return json.dumps({"predictions": predictions}).encode()


@dataclass(frozen=True)
class Predictor:
    """One loaded model, shared by every protocol router."""

    loaded: LoadedModel

    @property
    def manifest(self) -> Manifest:
        return self.loaded.manifest

    @property
    def batchable(self) -> bool:
        """False for a fault-injected build: it counts its failures per predict call, so
        batching requests would change which of them fail (batching.py)."""
        from model_server.faults import FaultInjected

        return not isinstance(self.loaded.estimator, FaultInjected)

    def check_width(self, rows: list[list[float]]) -> None:
        expected = self.manifest.n_features
        for i, row in enumerate(rows):
            if len(row) != expected:
                raise RequestError(400, f"row {i} has {len(row)} features; this model takes "
                                        f"{expected} ({', '.join(self.manifest.feature_names[:3])}"
                                        ", ...)")

    def predict(self, rows: list[list[float]]) -> list[Any]:
        """Predictions for valid rows; ModelFailure when the model itself fails."""
        self.check_width(rows)
        import numpy as np

        try:
            result = self.loaded.estimator.predict(np.asarray(rows, dtype=np.float64))
            return list(np.asarray(result).tolist())
        except Exception as err:
            raise ModelFailure(f"{type(err).__name__}: {err}") from err
