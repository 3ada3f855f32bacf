"""`model-server batch --input s3://B/in/ --output s3://B/out/`: scheduled batch inference.

Predicts every object under the input prefix with the same Predictor the HTTP routes use,
and writes `<output prefix><relative key>.out` per input object (SageMaker Batch
Transform's naming). Formats, by extension (else the object's Content-Type):

    .csv    one row per line, no header        ->  one prediction per line
    .json   {"instances": [[...], ...]} or rows ->  {"predictions": [...]}
    .jsonl  one JSON row ([f1, f2, ...]) a line ->  one JSON prediction a line

The model comes from the model directory, delivered and verified exactly as for the
server (the init container); S3 is used only for the data, through boto3 (the package's
`[s3]` extra) with its usual credential chain (IRSA on Kubernetes) and AWS_ENDPOINT_URL.
An input that cannot be read or predicted is reported and skipped; the others are still
written, and the run exits 1. Outputs are overwritten: a re-run gives the same bytes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_server import logs
from model_server.artifact import ArtifactError, load_dir
from model_server.predictor import (
    CSV,
    JSON,
    MAX_ROWS,
    ModelFailure,
    Predictor,
    RequestError,
    parse_csv,
    parse_json,
    render,
)

JSONL = "application/jsonlines"
OUTPUT_SUFFIX = ".out"
MAX_OBJECT_BYTES = 256 * 1024 * 1024
_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.*)$")
_FORMATS = {".csv": CSV, ".json": JSON, ".jsonl": JSONL}
_CONTENT_TYPES = {CSV: CSV, JSON: JSON, JSONL: JSONL, "application/x-ndjson": JSONL,
                  "application/jsonl": JSONL}


class BatchError(Exception):
    """The run cannot start (bad URI, no boto3, no model): the message says why."""


@dataclass(frozen=True)
class S3Prefix:
    bucket: str
    prefix: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def parse_prefix(uri: str, flag: str) -> S3Prefix:
    match = _S3_URI.match(uri)
    if match is None:
        raise BatchError(f"{flag} {uri!r} is not an s3://bucket/prefix/ URI")
    prefix = match.group(2)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return S3Prefix(match.group(1), prefix)


def format_of(key: str, content_type: str | None) -> str | None:
    suffix = Path(key).suffix.lower()
    if suffix in _FORMATS:
        return _FORMATS[suffix]
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return _CONTENT_TYPES.get(kind)


def parse_jsonl(body: bytes) -> list[list[float]]:
    rows: list[list[float]] = []
    for i, line in enumerate(body.decode("utf-8").splitlines()):
        if not line.strip():
            continue
        try:
            rows += parse_json(line.encode())
        except RequestError as err:
            raise RequestError(400, f"line {i + 1}: {err.message}") from err
    return rows


def predict_body(predictor: Predictor, body: bytes, kind: str) -> bytes:
    """The output object for one input object (RequestError / ModelFailure when it fails)."""
    try:
        rows = {CSV: parse_csv, JSON: parse_json, JSONL: parse_jsonl}[kind](body)
    except UnicodeDecodeError as err:
        raise RequestError(400, f"the body is not UTF-8 ({err})") from err
    predictions: list[Any] = []
    for start in range(0, len(rows), MAX_ROWS):  # the same batch size as one HTTP request
        predictions += predictor.predict(rows[start:start + MAX_ROWS])
    if kind == JSONL:
        return "".join(json.dumps(p) + "\n" for p in predictions).encode()
    return render(predictions, kind)


def _objects(client: Any, source: S3Prefix) -> Iterator[dict[str, Any]]:
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=source.bucket, Prefix=source.prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/"):
                yield item


def run(input_uri: str, output_uri: str, model_dir: Path, client: Any = None) -> int:
    source = parse_prefix(input_uri, "--input")
    target = parse_prefix(output_uri, "--output")
    if source.bucket == target.bucket and (target.prefix.startswith(source.prefix)
                                           or source.prefix.startswith(target.prefix)):
        raise BatchError(f"--output {target} overlaps --input {source}: a re-run would read "
                         "its own predictions; use separate prefixes")
    try:
        predictor = Predictor(load_dir(model_dir))
    except ArtifactError as err:
        raise BatchError(f"cannot load the model in {model_dir}: {err}") from err
    if client is None:
        try:
            import boto3
        except ImportError as err:
            raise BatchError("batch mode reads and writes S3 with boto3, which is not "
                             "installed: pip install 'model-server[s3]' (the image's "
                             "`batch` target has it)") from err
        client = boto3.client("s3")
    from botocore.exceptions import BotoCoreError, ClientError

    started = time.monotonic()
    done = failed = rows = 0
    logs.emit("batch_started", input=str(source), output=str(target),
              model_sha256=predictor.manifest.model_sha256)
    try:
        objects = list(_objects(client, source))
    except (BotoCoreError, ClientError) as err:
        raise BatchError(f"cannot list {source}: {err}") from err
    for item in objects:
        key = item["Key"]
        out_key = target.prefix + key[len(source.prefix):] + OUTPUT_SUFFIX
        try:
            if item.get("Size", 0) > MAX_OBJECT_BYTES:
                raise RequestError(413, f"{item['Size']} bytes; at most {MAX_OBJECT_BYTES}")
            response = client.get_object(Bucket=source.bucket, Key=key)
            kind = format_of(key, response.get("ContentType"))
            if kind is None:
                raise RequestError(415, "unknown format: name it .csv, .json or .jsonl")
            output = predict_body(predictor, response["Body"].read(), kind)
            client.put_object(Bucket=target.bucket, Key=out_key, Body=output,
                              ContentType=kind)
        except (RequestError, ModelFailure, BotoCoreError, ClientError) as err:
            failed += 1
            message = err.message if isinstance(err, RequestError) else str(err)
            logs.emit("batch_object_failed", key=key, error=message)
            continue
        done += 1
        count = output.count(b"\n") if kind != JSON else len(json.loads(output)["predictions"])
        rows += count
        logs.emit("batch_object", key=key, output=out_key, predictions=count)
    logs.emit("batch_finished", objects=done, failed=failed, predictions=rows,
              seconds=round(time.monotonic() - started, 3))
    return 1 if failed else 0
