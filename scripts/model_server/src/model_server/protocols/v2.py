"""The Open Inference Protocol v2 over HTTP/REST (KServe's "V2 protocol", also spoken by
Seldon MLServer and Triton), over the same Predictor as the SageMaker routes.

Spec: https://github.com/kserve/open-inference-protocol (specification/protocol/
inference_rest.md) and KServe's docs/predict-api/v2/required_api.md.

    GET  /v2                                         server metadata
    GET  /v2/health/live                             200 while the process can answer
    GET  /v2/health/ready                            200 when the model is loaded and the
                                                     server is not draining; 400 otherwise
    GET  /v2/models/{name}[/versions/{v}]            model metadata
    GET  /v2/models/{name}[/versions/{v}]/ready      model readiness
    POST /v2/models/{name}[/versions/{v}]/infer      inference

Health: "A 200 status code indicates true and a 4xx status code indicates false" (400,
as Triton answers); the body carries `{"live": bool}` / `{"ready": bool}` as in the OIP
repository's schemas. A model is addressed by the server's `--model-name`; its version
is the first 12 hex digits of its manifest's `model_sha256` (the digest `/ping` shows),
so a version in the URL pins the exact model. Errors are `{"error": "<message>"}`: 400
for a bad request, 404 for another model or version, 415 for a body that is not JSON,
500 when the model fails, 503 while it is not loaded.

The model takes one input tensor of FP64-compatible numbers with shape [N, features]
(or [features] for one row), data flat or nested in row-major order, and returns one
output, `predict`, of shape [N].
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from model_server import __version__
from model_server.predictor import JSON, ModelFailure, Predictor, RequestError, media_type
from model_server.protocols.common import error, read_body
from model_server.state import ModelSlot, NotReady

INPUT_NAME = "input-0"
OUTPUT_NAME = "predict"
PLATFORM = "sklearn_skops"  # OIP platforms are "<project>_<format>"
# Input datatypes whose elements are numbers (OIP "Tensor Data Types"); BOOL and BYTES
# are refused. Every element is coerced to float64, as the spec allows.
NUMERIC = frozenset({"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                     "FP16", "FP32", "FP64"})


def output_datatype(classes: tuple[Any, ...]) -> str:
    """The OIP datatype of the model's predictions, from the classes it was trained on."""
    if classes and all(isinstance(c, bool) for c in classes):
        return "BOOL"
    if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "INT64"
    if classes and all(isinstance(c, int | float) and not isinstance(c, bool) for c in classes):
        return "FP64"
    return "BYTES"


def model_metadata(slot: ModelSlot, predictor: Predictor) -> dict[str, Any]:
    manifest = predictor.manifest
    return {
        "name": slot.name,
        "versions": [slot.version],
        "platform": PLATFORM,
        "inputs": [{"name": INPUT_NAME, "datatype": "FP64",
                    "shape": [-1, manifest.n_features]}],
        "outputs": [{"name": OUTPUT_NAME, "datatype": output_datatype(manifest.classes),
                     "shape": [-1]}],
    }


def _flatten(data: Any) -> Iterator[Any]:
    if isinstance(data, list):
        for item in data:
            yield from _flatten(item)
    else:
        yield data


def _shape(raw: Any) -> list[int]:
    if (not isinstance(raw, list) or not raw or
            not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in raw)):
        raise RequestError(400, f"inputs[0].shape must be a list of non-negative integers, "
                                f"found {json.dumps(raw)[:60]}")
    return raw


