"""`mlops serve --model PATH|S3-URI`: the model server run locally, as a real process on a
free port; S3 URIs against the embedded S3 (download, sha256 against the URI, unpack)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.cli import main

ROOT = Path(__file__).resolve().parents[2]


def call(url: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


@contextlib.contextmanager
def served(model: str, tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    environ = {**os.environ, **(env or {}), "MLOPS_ROOT": str(ROOT),
               "MLOPS_STATE_DIR": str(tmp_path / "state"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mlops", "serve", "--model", model,
                             "--port", "0", "--model-name", "churn"], env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), (url, proc.stderr.read() if proc.stderr
                                                     else "")
        deadline = time.monotonic() + 60
        while call(url, "/v2/health/ready")[0] != 200:
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def predictions(url: str, rows: list[list[float]]) -> tuple[list[Any], list[Any]]:
    status, sagemaker = call(url, "/invocations", {"instances": rows})
    assert status == 200, sagemaker
    tensor = {"name": "input-0", "shape": [len(rows), len(rows[0])], "datatype": "FP64",
              "data": rows}
    status, v2 = call(url, "/v2/models/churn/infer", {"inputs": [tensor]})
    assert status == 200, v2
    return sagemaker["predictions"], v2["outputs"][0]["data"]


@pytest.fixture(scope="module")
def rows() -> list[list[float]]:
    from mlops.adapters import training

    return training.holdout_rows("breast_cancer")[:4]


def expected(model_dir: Path, rows: list[list[float]]) -> list[Any]:
    from model_server import artifact

    return list(artifact.load_dir(model_dir).estimator.predict(rows).tolist())


def test_serve_a_trained_model_on_both_protocols(train_model: Any, tmp_path: Path,
                                                 rows: list[list[float]]) -> None:
    model = train_model(1)
    want = expected(model.unpacked(tmp_path / "check"), rows)
    with served(str(model.dir), tmp_path) as url:
        assert predictions(url, rows) == (want, want)
        assert call(url, "/v2/models/churn")[1]["name"] == "churn"
    unpacked = tmp_path / "state" / "serve" / model.sha256
    assert sorted(p.name for p in unpacked.iterdir()) == ["manifest.json", "model.skops"]


@pytest.mark.cloud
def test_serve_an_s3_artifact_from_the_embedded_s3(cloud: Any, unique_name: str,
                                                   train_model: Any, tmp_path: Path,
                                                   rows: list[list[float]]) -> None:
    model = train_model(2)
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=unique_name)
    key = f"models/{model.sha256}/model.tar.gz"
    s3.put_object(Bucket=unique_name, Key=key, Body=model.archive.read_bytes())
    want = expected(model.unpacked(tmp_path / "check"), rows)
    with served(f"s3://{unique_name}/{key}", tmp_path, cloud.env) as url:
        assert predictions(url, rows) == (want, want)


def run(argv: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    environ = {**(env or {}), "MLOPS_ROOT": str(ROOT), "MLOPS_STATE_DIR": str(tmp_path)}
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv, environ)
    return code, err.getvalue()


@pytest.mark.cloud
def test_a_tampered_s3_artifact_never_serves(cloud: Any, unique_name: str, train_model: Any,
                                            tmp_path: Path) -> None:
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=unique_name)
    key = f"models/{train_model(1).sha256}/model.tar.gz"  # seed 1's address ...
    s3.put_object(Bucket=unique_name, Key=key, Body=train_model(2).archive.read_bytes())
    code, err = run(["serve", "--model", f"s3://{unique_name}/{key}"], tmp_path, cloud.env)
    assert code == 2, err  # ... holding seed 2's bytes
    assert "refusing to serve this model" in err and "is not the artifact that was released" in err
    missing = f"s3://{unique_name}/models/{'0' * 64}/model.tar.gz"
    code, err = run(["serve", "--model", missing], tmp_path, cloud.env)
    assert code == 2 and "does not exist" in err
    assert not (tmp_path / "serve" / train_model(1).sha256).exists()


@pytest.mark.parametrize(("model", "message"), [
    ("/nowhere/at/all", "no model at /nowhere/at/all"),
    ("s3://bucket/model.tar.gz", "is not a content-addressed artifact URI"),
])
def test_bad_models_are_clear_errors(tmp_path: Path, model: str, message: str) -> None:
    code, err = run(["serve", "--model", model], tmp_path)
    assert code == 2 and message in err and "Traceback" not in err, err


def test_a_port_in_use_is_a_clear_error(train_model: Any, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, err = run(["serve", "--model", str(train_model(1).dir), "--port", str(port)],
                        tmp_path)
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err, err
