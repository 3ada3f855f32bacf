"""The FastAPI application: protocol routers over one ModelSlot, observed per request.

    create_app(slot, protocols=DEFAULT_PROTOCOLS, observers=(log_request,), metrics=True)

A protocol is a function `router(slot) -> APIRouter` registered in
`protocols.PROTOCOLS` (SageMaker's `/ping` + `/invocations`, and the Open Inference
Protocol v2 routes). An observer is called once per answered request with a
RequestRecord: the JSON request log is one, the Prometheus metrics (`GET /metrics`)
another. Handlers add `rows` and `error` to `request.state`; the middleware (`Observe`)
does the timing, counts the requests in flight, and while the server drains (SIGTERM)
asks keep-alive clients to close their connection so their next request goes to another
pod.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class Observe:
    """Pure ASGI middleware (no extra task per request, unlike BaseHTTPMiddleware): times
    each request, counts it in flight, turns an unhandled exception into a JSON 500, adds
    `Connection: close` while draining, and calls the observers with a RequestRecord."""

    def __init__(self, app: ASGIApp, slot: ModelSlot, in_flight: InFlight,
                 watchers: tuple[Observer, ...]) -> None:
        self.app = app
        self.slot = slot
        self.in_flight = in_flight
        self.watchers = watchers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = scope.setdefault("state", {})  # what request.state sets
        status = 500
        sent = False

        async def respond(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status, sent = message["status"], True
                if self.slot.phase == DRAINING:
                    message = {**message, "headers": [*message.get("headers", []),
                                                      (b"connection", b"close")]}
            await send(message)

        self.in_flight.add(1)
        try:
            await self.app(scope, receive, respond)
        except Exception as err:  # a bug, not a bad request: answer 500, keep serving
            state["error"] = f"internal error: {type(err).__name__}: {err}"
            if not sent:
                await JSONResponse({"error": state["error"]}, status_code=500)(
                    scope, receive, respond)
        finally:
            self.in_flight.add(-1)
        record = RequestRecord(
            method=scope["method"], path=scope["path"],
            route=getattr(scope.get("route"), "path", OTHER_ROUTE), status=status,
            duration_ms=(time.perf_counter() - started) * 1000,
            request_bytes=int(state.get("request_bytes", 0)), rows=state.get("rows"),
            error=state.get("error"))
        for watch in self.watchers:
            watch(record)


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
        slot.batch_observer = registry.observe_batch

        @app.get("/metrics")
        async def prometheus() -> Response:
            return Response(registry.exposition(), media_type=CONTENT_TYPE)

    app.add_middleware(Observe, slot=slot, in_flight=in_flight, watchers=tuple(watchers))
    return app
