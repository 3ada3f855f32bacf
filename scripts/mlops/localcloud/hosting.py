"""Hosting for the embedded SageMaker: each production variant of an endpoint is served
by the project's inference server (`model_server serve`) as a local process, on the
variant's model artifact, unpacked the way SageMaker unpacks model.tar.gz into
/opt/ml/model.

A *fleet* is the set of variant processes of one EndpointConfig on one endpoint.
CreateEndpoint starts a fleet; UpdateEndpoint starts a second one beside it (SageMaker's
blue/green) and the old one stops when the new one takes over; DeleteEndpoint, a reset
and the cloud's shutdown stop them.

No orphans: the children are started from one long-lived thread with
PR_SET_PDEATHSIG=SIGKILL (Linux; see child.py), so even a SIGKILLed cloud takes its
variant processes with it. (The signal fires when the *thread* that forked the child
exits, which is why werkzeug's short-lived request threads must not start them.)

Each variant listens on a socket this process binds and hands over (`--fd`), so no other
process can take the port between choosing and binding it. Logs go to
`<cloud dir>/hosting/<endpoint>/<config>/<variant>.log`.
"""

from __future__ import annotations

import io
import os
import queue
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# SageMaker: "Your container must respond to ping requests within 4 minutes of start".
PING_DEADLINE = 240.0
STOP_GRACE = 10.0
DIR_ENV = "MLOPS_CLOUD_DIR"


class Spawner:
    """Starts every child from one long-lived daemon thread (see the module docstring)."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[tuple[list[str], dict[str, Any],
                                     Future[subprocess.Popen[bytes]]]] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="mlops-hosting-spawner",
                                       daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            argv, kwargs, future = self.jobs.get()
            try:
                future.set_result(subprocess.Popen(argv, **kwargs))
            except Exception as err:  # reported to the caller
                future.set_exception(err)

    def spawn(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        future: Future[subprocess.Popen[bytes]] = Future()
        self.jobs.put((argv, kwargs, future))
        return future.result(timeout=30)


@dataclass
class Variant:
    name: str
    model_dir: Path
    log: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    failure: str | None = None  # why it cannot serve (download, unpack, exit)
    ready: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        kept = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    errors = [line for line in kept if line.startswith("error:")]
    return " ".join((errors or kept)[-lines:])[:600]


@dataclass
class Fleet:
    """The variant processes of one EndpointConfig on one endpoint."""

    endpoint: str
    config: str
    variants: dict[str, Variant]
    started: float = field(default_factory=time.monotonic)

    def failure(self) -> str | None:
        """The FailureReason SageMaker would give, once a variant cannot serve."""
        for variant in self.variants.values():
            if variant.failure is None and variant.proc is not None and not variant.ready:
                code = variant.proc.poll()
                if code is not None:
                    variant.failure = (
                        f"The primary container for production variant {variant.name} did not "
                        "pass the ping health check. Please check CloudWatch logs for this "
                        f"endpoint. (embedded AWS: the model server exited {code}: "
                        f"{_log_tail(variant.log)}; log: {variant.log})")
            if variant.failure:
                return variant.failure
        if time.monotonic() - self.started > PING_DEADLINE and not self.is_ready():
            return (f"The primary container for production variant "
                    f"{next(v.name for v in self.variants.values() if not v.ready)} did not "
                    "pass the ping health check within 4 minutes. Please check CloudWatch "
                    "logs for this endpoint.")
        return None

    def is_ready(self) -> bool:
        """True once every variant answers GET /ping with 200."""
        for variant in self.variants.values():
            if variant.ready:
                continue
            if variant.proc is None or variant.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(variant.url + "/ping", timeout=0.2) as resp:
                    variant.ready = resp.status == 200
            except (OSError, urllib.error.URLError):
                return False
            if not variant.ready:
                return False
        return True

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM (the server drains in-flight requests), SIGKILL after `grace`."""
        procs = [v.proc for v in self.variants.values() if v.proc and v.proc.poll() is None]
        for proc in procs:
            proc.terminate()
        deadline = time.monotonic() + grace
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


Fetch = Callable[[str], bytes]  # s3://bucket/key -> bytes (raises KeyError when missing)


