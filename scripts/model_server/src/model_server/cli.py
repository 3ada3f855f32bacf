"""`model-server`: the container's entrypoint.

    model-server serve  [--model-dir DIR] [--host H] [--port N | --fd N] [--model-name NAME]
                        [--graceful-timeout S] [--drain-seconds S] [--protocol P ...]
    model-server unpack --archive FILE (--uri S3-URI | --sha256 HEX) --into DIR
    model-server batch  --input s3://B/PREFIX/ --output s3://B/PREFIX/ [--model-dir DIR]

`serve` follows SageMaker's contract (`docker run IMAGE serve`): the model directory is
$SM_MODEL_DIR or /opt/ml/model, the port $SAGEMAKER_BIND_TO_PORT or 8080, on all
interfaces. `--fd` serves on a listening socket inherited from the parent (socket
activation; the embedded AWS uses it so that no port can be taken between choosing and
binding it). The socket is served at once; the model loads in the background, and the
readiness routes (`/ping`, `/v2/health/ready`) answer 200 only once it has loaded. An
artifact that cannot be loaded ends the process with exit 2 and `error: ...` on stderr
(SageMaker then fails the endpoint; Kubernetes restarts the container and reports it).

SIGTERM: readiness turns false at once; the server keeps answering for --drain-seconds
(default 0: SageMaker stops routing before it signals; on Kubernetes set it longer than
the readiness probe period, so the endpoints controller takes the pod out of the
Service first), then stops accepting connections and lets in-flight requests finish (at
most --graceful-timeout seconds), and exits 0. A second SIGTERM skips the rest of the drain.

`unpack` is the init container's second step on Kubernetes (docs/adr/0011): it checks a
downloaded model.tar.gz against the sha256 in its content-addressed URI, verifies it with
the server's own checks, and writes its two files into the model directory.

`batch` predicts every object under an S3 prefix (needs the `[s3]` extra: boto3).
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from model_server import __version__, logs
from model_server.artifact import ArtifactError, load_dir
from model_server.protocols import DEFAULT_PROTOCOLS, PROTOCOLS
from model_server.state import DEFAULT_NAME, FAILED, ModelSlot

if TYPE_CHECKING:
    import uvicorn

DEFAULT_MODEL_DIR = "/opt/ml/model"
DEFAULT_PORT = 8080


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="model-server",
                                     description="Serve an mlops model artifact over HTTP.")
    parser.add_argument("--version", action="version", version=f"model-server {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    model_dir = Path(env.get("SM_MODEL_DIR") or DEFAULT_MODEL_DIR)

    serve = sub.add_parser("serve", help="serve the model (SageMaker's container entrypoint)")
    serve.add_argument("--model-dir", type=Path, default=model_dir,
                       help="unpacked model.tar.gz (default: $SM_MODEL_DIR or /opt/ml/model)")
    serve.add_argument("--host", default="0.0.0.0",
                       help="interface to listen on (default: all, as in a container)")
    target = serve.add_mutually_exclusive_group()
    target.add_argument("--port", type=int, default=None,
                        help="TCP port (default: $SAGEMAKER_BIND_TO_PORT or 8080)")
    target.add_argument("--fd", type=int, default=None,
                        help="serve on this inherited listening socket instead of binding")
    serve.add_argument("--model-name", default=env.get("MODEL_NAME") or DEFAULT_NAME,
                       help="the model's name in the v2 routes (default: $MODEL_NAME or "
                            f"{DEFAULT_NAME!r})")
    serve.add_argument("--graceful-timeout", type=float, default=25.0,
                       help="seconds in-flight requests get once the server stops "
                            "accepting (default 25)")
    serve.add_argument("--drain-seconds", type=float, default=0.0,
                       help="after SIGTERM, keep serving this long with readiness false "
                            "before closing the socket (default 0)")
    serve.add_argument("--protocol", action="append", choices=sorted(PROTOCOLS),
                       help="wire protocol(s) to serve (default: all: "
                            f"{', '.join(DEFAULT_PROTOCOLS)})")
    serve.set_defaults(run=serve_command)

    unpack = sub.add_parser("unpack", help="verify a downloaded model.tar.gz and unpack it")
    unpack.add_argument("--archive", type=Path, required=True, help="the downloaded archive")
    expected = unpack.add_mutually_exclusive_group(required=True)
    expected.add_argument("--uri", help="its content-addressed URI "
                                        "(.../models/<sha256>/model.tar.gz)")
    expected.add_argument("--sha256", help="its expected sha256")
    unpack.add_argument("--into", type=Path, default=model_dir,
                        help="the model directory to write (default: $SM_MODEL_DIR or "
                             "/opt/ml/model)")
    unpack.set_defaults(run=unpack_command)

    batch = sub.add_parser("batch", help="predict every object under an S3 prefix")
    batch.add_argument("--input", required=True, metavar="S3_PREFIX",
                       help="s3://bucket/prefix/ of .csv, .json or .jsonl files")
    batch.add_argument("--output", required=True, metavar="S3_PREFIX",
                       help="s3://bucket/prefix/ for the predictions (<input name>.out)")
    batch.add_argument("--model-dir", type=Path, default=model_dir,
                       help="unpacked model.tar.gz (default: $SM_MODEL_DIR or /opt/ml/model)")
    batch.set_defaults(run=batch_command)
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


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 2


# -- serve --------------------------------------------------------------------------------


def _server_class() -> Callable[[uvicorn.Config, ModelSlot, float], uvicorn.Server]:
    import uvicorn

    class DrainingServer(uvicorn.Server):
        """uvicorn, with a drain period between SIGTERM and closing the socket."""

        def __init__(self, config: uvicorn.Config, slot: ModelSlot, drain: float) -> None:
            super().__init__(config)
            self.slot = slot
            self.drain = drain
            self.pending: tuple[int, float] | None = None

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            self.slot.drain()
            if self.pending is None and self.drain > 0 and not self.should_exit:
                self.pending = (sig, time.monotonic() + self.drain)
                logs.emit("draining", signal=signal.Signals(sig).name, seconds=self.drain)
                return
            super().handle_exit(sig, frame)

        async def on_tick(self, counter: int) -> bool:
            if (self.pending is not None and not self.should_exit
                    and time.monotonic() >= self.pending[1]):
                super().handle_exit(self.pending[0], None)
            if self.should_exit:
                in_flight = getattr(self.config.app, "state", None)
                count = in_flight.in_flight() if in_flight is not None else None
                logs.emit("closing", in_flight=count)
            return await super().on_tick(counter)

    return DrainingServer


def load_in_background(slot: ModelSlot, model_dir: Path, server: Any) -> None:
    """Load the model into `slot`; on failure, say why and stop the server (exit 2)."""
    from model_server.predictor import Predictor

    started = time.monotonic()
    try:
        loaded = load_dir(model_dir)
    except ArtifactError as err:
        print(f"error: cannot load the model in {model_dir}: {err}", file=sys.stderr,
              flush=True)
        logs.emit("model_load_failed", model_dir=str(model_dir), error=str(err))
        slot.failed(str(err))
        server.should_exit = True
        return
    # What is loaded by now (libraries, the app, the model) lives as long as the process:
    # move it out of the garbage collector's sight, so the collections that requests
    # trigger walk only what requests allocate (shorter pauses in the latency tail).
    gc.collect()
    gc.freeze()
    slot.loaded(Predictor(loaded))
    fault = getattr(loaded.estimator, "describe", None)
    logs.emit("serving", model=slot.name, version=slot.version, pid=os.getpid(),
              model_sha256=loaded.manifest.model_sha256, estimator=loaded.manifest.estimator,
              load_seconds=round(time.monotonic() - started, 3),
              fault=fault() if callable(fault) else None)


def serve_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    try:
        port = None if args.fd is not None else resolve_port(args.port, env)
    except ValueError as err:
        return _fail(str(err))
    if args.drain_seconds < 0 or args.graceful_timeout < 0:
        return _fail("--drain-seconds and --graceful-timeout must not be negative")
    sockets = None
    if args.fd is not None:
        try:
            sockets = [socket.socket(fileno=args.fd)]
        except OSError as err:
            return _fail(f"--fd {args.fd} is not an open socket ({err})")

    import uvicorn

    from model_server.app import create_app

    slot = ModelSlot(name=args.model_name)
    app = create_app(slot, protocols=tuple(args.protocol or DEFAULT_PROTOCOLS))
    config = uvicorn.Config(app, host=args.host, port=port or DEFAULT_PORT,
                            log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=args.graceful_timeout,
                            timeout_keep_alive=5)
    server = _server_class()(config, slot, args.drain_seconds)
    bound = sockets[0].getsockname() if sockets else (args.host, port)
    logs.emit("starting", address=f"{bound[0]}:{bound[1]}", pid=os.getpid(),
              model_dir=str(args.model_dir), model=slot.name)
    loader = threading.Thread(target=load_in_background, args=(slot, args.model_dir, server),
                              name="model-loader", daemon=True)
    loader.start()
    # uvicorn drains in-flight requests on SIGTERM/SIGINT, restores the handlers it
    # found, and re-raises the signal: ours turns that into a clean exit 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stopped)
    stopped_by = None
    try:
        server.run(sockets=sockets)
    except Stopped as stop:
        stopped_by = signal.Signals(stop.signum).name
    loader.join(timeout=1)
    if slot.phase == FAILED:
        return 2
    logs.emit("stopped", pid=os.getpid(), signal=stopped_by)
    return 0


class Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


# -- unpack -------------------------------------------------------------------------------


def unpack_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from model_server import artifact

    try:
        expected = (artifact.sha256_from_uri(args.uri) if args.uri
                    else artifact.check_sha256(args.sha256))
        archive = args.archive.read_bytes()
    except ArtifactError as err:
        return _fail(str(err))
    except OSError as err:
        return _fail(f"cannot read {args.archive}: {err.strerror}")
    try:
        manifest = artifact.unpack_verified(archive, expected, args.into)
    except ArtifactError as err:
        logs.emit("unpack_refused", archive=str(args.archive), expected_sha256=expected,
                  error=str(err))
        return _fail(f"refusing {args.archive}: {err}")
    logs.emit("unpacked", archive=str(args.archive), sha256=expected, into=str(args.into),
              model_sha256=manifest.model_sha256)
    return 0


# -- batch --------------------------------------------------------------------------------


def batch_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from model_server import batch

    try:
        return batch.run(args.input, args.output, args.model_dir)
    except batch.BatchError as err:
        return _fail(str(err))


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    environ = dict(os.environ) if env is None else env
    args = build_parser(environ).parse_args(argv)
    result: int = args.run(args, environ)
    return result
