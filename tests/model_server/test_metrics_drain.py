"""Prometheus metrics, and readiness over a server's life: false while the model loads,
true while it serves, false again from SIGTERM while every request in flight is answered.

A rolling update on Kubernetes loses no request when (1) a new pod gets traffic only
once its readiness probe passes, and (2) a terminating pod keeps answering until the
endpoints controller has taken it out of the Service (readiness false, `--drain-seconds`)
and then finishes what it has. The SIGTERM test plays the endpoints controller: a prober
stops the clients from sending half a second after it sees readiness turn false, as a
Service does once the endpoints update has propagated.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families


@pytest.fixture(scope="module")
def rows() -> list[list[float]]:
    from mlops.adapters import training

    return training.holdout_rows("breast_cancer")[:3]


def scrape(server: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, headers, raw = server.request("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(raw.decode()):  # the format's own parser
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_errors_and_latency_per_route(
        train_model: Any, tmp_path: Path, serve: Any, rows: list[list[float]]) -> None:
    model = train_model(1).unpacked(tmp_path / "model")
    server = serve(model, "--model-name", "churn")
    before = scrape(server)
    for _ in range(3):
        assert server.invoke([rows[0]])[0] == 200
    assert server.invoke(b"{bad", "application/json")[0] == 400
    tensor = {"name": "x", "shape": [1, 30], "datatype": "FP64", "data": rows[0]}
    body = json.dumps({"inputs": [tensor]}).encode()
    assert server.request("POST", "/v2/models/churn/infer", body,
                          {"Content-Type": "application/json"})[0] == 200
    assert server.request("GET", "/v2/models/churn/infer")[0] == 405
    assert server.request("GET", "/no/such/route")[0] == 404
    after = scrape(server)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    inv = {"model": "churn", "route": "/invocations"}
    assert delta("model_server_requests_total", **inv, method="POST", code="200") == 3
    assert delta("model_server_requests_total", **inv, method="POST", code="400") == 1
    assert delta("model_server_request_errors_total", **inv, code="400") == 1
    assert delta("model_server_request_errors_total", **inv, code="200") == 0
    assert delta("model_server_request_duration_seconds_count", **inv) == 4
    assert delta("model_server_request_duration_seconds_sum", **inv) > 0
    infer = {"model": "churn", "route": "/v2/models/{name}/infer"}
    assert delta("model_server_requests_total", **infer, method="POST", code="200") == 1
    assert delta("model_server_request_errors_total", **infer, code="405") == 1
    # A path that matches no route is one series, whatever the path: no label explosion.
    assert delta("model_server_requests_total", model="churn", route="other", method="GET",
                 code="404") == 1
    assert not any("/no/such/route" in str(key) for key in after)
    # Histogram buckets are cumulative and end with +Inf == count.
    assert value(after, "model_server_request_duration_seconds_bucket", **inv, le="+Inf") == \
        value(after, "model_server_request_duration_seconds_count", **inv)
    assert value(after, "model_server_ready", model="churn") == 1
    assert value(after, "model_server_requests_in_flight", model="churn") == 1  # the scrape
    sha = json.loads((model / "manifest.json").read_text())["model_sha256"]
    assert value(after, "model_server_model_info", model="churn", version=sha[:12],
                 sha256=sha) == 1


def test_readiness_is_false_while_the_model_loads(train_model: Any, tmp_path: Path,
                                                  serve: Any) -> None:
    """The socket is served at once (liveness), the model loads in the background: the
    first answers come while scikit-learn is still being imported and the artifact
    verified, which takes far longer than starting uvicorn."""
    server = serve(train_model(1).unpacked(tmp_path / "model"), ready=False)
    seen: list[tuple[int, int, int]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            live = server.request("GET", "/v2/health/live", timeout=2)[0]
            ready = server.request("GET", "/v2/health/ready", timeout=2)[0]
            ping = server.request("GET", "/ping", timeout=2)[0]
        except OSError:
            continue  # not accepting yet
        seen.append((live, ready, ping))
        if ready == 200:
            break
        time.sleep(0.02)
    assert seen and seen[0] == (200, 400, 503), seen[:3]
    assert seen[-1] == (200, 200, 200), seen[-3:]
    assert server.invoke([[0.0] * 30])[0] == 200


def test_a_model_that_cannot_load_ends_the_process_with_2(tmp_path: Path, serve: Any) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{}")
    (broken / "model.skops").write_bytes(b"\x80\x04pickle")
    server = serve(broken, ready=False)
    assert server.proc.wait(timeout=60) == 2
    log = server.log.read_text()
    assert "error: cannot load the model" in log and "Traceback" not in log, log


def test_sigterm_under_load_answers_every_request_in_flight(
        train_model: Any, tmp_path: Path, serve: Any, rows: list[list[float]]) -> None:
    slow = train_model(4, "latency-ms=300").unpacked(tmp_path / "slow")
    server = serve(slow, "--drain-seconds", "2", "--graceful-timeout", "20")
    removed = threading.Event()  # the endpoints controller took the pod out of the Service
    stop = threading.Event()
    results: list[tuple[float, float, Any]] = []
    readiness: list[tuple[float, int]] = []
    lock = threading.Lock()

    def prober() -> None:  # kubelet's readiness probe, every 50 ms; the endpoints update
        unready_since = None  # reaches the clients 0.5 s after the probe fails
        while not stop.is_set():
            try:
                status = server.request("GET", "/v2/health/ready", timeout=2)[0]
            except OSError:
                status = -1
            now = time.monotonic()
            readiness.append((now, status))
            if status != 200:
                unready_since = unready_since or now
                if now - unready_since >= 0.5:
                    removed.set()
            time.sleep(0.05)

    def client() -> None:  # a Service's client: sends while the pod is an endpoint
        while not removed.is_set():
            started = time.monotonic()
            try:
                outcome: Any = server.invoke([rows[0]])[0]
            except (OSError, urllib.error.URLError) as err:
                outcome = f"{type(err).__name__}: {err}"
            with lock:
                results.append((started, time.monotonic(), outcome))

    threads = [threading.Thread(target=prober)] + [threading.Thread(target=client)
                                                   for _ in range(12)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)  # load: 12 concurrent clients, 300 ms each
    sigterm = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    for thread in threads[1:]:
        thread.join(timeout=30)
    code = server.proc.wait(timeout=30)
    exited = time.monotonic()
    stop.set()
    threads[0].join(timeout=5)

    failures = [r for r in results if r[2] != 200]
    assert failures == [], f"{len(failures)} of {len(results)} requests failed: {failures[:3]}"
    in_flight = [r for r in results if r[0] < sigterm < r[1]]
    assert len(in_flight) >= 6, f"only {len(in_flight)} requests were in flight at SIGTERM"
    after = [r for r in results if r[0] > sigterm]
    assert after, "requests sent during the drain must be answered too"
    turned = next(t for t, status in readiness if t > sigterm and status != 200)
    assert turned - sigterm < 1.0, "readiness must turn false right after SIGTERM"
    assert exited - sigterm >= 2.0, "the server must keep serving for --drain-seconds"
    assert code == 0
    events = [line["event"] for line in server.log_lines()]
    assert events.index("draining") < events.index("closing") < events.index("stopped")