class Hosting:
    """Fleets by (account, region, endpoint name); the one registry per cloud process."""

    def __init__(self, work_dir: Path | None = None) -> None:
        base = work_dir or Path(os.environ.get(DIR_ENV) or tempfile.gettempdir())
        self.root = base / "hosting" / f"pid-{os.getpid()}"
        self.lock = threading.RLock()
        self.fleets: dict[tuple[str, str, str], list[Fleet]] = {}
        self._spawner: Spawner | None = None

    @property
    def spawner(self) -> Spawner:
        if self._spawner is None:
            self._spawner = Spawner()
        return self._spawner

    def start(self, key: tuple[str, str, str], config: str,
              models: dict[str, str], fetch: Fetch) -> Fleet:
        """Start a fleet: `models` maps variant name -> ModelDataUrl. Download and unpack
        failures are recorded on the variant (the endpoint then fails), never raised."""
        endpoint = key[2]
        base = self.root / endpoint / f"{config}-{time.monotonic_ns()}"
        variants: dict[str, Variant] = {}
        for name, url in models.items():
            variant = Variant(name, base / name / "model", base / f"{name}.log")
            variants[name] = variant
            variant.model_dir.mkdir(parents=True, exist_ok=True)
            variant.failure = self._unpack(name, url, fetch, variant.model_dir)
            if variant.failure is None:
                self._launch(variant)
        fleet = Fleet(endpoint, config, variants)
        with self.lock:
            self.fleets.setdefault(key, []).append(fleet)
        return fleet

    @staticmethod
    def _unpack(variant: str, url: str, fetch: Fetch, dest: Path) -> str | None:
        """SageMaker's download-and-extract step; a FailureReason when it fails."""
        if not url:
            return (f"embedded AWS: the model of production variant {variant} has no "
                    "ModelDataUrl. The embedded SageMaker does not run container images; it "
                    "serves model artifacts (model.tar.gz from `mlops train`) with the "
                    "project's model server.")
        try:
            data = fetch(url)
        except KeyError:
            return (f'Failed to download model data for container "container_1" from URL: '
                    f'"{url}". Please ensure that there is an object located at the URL and '
                    "that the role passed to CreateModel has permissions to download the "
                    "model.")
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
                tar.extractall(dest, filter="data")
        except (tarfile.TarError, OSError, EOFError) as err:
            return (f"Failed to extract model data archive from URL \"{url}\" for production "
                    f"variant {variant}. Please ensure that the object located at the URL is "
                    f"a valid tar.gz archive. (embedded AWS: {type(err).__name__}: {err})")
        return None

    def _launch(self, variant: Variant) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        variant.port = int(sock.getsockname()[1])
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            env.pop(name, None)  # a network-isolated container has no credentials
        try:
            with variant.log.open("ab") as log:
                variant.proc = self.spawner.spawn(
                    [sys.executable, "-m", "mlops.localcloud.child", str(os.getpid()), "serve",
                     "--model-dir", str(variant.model_dir), "--fd", str(sock.fileno()),
                     "--graceful-timeout", str(STOP_GRACE - 1)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                    pass_fds=(sock.fileno(),))
        except Exception as err:
            variant.failure = f"embedded AWS: could not start the model server: {err}"
        finally:
            sock.close()

    def active(self, key: tuple[str, str, str]) -> list[Fleet]:
        with self.lock:
            return list(self.fleets.get(key, []))

    def retire(self, key: tuple[str, str, str], keep: Fleet | None) -> None:
        """Stop every fleet of the endpoint except `keep`."""
        with self.lock:
            fleets = self.fleets.get(key, [])
            gone = [f for f in fleets if f is not keep]
            if keep is None:
                self.fleets.pop(key, None)
            else:
                self.fleets[key] = [keep]
        for fleet in gone:
            self._dispose(fleet)

    def discard(self, key: tuple[str, str, str], fleet: Fleet) -> None:
        """Stop one fleet (a failed update), keeping the others."""
        with self.lock:
            fleets = self.fleets.get(key, [])
            if fleet in fleets:
                fleets.remove(fleet)
        self._dispose(fleet)

    def _dispose(self, fleet: Fleet) -> None:
        fleet.stop()
        for variant in fleet.variants.values():  # keep the logs, drop the unpacked models
            shutil.rmtree(variant.model_dir, ignore_errors=True)

    def stop_backend(self, account: str, region: str) -> None:
        with self.lock:
            keys = [k for k in self.fleets if k[0] == account and k[1] == region]
        for key in keys:
            self.retire(key, None)

    def shutdown(self) -> None:
        with self.lock:
            keys = list(self.fleets)
        for key in keys:
            self.retire(key, None)
