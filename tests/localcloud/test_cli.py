"""`mlops cloud up|status|down` through the real CLI entry point and a real server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mlops.cli import main
from mlops.errors import MlopsError
from mlops.localcloud import control

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.cloud  # starts real embedded AWS servers


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MLOPS_ROOT": str(ROOT), "MLOPS_STATE_DIR": str(tmp_path)}


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def _write_stale_state(env: dict[str, str], port: int) -> Path:
    state = Path(env["MLOPS_STATE_DIR"]) / "cloud" / "server.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"pid": _dead_pid(), "port": port}))
    return state


def test_up_status_down(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    port = control.free_port()
    _write_stale_state(env, port)
    try:
        assert main(["cloud", "up", "--port", str(port)], env) == 0
        out, err = capsys.readouterr()
        assert "stale" in err
        assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in out
        assert "export AWS_ACCESS_KEY_ID=test" in out and "dummy credentials" in out

        assert main(["cloud", "status", "--json"], env) == 0
        status = json.loads(capsys.readouterr().out)
        assert status["endpoint"] == f"http://127.0.0.1:{port}" and status["port"] == port

        assert main(["cloud", "up", "--port", str(control.free_port())], env) == 2
        assert "already running" in capsys.readouterr().err
    finally:
        assert main(["cloud", "down"], env) == 0
    assert "stopped" in capsys.readouterr().err
    assert main(["cloud", "status"], env) == 1
    assert "not running" in capsys.readouterr().err


def test_busy_port_is_refused(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["cloud", "up", "--port", str(port)], env) == 2
    err = capsys.readouterr().err
    assert f"port {port}" in err and "--port" in err
    assert not (Path(env["MLOPS_STATE_DIR"]) / "cloud" / "server.json").exists()


def test_stale_pid_file(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    state = _write_stale_state(env, control.free_port())
    assert main(["cloud", "status"], env) == 1
    err = capsys.readouterr().err
    assert "has exited" in err and "mlops cloud up" in err
    assert main(["cloud", "down"], env) == 0
    assert "stale" in capsys.readouterr().err
    assert not state.exists()


@pytest.mark.parametrize(("flag", "environ", "expected"), [
    (None, {}, 4566),
    (None, {"MLOPS_CLOUD_PORT": "5001"}, 5001),
    (5002, {"MLOPS_CLOUD_PORT": "5001"}, 5002),
])
def test_port_resolution(flag: int | None, environ: dict[str, str], expected: int) -> None:
    assert control.resolve_port(flag, environ) == expected


@pytest.mark.parametrize(("flag", "environ"), [
    (None, {"MLOPS_CLOUD_PORT": "http"}),
    (None, {"MLOPS_CLOUD_PORT": "80"}),
    (70000, {}),
])
def test_bad_port_is_explained(flag: int | None, environ: dict[str, str]) -> None:
    with pytest.raises(MlopsError) as excinfo:
        control.resolve_port(flag, environ)
    assert excinfo.value.fix
