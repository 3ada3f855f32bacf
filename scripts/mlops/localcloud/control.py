"""Start, stop and check the embedded AWS server process.

The one code path behind `mlops cloud up|down|status` and the pytest `cloud` fixture.
Runtime files live in `<state dir>/cloud/`: server.json (pid, port) and server.log.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import mlops
from mlops.errors import MlopsError
from mlops.localcloud.wsgi import HEALTH_PATH, HOLD_PATH

HOST = "127.0.0.1"
DEFAULT_PORT = 4566
PORT_ENV = "MLOPS_CLOUD_PORT"
REGION = "us-east-1"
# moto accepts any credentials; these are its documented dummy values, never real keys.
DUMMY_ACCESS_KEY_ID = "test"
DUMMY_SECRET_ACCESS_KEY = "test"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

Notify = Callable[[str], None]

# Servers this process started, so stop() can reap them (no zombies that look alive).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class NotRunning(MlopsError):
    exit_code = 1


@dataclass(frozen=True)
class CloudInfo:
    pid: int
    port: int
    host: str = HOST

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def as_json(self) -> dict[str, object]:
        return {"endpoint": self.endpoint, "port": self.port, "pid": self.pid}


@dataclass(frozen=True)
class CloudPaths:
    dir: Path

    @classmethod
    def under(cls, state_dir: Path) -> CloudPaths:
        return cls(state_dir / "cloud")

    @property
    def state(self) -> Path:
        return self.dir / "server.json"

    @property
    def log(self) -> Path:
        return self.dir / "server.log"


def client_env(info: CloudInfo) -> dict[str, str]:
    """What an AWS SDK, CLI or Terraform needs to talk to the embedded AWS."""
    return {
        "AWS_ENDPOINT_URL": info.endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
    }


def resolve_port(flag: int | None, env: Mapping[str, str]) -> int:
    """--port, else MLOPS_CLOUD_PORT, else 4566."""
    if flag is not None:
        return _valid_port(flag, "--port")
    raw = env.get(PORT_ENV, "")
    if not raw:
        return DEFAULT_PORT
    try:
        return _valid_port(int(raw), PORT_ENV)
    except ValueError as err:
        raise MlopsError(f"{PORT_ENV}={raw!r} is not a port number",
                         "the embedded AWS listens on the TCP port it names",
                         f"set {PORT_ENV} to a number between 1024 and 65535, or unset it") from err


def _valid_port(port: int, source: str) -> int:
    if not 1024 <= port <= 65535:
        raise MlopsError(f"{source} {port} is out of range",
                         "the embedded AWS needs an unprivileged TCP port",
                         "use a port between 1024 and 65535")
    return port


def free_port() -> int:
    """A TCP port nobody listens on right now (for tests: one server per worker)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def read_state(paths: CloudPaths) -> CloudInfo | None:
    try:
        data = json.loads(paths.state.read_text())
        return CloudInfo(pid=int(data["pid"]), port=int(data["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_state(paths: CloudPaths, info: CloudInfo) -> None:
    tmp = paths.state.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(info)) + "\n")
    tmp.replace(paths.state)


def pid_alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def answers(info: CloudInfo, timeout: float = 1.0) -> bool:
    """True when our server (same pid) answers the health check on info.port."""
    try:
        with urllib.request.urlopen(info.endpoint + HEALTH_PATH, timeout=timeout) as resp:
            return bool(json.loads(resp.read()).get("pid") == info.pid)
    except (OSError, ValueError, urllib.error.URLError):
        return False


def log_tail(paths: CloudPaths, lines: int = 8) -> str:
    try:
        kept = paths.log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(kept[-lines:])


def start(paths: CloudPaths, port: int, env: Mapping[str, str],
          notify: Notify = lambda _: None, timeout: float = START_TIMEOUT) -> CloudInfo:
    """Start the server in the background and wait until it answers."""
    _refuse_second_start(paths, notify)
    if port_in_use(port):
        raise MlopsError(
            f"port {port} on {HOST} is already in use",
            "another process listens there (another embedded AWS, LocalStack, ...)",
            f"pick another port with --port N or {PORT_ENV}=N, or stop that process")
    paths.dir.mkdir(parents=True, exist_ok=True)
    proc = _spawn(paths, port, env)
    info = CloudInfo(pid=proc.pid, port=port)
    _write_state(paths, info)
    _wait_until_up(paths, proc, info, timeout)
    return info


def _refuse_second_start(paths: CloudPaths, notify: Notify) -> None:
    existing = read_state(paths)
    if existing is None:
        return
    if pid_alive(existing.pid):
        raise MlopsError(
            f"the embedded AWS is already running at {existing.endpoint} (pid {existing.pid})",
            f"one server per state directory ({paths.dir})",
            "use it (`mlops cloud status`), or stop it first with `mlops cloud down`")
    paths.state.unlink(missing_ok=True)
    notify(f"note: removed stale {paths.state}: pid {existing.pid} is no longer running "
           f"(crashed or killed; its log is {paths.log})")


def _spawn(paths: CloudPaths, port: int, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    package_root = str(Path(mlops.__file__).resolve().parent.parent)
    child_env = {**env, "MOTO_PORT": str(port), "MLOPS_CLOUD_DIR": str(paths.dir),
                 "PYTHONPATH": os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH"))
                                               if p)}
    with paths.log.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlops.localcloud.server", "--host", HOST,
             "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=child_env, start_new_session=True)
    _CHILDREN[proc.pid] = proc
    return proc


def _wait_until_up(paths: CloudPaths, proc: subprocess.Popen[bytes], info: CloudInfo,
                   timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            paths.state.unlink(missing_ok=True)
            raise MlopsError(
                f"the embedded AWS exited while starting (exit {proc.returncode})",
                log_tail(paths), f"read {paths.log}, fix the cause and run `mlops cloud up`")
        if answers(info, timeout=0.5):
            return
        time.sleep(0.1)
    _terminate(info.pid)
    paths.state.unlink(missing_ok=True)
    raise MlopsError(f"the embedded AWS did not answer on {info.endpoint} within {timeout:.0f}s",
                     log_tail(paths), f"read {paths.log}; on a busy machine retry `mlops cloud up`")


def stop(paths: CloudPaths, notify: Notify = lambda _: None,
         timeout: float = STOP_TIMEOUT) -> CloudInfo | None:
    """Stop the server; returns what was stopped, None if nothing was running."""
    info = read_state(paths)
    if info is None:
        return None
    if not pid_alive(info.pid) or not _is_our_server(info.pid):
        paths.state.unlink(missing_ok=True)
        notify(f"note: removed stale {paths.state}: pid {info.pid} is no longer the "
               "embedded AWS")
        return None
    _terminate(info.pid, timeout)
    paths.state.unlink(missing_ok=True)
    return info


def _is_our_server(pid: int) -> bool:
    """Guard against a recycled pid: check the command line where /proc exists."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():
        return True
    try:
        return b"mlops.localcloud.server" in cmdline.read_bytes()
    except OSError:
        return True


def _terminate(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.05)
        if not pid_alive(pid):
            break
    _CHILDREN.pop(pid, None)


def status(paths: CloudPaths) -> CloudInfo:
    """The running server, or NotRunning saying why not."""
    info = read_state(paths)
    if info is None:
        raise NotRunning("the embedded AWS is not running",
                         f"no server state in {paths.dir}", "start it with `mlops cloud up`")
    if not pid_alive(info.pid):
        raise NotRunning(
            f"the embedded AWS is not running: pid {info.pid} in {paths.state} has exited",
            f"it crashed or was killed; last log lines:\n{log_tail(paths)}",
            "`mlops cloud up` clears the stale file and starts a new server")
    if not answers(info):
        raise NotRunning(
            f"pid {info.pid} is alive but the embedded AWS does not answer on {info.endpoint}",
            f"it may be hung or still starting; log: {paths.log}",
            "restart it: `mlops cloud down && mlops cloud up`")
    return info


def hold_endpoint(endpoint_url: str, endpoint_name: str, seconds: float) -> None:
    """Test knob: keep the endpoint's transitions from finishing for `seconds` (0 lifts
    the hold). Not AWS behaviour: tests use it to see an update stay `Updating`."""
    body = json.dumps({"endpoint": endpoint_name, "seconds": seconds}).encode()
    request = urllib.request.Request(endpoint_url.rstrip("/") + HOLD_PATH, data=body,
                                     method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