def parse_infer(body: bytes, n_features: int) -> tuple[list[list[float]], dict[str, Any]]:
    """(rows, echo) from an $inference_request; echo holds the request's `id`, if any.
    RequestError (400) says what is wrong, naming the field."""
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RequestError(400, f"the body is not valid JSON ({err})") from err
    if not isinstance(request, dict):
        raise RequestError(400, "an inference request is a JSON object with \"inputs\"")
    echo: dict[str, Any] = {}
    if "id" in request:
        if not isinstance(request["id"], str):
            raise RequestError(400, "id must be a string")
        echo["id"] = request["id"]
    parameters = request.get("parameters", {})
    if not isinstance(parameters, dict):
        raise RequestError(400, "parameters must be an object")
    outputs = request.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            raise RequestError(400, "outputs must be a list of {\"name\": ...} objects")
        unknown = [str(o.get("name")) for o in outputs if o.get("name") != OUTPUT_NAME]
        if unknown:
            raise RequestError(400, f"unknown output(s) {', '.join(unknown)}; this model "
                                    f"has one output, {OUTPUT_NAME!r}")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(400, "inputs must be a non-empty list of tensors")
    if len(inputs) != 1:
        raise RequestError(400, f"this model takes one input tensor, found {len(inputs)}")
    tensor = inputs[0]
    if not isinstance(tensor, dict):
        raise RequestError(400, "inputs[0] must be an object")
    missing = [k for k in ("name", "shape", "datatype", "data") if k not in tensor]
    if missing:
        raise RequestError(400, f"inputs[0] lacks {', '.join(missing)} (an $request_input "
                                "has name, shape, datatype and data)")
    if not isinstance(tensor["name"], str):
        raise RequestError(400, "inputs[0].name must be a string")
    if tensor["datatype"] not in NUMERIC:
        raise RequestError(400, f"inputs[0].datatype {json.dumps(tensor['datatype'])[:30]} "
                                f"is not numeric; send FP64, FP32 or an INT type")
    shape = _shape(tensor["shape"])
    if len(shape) == 1:
        shape = [1, shape[0]]
    if len(shape) != 2 or shape[1] != n_features:
        raise RequestError(400, f"inputs[0].shape {tensor['shape']} does not fit this model: "
                                f"expected [N, {n_features}] (or [{n_features}] for one row)")
    values = list(_flatten(tensor["data"]))
    if len(values) != shape[0] * shape[1]:
        raise RequestError(400, f"inputs[0].data has {len(values)} elements; shape "
                                f"{tensor['shape']} needs {shape[0] * shape[1]}")
    if shape[0] == 0:
        raise RequestError(400, "the request has no rows to predict")
    numbers = []
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RequestError(400, f"inputs[0].data[{i}]: expected a number, found "
                                    f"{json.dumps(value)[:40]}")
        number = float(value)
        if not math.isfinite(number):
            raise RequestError(400, f"inputs[0].data[{i}]: {value} is not a finite number")
        numbers.append(number)
    width = shape[1]
    return [numbers[r * width:(r + 1) * width] for r in range(shape[0])], echo


def infer_response(slot: ModelSlot, predictor: Predictor, predictions: list[Any],
                   echo: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_name": slot.name,
        "model_version": slot.version,
        **echo,
        "outputs": [{"name": OUTPUT_NAME, "shape": [len(predictions)],
                     "datatype": output_datatype(predictor.manifest.classes),
                     "data": predictions}],
    }


def router(slot: ModelSlot) -> APIRouter:
    api = APIRouter(prefix="/v2")

    def check_model(request: Request, name: str, version: str | None) -> JSONResponse | None:
        if name != slot.name:
            return error(request, 404, f"model {name!r} is not served here; this server "
                                       f"serves {slot.name!r}")
        if version is not None and slot.version is not None and version != slot.version:
            return error(request, 404, f"model {name!r} has no version {version!r}; the "
                                       f"served version is {slot.version!r}")
        return None

    @api.get("")
    async def server_metadata() -> dict[str, Any]:
        return {"name": "model-server", "version": __version__, "extensions": []}

    @api.get("/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @api.get("/health/ready")
    async def ready() -> Response:
        return JSONResponse({"ready": slot.ready}, status_code=200 if slot.ready else 400)

    async def model_ready(request: Request, name: str, version: str | None = None) -> Response:
        wrong = check_model(request, name, version)
        if wrong is not None:
            return wrong
        return JSONResponse({"name": slot.name, "ready": slot.ready},
                            status_code=200 if slot.ready else 400)

    async def metadata(request: Request, name: str, version: str | None = None) -> Response:
        wrong = check_model(request, name, version)
        if wrong is not None:
            return wrong
        try:
            predictor = slot.predictor()
        except NotReady as err:
            return error(request, 503, str(err))
        return JSONResponse(model_metadata(slot, predictor))

    async def infer(request: Request, name: str, version: str | None = None) -> Response:
        wrong = check_model(request, name, version)
        if wrong is not None:
            return wrong
        try:
            predictor = slot.predictor()
            kind = media_type(request.headers.get("content-type")) or JSON
            if kind != JSON:
                raise RequestError(415, f"content type {kind!r} is not supported; the "
                                        f"inference request is {JSON}")
            rows, echo = parse_infer(await read_body(request), predictor.manifest.n_features)
            request.state.rows = len(rows)
            predictions = await slot.predict(rows)
        except NotReady as err:
            return error(request, 503, str(err))
        except RequestError as err:
            return error(request, err.status, err.message)
        except ModelFailure as err:
            return error(request, 500, f"model failed: {err}")
        return JSONResponse(infer_response(slot, predictor, predictions, echo))

    for suffix in ("", "/versions/{version}"):
        base = "/models/{name}" + suffix
        api.add_api_route(base, metadata, methods=["GET"])
        api.add_api_route(base + "/ready", model_ready, methods=["GET"])
        api.add_api_route(base + "/infer", infer, methods=["POST"])
    return api
