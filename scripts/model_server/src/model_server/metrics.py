"""Prometheus metrics of one server process, through the official client library.

    model_server_requests_total{model, route, method, code}       requests answered
    model_server_request_errors_total{model, route, code}         of which 4xx or 5xx
    model_server_request_duration_seconds{model, route}           latency histogram
    model_server_requests_in_flight{model}                        requests being answered
    model_server_ready{model}                                     1 when ready (see state.py)
    model_server_model_info{model, version, sha256}               1: which artifact is served
    model_server_batch_requests{model}                            requests per model call
                                                                  (adaptive batching)

`route` is the route template (`/v2/models/{name}/infer`), never the raw path, so a
client cannot grow the number of series; requests that match no route are `other`.
Each app has its own registry (no process-global state), served at `GET /metrics` in the
text exposition format.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from model_server.app import RequestRecord
    from model_server.state import ModelSlot

CONTENT_TYPE = CONTENT_TYPE_LATEST
# From 1 ms (a health probe) to 10 s (a large batch near SageMaker's 60 s limit).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, slot: ModelSlot, in_flight: Callable[[], int]) -> None:
        self.slot = slot
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "model_server_requests", "HTTP requests answered, by route, method and status code",
            ["model", "route", "method", "code"], registry=self.registry)
        self.errors = Counter(
            "model_server_request_errors", "HTTP requests answered with a 4xx or 5xx status",
            ["model", "route", "code"], registry=self.registry)
        self.latency = Histogram(
            "model_server_request_duration_seconds",
            "Time from receiving a request to its response, by route",
            ["model", "route"], buckets=BUCKETS, registry=self.registry)
        Gauge("model_server_requests_in_flight", "Requests being answered now", ["model"],
              registry=self.registry).labels(slot.name).set_function(in_flight)
        Gauge("model_server_ready", "1 when the model is loaded and the server is not draining",
              ["model"], registry=self.registry).labels(slot.name).set_function(
            lambda: 1.0 if slot.ready else 0.0)
        self.batches = Histogram(
            "model_server_batch_requests", "Requests answered by one model call (adaptive "
            "batching: 1 when idle, more under load)", ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=self.registry)
        self.info = Gauge("model_server_model_info", "The artifact being served (value 1)",
                          ["model", "version", "sha256"], registry=self.registry)
        self._info_set = False

    def observe_batch(self, requests: int, rows: int) -> None:
        self.batches.labels(self.slot.name).observe(requests)

    def observe(self, record: RequestRecord) -> None:
        model = self.slot.name
        code = str(record.status)
        self.requests.labels(model, record.route, record.method, code).inc()
        if record.status >= 400:
            self.errors.labels(model, record.route, code).inc()
        self.latency.labels(model, record.route).observe(record.duration_ms / 1000)

    def exposition(self) -> bytes:
        if not self._info_set and self.slot.version is not None:
            sha = self.slot.predictor().manifest.model_sha256
            self.info.labels(self.slot.name, self.slot.version, sha).set(1)
            self._info_set = True
        return generate_latest(self.registry)
