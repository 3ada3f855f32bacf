"""The embedded AWS server process: moto's WSGI app plus our fidelity extensions.

Run as `python -m mlops.localcloud.server --port N`; `mlops cloud up` does that in the
background. Everything here happens in `main()`: importing this module starts nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import Any

from mlops.localcloud import extensions
from mlops.localcloud.extensions import sagemaker
from mlops.localcloud.hosting import Hosting
from mlops.localcloud.wsgi import HEALTH_PATH, FailFast, Health, Knobs

DELAY_ENV = "MLOPS_CLOUD_SAGEMAKER_DELAY_SECONDS"
DEFAULT_DELAY = 1.0


def build_app(env: Mapping[str, str], hosting: Hosting | None = None) -> Any:
    """moto's dispatcher with our backend patches installed and our middleware around it."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    extensions.install(sagemaker_delay=sagemaker_delay(env), hosting=hosting)
    dispatcher = DomainDispatcherApplication(create_backend_app)
    return Health(Knobs(FailFast(dispatcher), hold=_hold), pid=os.getpid())


def _hold(endpoint_name: str, seconds: float) -> None:
    found = sagemaker.lifecycle()
    if found is None:
        raise ValueError("the SageMaker extension is not installed")
    found.hold(endpoint_name, seconds)


def sagemaker_delay(env: Mapping[str, str]) -> float:
    raw = env.get(DELAY_ENV, "")
    try:
        return float(raw) if raw else DEFAULT_DELAY
    except ValueError:
        print(f"ignoring {DELAY_ENV}={raw!r}: not a number; using {DEFAULT_DELAY}",
              file=sys.stderr)
        return DEFAULT_DELAY


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops.localcloud.server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    os.environ.setdefault("MOTO_PORT", str(args.port))  # moto builds self-URLs from it
    hosting = Hosting()
    app = build_app(os.environ, hosting)
    server = make_server(args.host, args.port, app, threaded=True,
                         request_handler=MotoRequestHandler)
    signal.signal(signal.SIGTERM, _stop)
    print(f"mlops localcloud: serving on http://{args.host}:{args.port} "
          f"(health: {HEALTH_PATH})", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        hosting.shutdown()  # the endpoints' model servers go with the cloud
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
