"""One served env for the release, canary and rollback tests: applied once per session.

`served`: a copy of the repository whose project is renamed (`mlops-canary`, so its
resources never clash with the apply tests' `mlops-demo-dev-*` on the same embedded AWS)
and whose state lives in the bootstrapped state bucket under a key of its own; dev has
no GPU trainer. It is applied once (about a minute: the S3 lifecycle waiter), the models
v1, v2, v3 and `bad` (error-rate 0.5) are trained and pushed to its artifact bucket, and
v1 is released (`mlops release`, no token: the copy's tfvars are edited) and applied.
Tests then release, promote and roll back on it in file order, each from the state the
previous one left, through the real CLI; they share one xdist group (one worker).

Helpers, through the `tools` fixture (test modules never import this file):
`tools.watching(served)` (the endpoint's weights as SageMaker reports them, every 0.1 s:
the oracle for "every step in order"), `tools.traffic(served, rps, duration)` and
`tools.report(proc)` (`mlops traffic` as a process), `tools.wait_until(...)`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlops import context
from mlops.core import canary, release

ROOT = Path(__file__).resolve().parents[3]
PROJECT = "mlops-canary"
ENV = "dev"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-canary-dev-model-server:0.1.0"
# name -> (seed, fault): what `mlops train` builds for the tests
MODELS = {"v1": (1, None), "v2": (2, None), "v3": (4, None), "bad": (3, "error-rate=0.5")}
FAST = ("--poll", "0.5")


@dataclass
class Served:
    root: Path
    env: dict[str, str]
    run: Any  # run_mlops
    cloud: Any
    state_bucket: str
    models: dict[str, Any] = field(default_factory=dict)  # name -> TrainedModel
    uris: dict[str, str] = field(default_factory=dict)  # name -> s3 URI

    def mlops(self, *argv: str) -> Any:
        return self.run(self.env, *argv)

    @property
    def tfvars_path(self) -> Path:
        return self.root / "envs" / ENV / "terraform.tfvars"

    def serving(self) -> release.Serving:
        return release.read_serving(self.tfvars_path.read_text(), "tfvars")

    def outputs(self) -> dict[str, Any]:
        ctx = context.load(self.env)
        tf = ctx.terraform(ctx.env_root(ENV), ENV)
        return {name: out["value"] for name, out in tf.outputs().items()}

    @property
    def endpoint(self) -> str:
        return f"{PROJECT}-{ENV}-churn"

    def describe(self) -> dict[str, Any]:
        found: dict[str, Any] = self.cloud.client("sagemaker").describe_endpoint(
            EndpointName=self.endpoint)
        return found

    def shares(self) -> tuple[float, float, str]:
        """(desired canary share, current canary share, status) as SageMaker reports them."""
        found = self.describe()
        weights = {v["VariantName"]: v for v in found["ProductionVariants"]}
        if "canary" not in weights:
            return 0.0, 0.0, found["EndpointStatus"]
        desired = canary.share(weights["canary"].get("DesiredWeight", 0.0),
                               weights["stable"].get("DesiredWeight", 0.0))
        current = canary.share(weights["canary"]["CurrentWeight"],
                               weights["stable"]["CurrentWeight"])
        return round(desired, 3), round(current, 3), found["EndpointStatus"]

    def release(self, name: str, *extra: str) -> Any:
        return self.mlops("release", "--env", ENV, "--model", self.uris[name], *extra).check(0)

    def apply(self) -> None:
        self.mlops("apply", "--env", ENV, "--allow-unreviewed").check(0)

    def plan_counts(self, out: Path) -> dict[str, int]:
        self.mlops("plan", "--env", ENV, "--out", str(out)).check(0)
        counts: dict[str, int] = json.loads((out / "summary.json").read_text())["counts"]
        return counts

    def record(self) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            body = self.cloud.client("s3").get_object(
                Bucket=self.state_bucket, Key=canary.record_key(ENV))["Body"].read()
        except ClientError:
            return None
        found: dict[str, Any] = json.loads(body)
        return found

    @property
    def lock_key(self) -> str:
        return f"{self.state_key}.tflock"

    @property
    def state_key(self) -> str:
        return context.load(self.env).state_key(ENV)

    def lock(self) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            body = self.cloud.client("s3").get_object(Bucket=self.state_bucket,
                                                      Key=self.lock_key)["Body"].read()
        except ClientError:
            return None
        found: dict[str, Any] = json.loads(body)
        return found

    def predictions(self, name: str, rows: list[list[float]]) -> list[Any]:
        """The model's own predictions, loaded locally from the same artifact."""
        from model_server import artifact

        archive = self.models[name].archive.read_bytes()
        return list(artifact.load(artifact.read_archive(archive)).estimator.predict(rows)
                    .tolist())

    def copy(self, dest: Path, tfvars: str | None = None) -> dict[str, str]:
        """The served root copied to `dest` (same state key: plans against the served
        env's state), with other tfvars when given; the environment to run mlops on it."""
        import shutil

        for name in ("envs", "modules"):
            shutil.copytree(self.root / name, dest / name,
                            ignore=shutil.ignore_patterns(".terraform"))
        shutil.copy(self.root / "mlops.yaml", dest / "mlops.yaml")
        if tfvars is not None:
            (dest / "envs" / ENV / "terraform.tfvars").write_text(tfvars)
        state = dest.parent / f"{dest.name}-state"
        state.mkdir()
        return {**self.env, "MLOPS_ROOT": str(dest), "MLOPS_STATE_DIR": str(state)}

    def subprocess_env(self) -> dict[str, str]:
        return {**self.env, "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "scripts"), self.env.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


class WeightWatcher(threading.Thread):
    """Every change of the endpoint's (desired share, current share, status), as SageMaker
    reports it, polled every 0.1 s until stopped."""

    def __init__(self, served: Served) -> None:
        super().__init__(daemon=True)
        self.served = served
        self.seen: list[tuple[float, float, str]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                state = self.served.shares()
            except Exception:  # a transient error of the shared cloud: look again
                state = None
            if state is not None and (not self.seen or self.seen[-1] != state):
                self.seen.append(state)
            self.halt.wait(0.1)

    def stop(self) -> list[tuple[float, float, str]]:
        self.halt.set()
        self.join(timeout=5)
        return self.seen

    def desired(self) -> list[float]:
        """The distinct desired canary shares, in the order they appeared."""
        out: list[float] = []
        for desired, _, _ in self.seen:
            if not out or out[-1] != desired:
                out.append(desired)
        return out


@contextmanager
def watching(served: Served) -> Iterator[WeightWatcher]:
    watcher = WeightWatcher(served)
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop()


@contextmanager
def traffic(served: Served, rps: float, duration: float) -> Iterator[subprocess.Popen[str]]:
    """`mlops traffic --json` as a process; stopped with SIGTERM (it then reports) if still
    running when the block ends. Read its report with `report(proc)`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlops", "traffic", "--env", ENV, "--endpoint", served.endpoint,
         "--rps", str(rps), "--duration", str(duration), "--json"],
        env=served.subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)


def report(proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    assert out.strip(), f"mlops traffic printed no report (exit {proc.returncode}):\n{err}"
    found: dict[str, Any] = json.loads(out)
    return found


def _copy_config(text: str) -> str:
    text = text.replace("project: mlops-demo", f"project: {PROJECT}")
    # The copy keeps its state in the bucket the session's bootstrap made.
    return text.replace('bucket: "{project}-tfstate-{account_id}"',
                        'bucket: "mlops-demo-tfstate-{account_id}"')


@pytest.fixture(scope="session")
def served(bootstrapped: Any, cloud: Any, run_mlops: Any, repo_copy: Any, train_model: Any,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("served")
    root = repo_copy(base / "repo", key_prefix=f"canary-{os.getpid()}", config=_copy_config)
    for tfvars in (root / "envs").glob("*/terraform.tfvars"):
        tfvars.write_text(tfvars.read_text().replace('project = "mlops-demo"',
                                                     f'project = "{PROJECT}"'))
    dev = root / "envs" / ENV / "terraform.tfvars"
    text = dev.read_text()
    assert "trainer = {\n  enabled       = true" in text, "dev's trainer block changed shape"
    dev.write_text(text.replace("trainer = {\n  enabled       = true",
                                "trainer = {\n  enabled       = false", 1))
    env = {**bootstrapped.env, "MLOPS_ROOT": str(root),
           "MLOPS_STATE_DIR": str(tmp_path_factory.mktemp("served-state"))}
    found = Served(root, env, run_mlops, cloud, bootstrapped.state_bucket)
    found.apply()
    bucket = f"{PROJECT}-{ENV}-artifacts"
    for name, (seed, fault) in MODELS.items():
        found.models[name] = train_model(seed, fault)
        pushed = found.mlops("artifact", "push", str(found.models[name].dir), "--env", ENV,
                             "--bucket", bucket).check(0)
        found.uris[name] = pushed.stdout.strip()
    found.release("v1", "--image", IMAGE)
    found.apply()
    try:
        yield found
    finally:
        # The model servers go with the endpoint; the rest goes with the worker's cloud.
        try:
            cloud.client("sagemaker").delete_endpoint(EndpointName=found.endpoint)
        except Exception as err:  # already gone, or the cloud is down: nothing to stop
            print(f"served teardown: {err}", file=sys.stderr)


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass(frozen=True)
class Tools:
    watching: Any
    traffic: Any
    report: Any
    wait_until: Any


@pytest.fixture(scope="session")
def tools() -> Tools:
    return Tools(watching, traffic, report, wait_until)
