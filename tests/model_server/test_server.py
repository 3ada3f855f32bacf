"""The inference server as a real process over real HTTP: SageMaker's contract, bad
requests, a failing model, structured logs, and SIGTERM while requests are in flight."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from model_server import predictor


@pytest.fixture(scope="module")
def rows(train_model: Any) -> list[list[float]]:
    from mlops.adapters import training

    return training.holdout_rows("breast_cancer")[:5]


@pytest.fixture
def good(train_model: Any, tmp_path: Path) -> Path:
    model_dir: Path = train_model(1).unpacked(tmp_path / "model")
    return model_dir


def test_ping_and_invocations_json_and_csv(good: Path, good_server: Any,
                                           rows: list[list[float]]) -> None:
    from model_server import artifact

    server = good_server
    status, _, body = server.request("GET", "/ping")
    assert status == 200 and json.loads(body)["status"] == "ok"

    expected = artifact.load_dir(good).estimator.predict(rows).tolist()
    status, headers, body = server.invoke({"instances": rows})
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"predictions": expected}
    assert json.loads(server.invoke(rows[0])[2]) == {"predictions": expected[:1]}

    csv = "".join(",".join(repr(v) for v in row) + "\n" for row in rows).encode()
    status, headers, body = server.invoke(csv, "text/csv", accept="text/csv")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert body.decode().split() == [str(p) for p in expected]


def test_serves_on_a_port_too(good: Path, serve: Any, rows: list[list[float]]) -> None:
    server = serve(good, use_fd=False)
    assert server.invoke([rows[0]])[0] == 200


@pytest.mark.parametrize(("body", "content_type", "accept", "status", "message"), [
    (b"{not json", "application/json", None, 400, "not valid JSON"),
    (b'{"inputs": [[1]]}', "application/json", None, 400, '{"instances": [[...], ...]}'),
    (b'[[1, 2, 3]]', "application/json", None, 400, "has 3 features; this model takes 30"),
    (b'[["a"] ]', "application/json", None, 400, "expected a number"),
    (b'[[1e999]]', "application/json", None, 400, "not a finite number"),
    (b"[]", "application/json", None, 400, "no rows"),
    (b"1,2,x\n", "text/csv", None, 400, "'x' is not a number"),
    (b"\xff\xfe", "text/csv", None, 400, "not UTF-8"),
    (b"1,2", "image/png", None, 415, "not supported"),
    (b"[[1]]", "application/json", "application/xml", 406, "cannot answer in"),
], ids=["bad-json", "wrong-key", "wrong-width", "string", "infinite", "empty", "csv-text",
        "csv-binary", "media-type", "accept"])
def test_bad_requests_get_4xx_with_a_message(good_server: Any, body: bytes,
                                             content_type: str, accept: str | None,
                                             status: int, message: str) -> None:
    server = good_server
    found, _, raw = server.invoke(body, content_type, accept)
    assert found == status, f"expected {status}, found {found}: {raw!r}"
    assert message in json.loads(raw)["error"], raw
    assert server.request("GET", "/ping")[0] == 200, "the server must survive a bad request"


def test_oversized_body_is_413_and_the_server_lives(good_server: Any) -> None:
    server = good_server
    status, _, raw = server.invoke(b"1," * (predictor.MAX_BODY_BYTES // 2 + 10), "text/csv")
    assert status == 413 and "larger than" in json.loads(raw)["error"]
    assert server.request("GET", "/ping")[0] == 200


def test_garbage_on_the_socket_does_not_kill_the_server(good_server: Any) -> None:
    server = good_server
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"\x00\x01NOT HTTP AT ALL\r\n\r\n")
        sock.recv(1024)
    assert server.request("GET", "/ping")[0] == 200


def test_model_failure_is_500_with_a_message(train_model: Any, tmp_path: Path, serve: Any,
                                            rows: list[list[float]]) -> None:
    faulty = train_model(3, "error-rate=0.5").unpacked(tmp_path / "faulty")
    server = serve(faulty)
    statuses = [server.invoke([rows[0]]) for _ in range(10)]
    codes = [s for s, _, _ in statuses]
    assert codes.count(500) == 5 and codes.count(200) == 5, codes
    failure = next(json.loads(b) for s, _, b in statuses if s == 500)
    assert failure["error"].startswith("model failed: InjectedFault: injected fault"), failure
    assert server.request("GET", "/ping")[0] == 200


def test_one_json_log_line_per_request(good: Path, serve: Any, rows: list[list[float]]) -> None:
    server = serve(good)
    server.invoke([rows[0]])
    server.invoke(b"nope", "application/json")
    server.stop()
    lines = server.log_lines()
    requests = [line for line in lines if line["event"] == "request"]
    invocations = [line for line in requests if line["path"] == "/invocations"]
    assert [line["status"] for line in invocations] == [200, 400], invocations
    assert invocations[0]["rows"] == 1 and invocations[0]["duration_ms"] > 0
    assert "not valid JSON" in invocations[1]["error"]
    assert {"serving", "stopped"} <= {line["event"] for line in lines}
    assert all(set(line) >= {"time", "event"} for line in lines)


def test_sigterm_finishes_in_flight_requests_then_exits(train_model: Any, tmp_path: Path,
                                                        serve: Any,
                                                        rows: list[list[float]]) -> None:
    slow = train_model(4, "latency-ms=1500").unpacked(tmp_path / "slow")
    server = serve(slow)
    results: list[int] = []

    def call() -> None:
        results.append(server.invoke([rows[0]], accept="application/json")[0])

    callers = [threading.Thread(target=call) for _ in range(3)]
    for caller in callers:
        caller.start()
    time.sleep(0.5)  # all three are inside the model's 1.5 s now
    server.proc.send_signal(__import__("signal").SIGTERM)
    for caller in callers:
        caller.join(timeout=30)
    assert results == [200, 200, 200], f"in-flight requests after SIGTERM: {results}"
    assert server.proc.wait(timeout=30) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_missing_model_dir_exits_2_with_a_message(tmp_path: Path, serve: Any) -> None:
    server = serve(tmp_path / "nothing-here", ready=False)
    assert server.proc.wait(timeout=60) == 2
    log = server.log.read_text()
    assert "error: cannot load the model" in log and "does not exist" in log, log
    assert "Traceback" not in log


def test_media_types_and_accept_table() -> None:
    assert predictor.media_type("Application/JSON; charset=utf-8") == "application/json"
    assert predictor.response_type(None) == "application/json"
    assert predictor.response_type("text/csv, application/json") == "text/csv"
    assert predictor.response_type("*/*") == "application/json"
    with pytest.raises(predictor.RequestError):
        predictor.response_type("image/png")
