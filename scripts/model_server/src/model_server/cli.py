"""`model-server serve`: SageMaker's container entrypoint (`docker run IMAGE serve`).

    model-server serve [--model-dir DIR] [--host H] [--port N | --fd N]
                       [--graceful-timeout S] [--protocol sagemaker]

Defaults follow SageMaker: the model directory is $SM_MODEL_DIR or /opt/ml/model, the
port $SAGEMAKER_BIND_TO_PORT or 8080, on all interfaces. `--fd` serves on a listening
socket inherited from the parent (socket activation; the embedded AWS uses it so that no
port can be taken between choosing and binding it).

The model is loaded and verified before the socket is served, so `/ping` answers only
when the model can predict; an artifact that cannot be loaded ends the process with
exit 2 and `error: ...` on stderr (SageMaker then fails the endpoint). SIGTERM stops
accepting connections, lets in-flight requests finish (at most --graceful-timeout
seconds; SageMaker sends SIGKILL 30 s after SIGTERM), then exits 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from model_server import __version__, logs
from model_server.artifact import ArtifactError, load_dir
from model_server.protocols import PROTOCOLS

DEFAULT_MODEL_DIR = "/opt/ml/model"
DEFAULT_PORT = 8080


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="model-server",
                                     description="Serve an mlops model artifact over HTTP.")
    parser.add_argument("--version", action="version", version=f"model-server {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve = sub.add_parser("serve", help="serve the model (SageMaker's container entrypoint)")
    serve.add_argument("--model-dir", type=Path,
                       default=Path(env.get("SM_MODEL_DIR") or DEFAULT_MODEL_DIR),
                       help="unpacked model.tar.gz (default: $SM_MODEL_DIR or /opt/ml/model)")
    serve.add_argument("--host", default="0.0.0.0",
                       help="interface to listen on (default: all, as in a container)")
    target = serve.add_mutually_exclusive_group()
    target.add_argument("--port", type=int, default=None,
                        help="TCP port (default: $SAGEMAKER_BIND_TO_PORT or 8080)")
    target.add_argument("--fd", type=int, default=None,
                        help="serve on this inherited listening socket instead of binding")
    serve.add_argument("--graceful-timeout", type=float, default=25.0,
                       help="seconds in-flight requests get after SIGTERM (default 25)")
    serve.add_argument("--protocol", action="append", choices=sorted(PROTOCOLS),
                       help="wire protocol(s) to serve (default: sagemaker)")
    return parser


def resolve_port(flag: int | None, env: Mapping[str, str]) -> int:
    raw = str(flag) if flag is not None else env.get("SAGEMAKER_BIND_TO_PORT") or ""
    if not raw:
        return DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise ValueError(f"port {raw!r} is not a TCP port number (1-65535)")
    return port


def serve(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    try:
        port = None if args.fd is not None else resolve_port(args.port, env)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        loaded = load_dir(args.model_dir)
    except ArtifactError as err:
        print(f"error: cannot load the model in {args.model_dir}: {err}", file=sys.stderr,
              flush=True)
        logs.emit("model_load_failed", model_dir=str(args.model_dir), error=str(err))
        return 2

    import uvicorn

    from model_server.app import create_app
    from model_server.predictor import Predictor

    app = create_app(Predictor(loaded), protocols=tuple(args.protocol or ("sagemaker",)))
    config = uvicorn.Config(app, host=args.host, port=port or DEFAULT_PORT,
                            log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=args.graceful_timeout,
                            timeout_keep_alive=5)
    server = uvicorn.Server(config)
    sockets = None
    if args.fd is not None:
        try:
            sockets = [socket.socket(fileno=args.fd)]
        except OSError as err:
            print(f"error: --fd {args.fd} is not an open socket ({err})", file=sys.stderr)
            return 2
    bound = sockets[0].getsockname() if sockets else (args.host, port)
    fault = getattr(loaded.estimator, "describe", None)
    logs.emit("serving", address=f"{bound[0]}:{bound[1]}", pid=os.getpid(),
              model_sha256=loaded.manifest.model_sha256, estimator=loaded.manifest.estimator,
              fault=fault() if callable(fault) else None)
    # uvicorn drains in-flight requests on SIGTERM/SIGINT, restores the handlers it
    # found, and re-raises the signal: ours turns that into a clean exit 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stopped)
    try:
        server.run(sockets=sockets)
    except Stopped as stop:
        logs.emit("stopped", pid=os.getpid(), signal=signal.Signals(stop.signum).name)
        return 0
    logs.emit("stopped", pid=os.getpid())
    return 0


class Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    environ = dict(os.environ) if env is None else env
    args = build_parser(environ).parse_args(argv)
    return serve(args, environ)
