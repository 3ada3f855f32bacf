"""Shared session fixtures.

`cloud`: one embedded AWS per test session (per xdist worker), started through the same
code path as `mlops cloud up`, on a free port, with its own state dir. Tests share it, so
they use unique resource names (`unique_name`) instead of resetting it; `cloud.reset()`
exists for a test that really needs an empty cloud and runs alone.
"""

from __future__ import annotations

import os
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops.adapters.terraform import prepare
from mlops.errors import MlopsError
from mlops.localcloud import control
from mlops.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# Real credentials and profiles must never reach a test talking to the embedded AWS.
_SCRUBBED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
             "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


# Fixtures that start or use the embedded AWS / Terraform: a test using one must carry the
# marker, so `make test-fast` (-m "not terraform and not cloud") really runs neither.
_NEEDS_MARK = {"cloud": {"cloud", "mlops_env", "bootstrapped", "project_env",
                         "workflow_cloud", "module_cloud"},
               "terraform": {"mlops_env", "bootstrapped", "project_env", "workflow_cloud",
                             "module_cloud"}}


SLOW_FIRST = ("workflow", "slow")  # markers of the minutes-long tests


@pytest.hookimpl(hookwrapper=True)
def pytest_collection_modifyitems(config: pytest.Config,
                                  items: list[pytest.Item]) -> Iterator[None]:
    """After every other hook: the slow tests (`workflow`, `slow`) move to the front, in
    their order otherwise, so that xdist (`--dist loadscope --no-loadscope-reorder`) starts
    their modules first and the short tests fill the other workers, instead of a slow
    module starting last and running alone."""
    yield
    _check_marks(items)
    items.sort(key=lambda item: not any(item.get_closest_marker(m) for m in SLOW_FIRST))


def _check_marks(items: list[pytest.Item]) -> None:
    unmarked = [f"{item.nodeid} uses {', '.join(sorted(used))} but is not marked {mark!r}"
                for item in items for mark, fixtures in _NEEDS_MARK.items()
                if (used := fixtures & set(getattr(item, "fixturenames", ())))
                and item.get_closest_marker(mark) is None]
    if unmarked:
        raise pytest.UsageError("tests must carry the marker of what they need:\n  "
                                + "\n  ".join(unmarked))


@dataclass(frozen=True)
class Cloud:
    endpoint: str
    port: int
    env: dict[str, str]
    terraform_ready: bool
    paths: control.CloudPaths

    def client(self, service: str, **config: Any) -> Any:
        """A boto3 client for the embedded AWS (no retries unless asked: fail loudly)."""
        import boto3
        from botocore.config import Config

        retries = config.pop("retries", {"max_attempts": 1, "mode": "standard"})
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=control.REGION,
            aws_access_key_id=control.DUMMY_ACCESS_KEY_ID,
            aws_secret_access_key=control.DUMMY_SECRET_ACCESS_KEY,
            config=Config(retries=retries, **config))

    def reset(self) -> None:
        """Empty every moto backend (POST /moto-api/reset). Not automatic: tests share."""
        request = urllib.request.Request(self.endpoint + "/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    state_dir = tmp_path_factory.mktemp("mlops-state")
    base = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    base.update({"MLOPS_ROOT": str(ROOT), "MLOPS_STATE_DIR": str(state_dir)})
    settings = Settings.from_env(base)
    paths = control.CloudPaths.under(settings.state_dir)
    info = control.start(paths, control.free_port(), base)
    env = {**base, **control.client_env(info)}
    try:
        env, terraform_ready = prepare(settings, env), True
    except MlopsError:
        terraform_ready = False
    try:
        yield Cloud(info.endpoint, info.port, env, terraform_ready, paths)
    finally:
        control.stop(paths)


@dataclass(frozen=True)
class TrainedModel:
    """A directory written by `mlops train`: model.tar.gz, metrics.json, provenance.json."""

    dir: Path
    sha256: str

    @property
    def archive(self) -> Path:
        return self.dir / "model.tar.gz"

    def unpacked(self, dest: Path) -> Path:
        """The archive unpacked into `dest`, as SageMaker leaves /opt/ml/model."""
        import tarfile

        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(self.archive) as tar:
            tar.extractall(dest, filter="data")
        return dest


@pytest.fixture(scope="session")
def train_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """train_model(seed, fault=None, data="breast_cancer") -> TrainedModel, through the real
    `mlops train` (in-process), once per distinct arguments per session."""
    import contextlib
    import io

    from mlops.cli import main

    cache: dict[tuple[int, str | None, str], TrainedModel] = {}
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env["MLOPS_ROOT"] = str(ROOT)

    def train(seed: int, fault: str | None = None, data: str = "breast_cancer") -> TrainedModel:
        key = (seed, fault, data)
        if key not in cache:
            out = tmp_path_factory.mktemp(f"model-{seed}")
            argv = ["train", "--seed", str(seed), "--out", str(out), "--data", data]
            argv += ["--fault", fault] if fault else []
            stdout, stderr = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = main(argv, env)
            assert code == 0, f"mlops {' '.join(argv)} failed:\n{stderr.getvalue()}"
            cache[key] = TrainedModel(out, stdout.getvalue().strip())
        return cache[key]

    return train


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A short lowercase name unique to this test run, valid for S3, SageMaker, Budgets."""
    stem = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:24]
    return f"{stem.strip('-')}-{uuid.uuid4().hex[:8]}"


def _children_of(pid: int) -> list[int]:
    """Hosted model servers (`mlops.localcloud.child`) whose parent is `pid`, from /proc."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"mlops.localcloud.child" in cmdline:
            found.append(int(proc.name))
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited


class Processes:
    """The embedded SageMaker's model-server processes, seen from Linux (/proc)."""

    children = staticmethod(_children_of)
    alive = staticmethod(_alive)

    @staticmethod
    def pid(cloud: Cloud) -> int:
        info = control.read_state(cloud.paths)
        assert info is not None, "the embedded AWS is not running"
        return info.pid


@pytest.fixture(scope="session")
def processes() -> Processes:
    """processes.children(pid), processes.alive(pid), processes.pid(cloud)."""
    return Processes()


def pytest_configure(config: pytest.Config) -> None:
    """pytest-terraform (the module apply tests) refuses to start any pytest run without a
    terraform binary on PATH; the pure-Python tests (make test-fast) need none. Name one:
    only the `terraform`-marked tests use it, and they say what is missing."""
    import shutil

    if not (shutil.which("terraform") or shutil.which("tofu")
            or config.getoption("dest_tf_binary", default=None)):
        config.option.dest_tf_binary = "terraform"
