"""SageMaker's inference container contract ("Use your own inference code with hosting
services"): `GET /ping` answers 200 when the container is ready; `POST /invocations`
takes the request body as the client sent it to InvokeEndpoint, with its Content-Type
and Accept headers. A client error is a 4xx with a message, a model failure a 500 with a
message; SageMaker returns either to the caller as ModelError with the original status
and message."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from model_server.predictor import (
    MAX_BODY_BYTES,
    ModelFailure,
    Predictor,
    RequestError,
    parse,
    render,
    response_type,
)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refusing to buffer more than `limit` bytes (413)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    request.state.request_bytes = size
    return b"".join(chunks)


def _error(request: Request, status: int, message: str) -> JSONResponse:
    request.state.error = message
    return JSONResponse({"error": message}, status_code=status)


def router(predictor: Predictor) -> APIRouter:
    api = APIRouter()

    @api.get("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "ok", "model_sha256": predictor.manifest.model_sha256}

    @api.post("/invocations")
    async def invocations(request: Request) -> Response:
        try:
            kind = response_type(request.headers.get("accept"))
            rows = parse(await read_body(request), request.headers.get("content-type"))
            request.state.rows = len(rows)
            predictions = await run_in_threadpool(predictor.predict, rows)
        except RequestError as err:
            return _error(request, err.status, err.message)
        except ModelFailure as err:
            return _error(request, 500, f"model failed: {err}")
        return Response(render(predictions, kind), media_type=kind)

    return api
