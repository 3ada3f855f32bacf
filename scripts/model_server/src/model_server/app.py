"""The FastAPI application: protocol routers over one ModelSlot, observed per request.

    create_app(slot, protocols=DEFAULT_PROTOCOLS, observers=(log_request,), metrics=True)

A protocol is a function `router(slot) -> APIRouter` registered in
`protocols.PROTOCOLS` (SageMaker's `/ping` + `/invocations`, and the Open Inference
Protocol v2 routes). An observer is called once per answered request with a
RequestRecord: the JSON request log is one, the Prometheus metrics (`GET /metrics`)
another. Handlers add `rows` and `error` to `request.state`; the middleware does the
timing, counts the requests in flight, and while the server drains (SIGTERM) asks
keep-alive clients to close their connection so their next request goes to another pod.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from model_server import logs
from model_server.protocols import DEFAULT_PROTOCOLS, PROTOCOLS
from model_server.state import DRAINING, ModelSlot

OTHER_ROUTE = "other"  # the route label of requests that match no route


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    route: str  # the route template, e.g. /v2/models/{name}/infer
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


class InFlight:
    """Requests being answered right now (the metrics gauge and the drain log read it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def __call__(self) -> int:
        return self._count

    def add(self, delta: int) -> None:
        with self._lock:
            self._count += delta


def create_app(slot: ModelSlot, protocols: Sequence[str] = DEFAULT_PROTOCOLS,
               observers: Iterable[Observer] = (log_request,), *,
               metrics: bool = True) -> FastAPI:
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise ValueError(f"unknown protocol(s) {unknown}; known: {sorted(PROTOCOLS)}")
    app = FastAPI(title="model-server", docs_url=None, redoc_url=None, openapi_url=None)
    for name in dict.fromkeys(protocols):
        app.include_router(PROTOCOLS[name](slot))
    in_flight = InFlight()
    app.state.in_flight = in_flight
    watchers = list(observers)
    if metrics:
        from model_server.metrics import CONTENT_TYPE, Metrics

        registry = Metrics(slot, in_flight)
        watchers.append(registry.observe)

        @app.get("/metrics")
        async def prometheus() -> Response:
            return Response(registry.exposition(), media_type=CONTENT_TYPE)

    @app.middleware("http")
    async def observe(request: Request,
                      call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        in_flight.add(1)
        try:
            response = await call_next(request)
        except Exception as err:  # a bug, not a bad request: answer 500, keep serving
            request.state.error = f"internal error: {type(err).__name__}: {err}"
            response = JSONResponse({"error": request.state.error}, status_code=500)
        finally:
            in_flight.add(-1)
        if slot.phase == DRAINING:
            response.headers["connection"] = "close"
        route = request.scope.get("route")
        record = RequestRecord(
            method=request.method, path=request.url.path,
            route=getattr(route, "path", OTHER_ROUTE), status=response.status_code,
            duration_ms=(time.perf_counter() - started) * 1000,
            request_bytes=int(getattr(request.state, "request_bytes", 0)),
            rows=getattr(request.state, "rows", None),
            error=getattr(request.state, "error", None))
        for watch in watchers:
            watch(record)
        return response

    return app
