"""SageMaker's inference container contract ("Use your own inference code with hosting
services"): `GET /ping` answers 200 when the container is ready; `POST /invocations`
takes the request body as the client sent it to InvokeEndpoint, with its Content-Type
and Accept headers. A client error is a 4xx with a message, a model failure a 500 with a
message; SageMaker returns either to the caller as ModelError with the original status
and message. While the model loads, `/ping` and `/invocations` answer 503 (not ready)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from model_server.predictor import (
    ModelFailure,
    RequestError,
    parse,
    render,
    response_type,
)
from model_server.protocols.common import error as _error
from model_server.protocols.common import read_body
from model_server.state import ModelSlot, NotReady


def router(slot: ModelSlot) -> APIRouter:
    api = APIRouter()

    @api.get("/ping")
    async def ping() -> Response:
        # SageMaker: "Your container must respond to ping requests within 4 minutes";
        # anything but 200 is "not healthy yet". Readiness also turns false on SIGTERM.
        if not slot.ready:
            return JSONResponse({"status": slot.phase}, status_code=503)
        return JSONResponse({"status": "ok",
                             "model_sha256": slot.predictor().manifest.model_sha256})

    @api.post("/invocations")
    async def invocations(request: Request) -> Response:
        try:
            slot.predictor()  # 503 while loading, before reading the body
            kind = response_type(request.headers.get("accept"))
            rows = parse(await read_body(request), request.headers.get("content-type"))
            request.state.rows = len(rows)
            predictions = await slot.predict(rows)
        except NotReady as err:
            return _error(request, 503, str(err))
        except RequestError as err:
            return _error(request, err.status, err.message)
        except ModelFailure as err:
            return _error(request, 500, f"model failed: {err}")
        return Response(render(predictions, kind), media_type=kind)

    return api
