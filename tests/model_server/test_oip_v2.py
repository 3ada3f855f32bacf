"""The Open Inference Protocol v2 routes of the server, as a real process over real HTTP.

The oracle is the protocol's own text: KServe's docs/predict-api/v2/required_api.md and
kserve/open-inference-protocol specification/protocol/inference_rest.md. The quoted
sentences are the ones each test checks.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from model_server.protocols import v2


@pytest.fixture(scope="module")
def rows(train_model: Any) -> list[list[float]]:
    from mlops.adapters import training

    return training.holdout_rows("breast_cancer")[:6]


@pytest.fixture(scope="module")
def expected(train_model: Any, rows: list[list[float]], tmp_path_factory: Any) -> list[Any]:
    from model_server import artifact

    model = train_model(1).unpacked(tmp_path_factory.mktemp("expected") / "model")
    return list(artifact.load_dir(model).estimator.predict(rows).tolist())


def infer_body(rows: list[list[float]], **extra: Any) -> bytes:
    tensor = {"name": "input-0", "shape": [len(rows), len(rows[0])], "datatype": "FP64",
              "data": rows}
    return json.dumps({"inputs": [tensor], **extra}).encode()


def post(server: Any, path: str, body: bytes,
         content_type: str = "application/json") -> tuple[int, Any]:
    status, _, raw = server.request("POST", path, body, {"Content-Type": content_type})
    return status, json.loads(raw)


def get(server: Any, path: str) -> tuple[int, Any]:
    status, _, raw = server.request("GET", path)
    return status, json.loads(raw) if raw else None


def test_health_routes(good_server: Any) -> None:
    # "A 200 status code indicates true and a 4xx status code indicates false."
    assert get(good_server, "/v2/health/live") == (200, {"live": True})
    assert get(good_server, "/v2/health/ready") == (200, {"ready": True})
    assert get(good_server, "/v2/models/model/ready") == (200, {"name": "model", "ready": True})
    # $metadata_server_response = {"name": $string, "version": $string, "extensions": [...]}
    status, meta = get(good_server, "/v2")
    assert status == 200 and set(meta) == {"name", "version", "extensions"}
    assert isinstance(meta["name"], str) and isinstance(meta["extensions"], list)


def test_model_metadata_shape(good_server: Any) -> None:
    status, meta = get(good_server, "/v2/models/model")
    assert status == 200
    # $metadata_model_response = {"name", "versions" #optional, "platform", "inputs", "outputs"}
    assert set(meta) == {"name", "versions", "platform", "inputs", "outputs"}
    assert meta["name"] == "model" and meta["platform"] == "sklearn_skops"
    # $metadata_tensor = {"name": $string, "datatype": $string, "shape": [$number, ...]};
    # "Variable-size dimensions are specified as -1."
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 30]}]
    assert meta["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]
    (version,) = meta["versions"]
    assert get(good_server, f"/v2/models/model/versions/{version}")[1] == meta


def test_infer_response_shape(good_server: Any, rows: list[list[float]],
                              expected: list[Any]) -> None:
    status, body = post(good_server, "/v2/models/model/infer", infer_body(rows, id="42"))
    assert status == 200, body
    # $inference_response = {"model_name", "model_version" #optional, "id", "parameters"
    # #optional, "outputs": [$response_output, ...]}; "id": "The id identifier given in
    # the request, if any."
    assert set(body) == {"model_name", "model_version", "id", "outputs"}
    assert body["model_name"] == "model" and body["id"] == "42"
    # $response_output = {"name", "shape", "datatype", "parameters" #optional, "data"}
    assert body["outputs"] == [{"name": "predict", "shape": [len(rows)], "datatype": "INT64",
                                "data": expected}]


def test_infer_accepts_flat_data_versions_and_requested_outputs(
        good_server: Any, rows: list[list[float]], expected: list[Any]) -> None:
    # "Tensor elements may be presented in their nature multi-dimensional representation,
    # or as a flattened one-dimensional representation."
    flat = {"name": "features", "shape": [2, 30], "datatype": "FP32",
            "data": [v for row in rows[:2] for v in row]}
    version = get(good_server, "/v2/models/model")[1]["versions"][0]
    status, body = post(good_server, f"/v2/models/model/versions/{version}/infer",
                        json.dumps({"inputs": [flat], "outputs": [{"name": "predict"}],
                                    "parameters": {"content_type": "np"}}).encode())
    assert status == 200, body
    assert body["outputs"][0]["data"] == expected[:2] and body["model_version"] == version
    assert "id" not in body  # no id in the request: none in the response
    one_row = {"name": "input-0", "shape": [30], "datatype": "FP64", "data": rows[0]}
    status, body = post(good_server, "/v2/models/model/infer",
                        json.dumps({"inputs": [one_row]}).encode())
    assert status == 200 and body["outputs"][0]["shape"] == [1]


BAD: list[tuple[str, bytes, str]] = [
    ("not-json", b"{nope", "not valid JSON"),
    ("not-object", b"[1, 2]", "JSON object"),
    ("no-inputs", b'{"inputs": []}', "non-empty list"),
    ("two-inputs", json.dumps({"inputs": [{}, {}]}).encode(), "one input tensor"),
    ("missing-fields", json.dumps({"inputs": [{"name": "x"}]}).encode(),
     "lacks shape, datatype, data"),
    ("bytes", json.dumps({"inputs": [{"name": "x", "shape": [1, 30], "datatype": "BYTES",
                                      "data": ["a"] * 30}]}).encode(), "is not numeric"),
    ("shape", json.dumps({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64",
                                      "data": [1, 2, 3]}]}).encode(), "expected [N, 30]"),
    ("count", json.dumps({"inputs": [{"name": "x", "shape": [2, 30], "datatype": "FP64",
                                      "data": [1.0] * 30}]}).encode(), "needs 60"),
    ("string", json.dumps({"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64",
                                       "data": ["a"] + [1.0] * 29}]}).encode(),
     "data[0]: expected a number"),
    ("output", json.dumps({"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64",
                                       "data": [1.0] * 30}],
                           "outputs": [{"name": "proba"}]}).encode(), "unknown output"),
    ("id", json.dumps({"id": 42, "inputs": []}).encode(), "id must be a string"),
]


@pytest.mark.parametrize(("case", "body", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_requests_are_400_error_objects(good_server: Any, case: str, body: bytes,
                                            message: str) -> None:
    # "A failed inference request must be indicated by an HTTP error status (typically
    # 400). The HTTP body must contain the $inference_error_response object":
    # {"error": <error message string>}
    status, answer = post(good_server, "/v2/models/model/infer", body)
    assert status == 400, answer
    assert set(answer) == {"error"} and message in answer["error"], answer
    assert get(good_server, "/v2/health/ready")[0] == 200


def test_wrong_model_version_and_media_type(good_server: Any, rows: list[list[float]]) -> None:
    status, answer = post(good_server, "/v2/models/other/infer", infer_body(rows))
    assert status == 404 and "serves 'model'" in answer["error"]
    status, answer = get(good_server, "/v2/models/model/versions/000000000000")
    assert status == 404 and "no version" in answer["error"]
    assert get(good_server, "/v2/models/other/ready")[0] == 404
    status, answer = post(good_server, "/v2/models/model/infer", infer_body(rows), "text/csv")
    assert status == 415 and "application/json" in answer["error"]


def test_model_failure_is_500_on_v2(train_model: Any, tmp_path: Path, serve: Any,
                                   rows: list[list[float]]) -> None:
    faulty = train_model(3, "error-rate=0.5").unpacked(tmp_path / "faulty")
    server = serve(faulty, "--model-name", "churn")
    codes = [post(server, "/v2/models/churn/infer", infer_body(rows[:1])) for _ in range(4)]
    assert [c for c, _ in codes].count(500) == 2, codes
    failure = next(body for code, body in codes if code == 500)
    assert set(failure) == {"error"} and failure["error"].startswith("model failed: ")
    assert get(server, "/v2/health/ready") == (200, {"ready": True})


def test_a_few_hundred_concurrent_requests_on_both_protocols(
        good_server: Any, rows: list[list[float]], expected: list[Any]) -> None:
    errors: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        row = i % len(rows)
        if i % 2:
            status, body = post(good_server, "/v2/models/model/infer", infer_body([rows[row]]))
            got = body["outputs"][0]["data"] if status == 200 else body
        else:
            status, _, raw = good_server.invoke([rows[row]])
            got = json.loads(raw)["predictions"] if status == 200 else raw
        if status != 200 or got != [expected[row]]:
            with lock:
                errors.append(f"request {i}: {status} {got!r}")

    def batched() -> tuple[float, float]:
        raw = good_server.request("GET", "/metrics")[2].decode()
        values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in raw.splitlines()
                  if line.startswith("model_server_batch_requests_")}
        return (values.get('model_server_batch_requests_count{model="model"}', 0.0),
                values.get('model_server_batch_requests_sum{model="model"}', 0.0))

    calls, answered = batched()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, range(300)))
    assert errors == []
    calls, answered = (a - b for a, b in zip(batched(), (calls, answered), strict=True))
    # Every request was answered by exactly one model call. (How many calls that took
    # depends on how fast this process's client threads send: batching itself is tested
    # deterministically in test_batching.py, and measured in bench/serve.py.)
    assert answered == 300 and 1 <= calls <= 300, (calls, answered)


def test_output_datatype_table() -> None:
    assert v2.output_datatype((0, 1)) == "INT64"
    assert v2.output_datatype((0.5, 1.0)) == "FP64"
    assert v2.output_datatype(("no", "yes")) == "BYTES"
    assert v2.output_datatype((False, True)) == "BOOL"
