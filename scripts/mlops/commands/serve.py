"""`mlops serve --model PATH|S3-URI [--port N]`: the model server, locally.

    mlops serve --model build/v1                                   # `mlops train --out` dir
    mlops serve --model build/v1/model.tar.gz
    mlops serve --model /path/to/unpacked                          # manifest.json + model.skops
    mlops serve --model s3://<bucket>/models/<sha256>/model.tar.gz --port 8080

An S3 URI is downloaded through the CLI's S3 adapter (AWS_ENDPOINT_URL selects the
embedded AWS), checked against the sha256 in its key, verified with the server's own
checks and unpacked into the state dir; then the same server that SageMaker and the
Kubernetes pods run serves it on 127.0.0.1 (`--host` to change) with every protocol:
SageMaker's `/ping` + `/invocations`, the Open Inference Protocol v2 under `/v2`, and
`/metrics`. stdout: the base URL first, then the server's JSON log; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops import argtypes, ui
from mlops.core import model as spec
from mlops.errors import MlopsError
from mlops.settings import Settings

ARCHIVE = "model.tar.gz"


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "serve", help="run the model server locally on a model dir, archive or S3 URI",
        description="Serve a model with the inference server (SageMaker and OIP v2 routes, "
                    "/metrics). Prints the base URL on stdout, then the server's log.")
    parser.add_argument("--model", required=True, metavar="PATH|S3_URI",
                        help="a `mlops train --out` dir, a model.tar.gz, an unpacked model "
                             "dir, or s3://<bucket>/models/<sha256>/model.tar.gz")
    parser.add_argument("--port", type=argtypes.non_negative_int, default=8080,
                        help="TCP port (default 8080; 0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface (default 127.0.0.1: this machine only)")
    parser.add_argument("--model-name", default="model",
                        help="the model's name in the /v2/models/{name} routes (default model)")
    parser.set_defaults(func=run)


def _server_package() -> Any:
    try:
        from model_server import artifact
    except ImportError as err:
        raise MlopsError("the model_server package is not installed",
                         "`mlops serve` runs the repository's inference server",
                         "pip install -e scripts/model_server (or `make setup`)") from err
    return artifact


def unpack_archive(archive: bytes, expected_sha256: str, cache: Path) -> Path:
    """Verified and unpacked into cache/<sha256>/ (reused when already there)."""
    artifact = _server_package()
    target = cache / expected_sha256
    if (target / "manifest.json").is_file() and (target / "model.skops").is_file():
        return target
    staging = cache / f".{expected_sha256}.partial"
    if staging.exists():
        for leftover in staging.iterdir():
            leftover.chmod(0o644)
            leftover.unlink()
        staging.rmdir()
    try:
        artifact.unpack_verified(archive, expected_sha256, staging)
    except artifact.ArtifactError as err:
        raise MlopsError("refusing to serve this model", str(err),
                         "serve only what `mlops train` wrote and `mlops artifact push` "
                         "published") from err
    staging.rename(target)  # complete or absent: never half a model
    return target


def resolve_model(source: str, env: Mapping[str, str], cache: Path) -> tuple[Path, str]:
    """(unpacked model dir, a description of what it is) for --model."""
    artifact = _server_package()
    if source.startswith("s3://"):
        try:
            ref = spec.parse_artifact_uri(source)
        except ValueError as err:
            raise MlopsError(f"cannot serve {source}", str(err),
                             "pass the URI `mlops artifact push` printed, or a local path") from err
        from mlops.adapters.s3 import S3

        ui.step(f"serve: downloading {ref.uri}")
        archive = S3(env).read(ref.bucket, ref.key)
        return unpack_archive(archive, ref.sha256, cache), f"{ref.uri}"
    path = Path(source)
    if path.is_dir() and (path / "manifest.json").is_file():
        return path, f"{path} (unpacked)"
    if path.is_dir() and (path / ARCHIVE).is_file():
        path = path / ARCHIVE
    if path.is_file():
        archive = path.read_bytes()
        return unpack_archive(archive, artifact.sha256(archive), cache), str(path)
    raise MlopsError(f"no model at {source}",
                     "--model takes a `mlops train --out` dir, a model.tar.gz, an unpacked "
                     "model dir (manifest.json + model.skops) or an S3 artifact URI",
                     f"train one first: mlops train --seed 1 --out {source}")


def bind(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise MlopsError(f"--port {port} is not a TCP port number", "", "use 1-65535, or 0")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise MlopsError(f"cannot listen on {host}:{port}", err.strerror or str(err),
                         "pick another --port (0 picks a free one), or stop what uses it") from err
    sock.listen(128)
    return sock


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = Settings.from_env(env)
    model_dir, what = resolve_model(args.model, env, settings.state_dir / "serve")
    sock = bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    ui.step(f"serve: {what} on {url}")
    ui.info(f"SageMaker: {url}/ping, {url}/invocations")
    ui.info(f"OIP v2:    {url}/v2/health/ready, {url}/v2/models/{args.model_name}/infer")
    ui.info(f"metrics:   {url}/metrics   (Ctrl-C stops the server)")
    print(url, flush=True)
    from model_server.cli import main as server_main

    # The server takes the listening socket over (its fd); nothing here closes it twice.
    code = server_main(["serve", "--model-dir", str(model_dir), "--fd", str(sock.detach()),
                        "--model-name", args.model_name], env)
    if code != 0:
        raise MlopsError(f"the model server exited {code}", "see its error above",
                         "check the model with `mlops artifact push` (it verifies archives)")
    return 0


def demo_serve(settings: Settings, env: Mapping[str, str]) -> list[str]:
    """The demo's story: train the model, serve it with `mlops serve` (a real process on a
    free port) and get one prediction on the SageMaker route and one on the OIP v2 route.
    Returns a short excerpt (lines); MlopsError when any step fails."""
    import json
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from mlops.adapters import training

    work = settings.state_dir / "demo" / "serve"
    work.mkdir(parents=True, exist_ok=True)
    environ = {**env, "MLOPS_ROOT": str(settings.root), "MLOPS_STATE_DIR": str(settings.state_dir)}
    model = work / "model"
    if not (model / ARCHIVE).is_file():
        trained = subprocess.run([sys.executable, "-m", "mlops", "train", "--seed", "1", "--out",
                                  str(model)], env=environ, capture_output=True, text=True,
                                 check=False)
        if trained.returncode != 0:
            raise MlopsError("the demo could not train its model", trained.stderr.strip()[-500:],
                             "run `mlops train --seed 1 --out DIR` to see why")
    log = (work / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "mlops", "serve", "--model", str(model),
                             "--port", "0", "--model-name", "churn"], env=environ,
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise MlopsError("`mlops serve` did not start", f"see {work / 'server.log'}",
                             "run `mlops serve --model DIR` by hand to see why")
        row = training.holdout_rows("breast_cancer")[0]

        def post(path: str, body: Any) -> Any:
            request = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as resp:
                return json.loads(resp.read())

        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/v2/health/ready", timeout=2):
                    break
            except OSError as err:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise MlopsError("the model server never became ready", str(err),
                                     f"see {work / 'server.log'}") from err
                time.sleep(0.1)
        sagemaker = post("/invocations", {"instances": [row]})["predictions"]
        v2 = post("/v2/models/churn/infer", {"inputs": [{
            "name": "input-0", "shape": [1, len(row)], "datatype": "FP64", "data": row}]})
        if sagemaker != v2["outputs"][0]["data"]:
            raise MlopsError("the two routes disagree", f"{sagemaker} vs {v2}",
                             "both call the same Predictor: this is a bug")
        return [f"SageMaker route: POST {url}/invocations -> {json.dumps(sagemaker)}",
                f"OIP v2 route: POST /v2/models/churn/infer -> "
                f"{json.dumps(v2['outputs'][0]['data'])} (model version {v2['model_version']})"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
