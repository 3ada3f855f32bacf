"""The model server as a real process: `python -m model_server serve` on a socket the
test binds (handed over with --fd, as the embedded AWS does) or on a --port."""

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None,
                timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def invoke(self, body: Any, content_type: str = "application/json",
               accept: str | None = None) -> tuple[int, dict[str, str], bytes]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": content_type}
        if accept:
            headers["Accept"] = accept
        return self.request("POST", "/invocations", raw, headers)

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()
                if line.startswith("{")]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


def wait_ready(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(f"model server exited {server.proc.returncode}:\n"
                                 f"{server.log.read_text()}")
        try:
            if server.request("GET", "/ping", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"model server did not answer /ping in {timeout}s:\n"
                         f"{server.log.read_text()}")


def start(model_dir: Path, log: Path, *extra: str, use_fd: bool = True) -> Server:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        if use_fd:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
            port = sock.getsockname()[1]
            proc = subprocess.Popen(
                [sys.executable, "-m", "model_server", "serve", "--model-dir", str(model_dir),
                 "--fd", str(sock.fileno()), *extra],
                stdout=out, stderr=subprocess.STDOUT, env=env, pass_fds=(sock.fileno(),))
            sock.close()
        else:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            proc = subprocess.Popen(
                [sys.executable, "-m", "model_server", "serve", "--model-dir", str(model_dir),
                 "--host", "127.0.0.1", "--port", str(port), *extra],
                stdout=out, stderr=subprocess.STDOUT, env=env)
    return Server(proc, port, log)


@pytest.fixture(scope="module")
def good_server(train_model: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server on the seed-1 model, shared by the tests that leave it running."""
    work = tmp_path_factory.mktemp("good-server")
    server = start(train_model(1).unpacked(work / "model"), work / "server.log")
    try:
        wait_ready(server)
        yield server
    finally:
        server.stop()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """serve(model_dir, *args, use_fd=True) -> a ready Server; stopped after the test."""
    started: list[Server] = []

    def run(model_dir: Path, *extra: str, use_fd: bool = True, ready: bool = True) -> Server:
        server = start(model_dir, tmp_path / f"server-{len(started)}.log", *extra,
                       use_fd=use_fd)
        started.append(server)
        if ready:
            wait_ready(server)
        return server

    yield run
    for server in started:
        server.stop()
