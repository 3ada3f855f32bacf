"""The FastAPI application: protocol routers over one Predictor, observed per request.

    create_app(predictor, protocols=("sagemaker",), observers=(log_request,))

A protocol is a function `router(predictor) -> APIRouter` registered in
`protocols.PROTOCOLS`; the Open Inference Protocol v2 routes are one more entry there.
An observer is called once per request with a RequestRecord (the JSON request log is
one; Prometheus counters would be another, with a `/metrics` route). Handlers add
`rows` and `error` to `request.state`; the middleware does the timing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from model_server import logs
from model_server.predictor import Predictor
from model_server.protocols import PROTOCOLS


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    status: int
    duration_ms: float
    request_bytes: int
    rows: int | None
    error: str | None


Observer = Callable[[RequestRecord], None]


def log_request(record: RequestRecord) -> None:
    logs.emit("request", method=record.method, path=record.path, status=record.status,
              duration_ms=round(record.duration_ms, 3), request_bytes=record.request_bytes,
              rows=record.rows, error=record.error)


def create_app(predictor: Predictor, protocols: Sequence[str] = ("sagemaker",),
               observers: Iterable[Observer] = (log_request,)) -> FastAPI:
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise ValueError(f"unknown protocol(s) {unknown}; known: {sorted(PROTOCOLS)}")
    app = FastAPI(title="model-server", docs_url=None, redoc_url=None, openapi_url=None)
    for name in protocols:
        app.include_router(PROTOCOLS[name](predictor))
    watchers = tuple(observers)

    @app.middleware("http")
    async def observe(request: Request,
                      call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as err:  # a bug, not a bad request: answer 500, keep serving
            request.state.error = f"internal error: {type(err).__name__}: {err}"
            response = JSONResponse({"error": request.state.error}, status_code=500)
        record = RequestRecord(
            method=request.method, path=request.url.path, status=response.status_code,
            duration_ms=(time.perf_counter() - started) * 1000,
            request_bytes=int(getattr(request.state, "request_bytes", 0)),
            rows=getattr(request.state, "rows", None),
            error=getattr(request.state, "error", None))
        for watch in watchers:
            watch(record)
        return response

    return app
