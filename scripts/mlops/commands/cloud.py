"""`mlops cloud up|down|status`: the embedded AWS (moto plus our fidelity extensions).

    eval "$(mlops cloud up)"     start it, and point this shell's AWS tools at it
    mlops cloud status --json    {"endpoint": ..., "port": ..., "pid": ...}; exit 1 if down
    mlops cloud down             stop it
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from mlops.localcloud import control
from mlops.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "cloud", help="run the embedded AWS (moto) for demos and tests",
        description="Run the embedded AWS (moto plus mlops fidelity extensions) on "
                    f"{control.HOST}. State and log: <state dir>/cloud/.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    up = verbs.add_parser("up", help="start it in the background and print shell exports")
    up.add_argument("--port", type=int, default=None,
                    help=f"TCP port (default: ${control.PORT_ENV} or {control.DEFAULT_PORT})")
    up.add_argument("--json", action="store_true", help="print {endpoint, port, pid} instead")
    up.set_defaults(func=cmd_up)
    down = verbs.add_parser("down", help="stop it")
    down.set_defaults(func=cmd_down)
    status = verbs.add_parser("status", help="report it; exit 0 if up, 1 if not")
    status.add_argument("--json", action="store_true", help="print {endpoint, port, pid}")
    status.set_defaults(func=cmd_status)


def _paths(env: Mapping[str, str]) -> control.CloudPaths:
    return control.CloudPaths.under(Settings.from_env(env).state_dir)


def _note(message: str) -> None:
    print(message, file=sys.stderr)


def render_exports(info: control.CloudInfo) -> str:
    values = control.client_env(info)
    lines = [f"# mlops embedded AWS at {info.endpoint} (pid {info.pid}). "
             'Use: eval "$(mlops cloud up)"']
    for key in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
        lines.append(f"export {key}={values[key]}")
    lines.append("# moto's dummy credentials, accepted only by the embedded AWS: not real keys")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        lines.append(f"export {key}={values[key]}")
    return "\n".join(lines)


def cmd_up(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    port = control.resolve_port(args.port, env)
    info = control.start(_paths(env), port, env, notify=_note)
    print(json.dumps(info.as_json()) if args.json else render_exports(info))
    return 0


def cmd_down(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    stopped = control.stop(_paths(env), notify=_note)
    if stopped is None:
        _note("the embedded AWS was not running")
    else:
        _note(f"stopped the embedded AWS at {stopped.endpoint} (pid {stopped.pid})")
    return 0


def cmd_status(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    info = control.status(_paths(env))
    if args.json:
        print(json.dumps(info.as_json()))
    else:
        print(f"the embedded AWS is up at {info.endpoint} (pid {info.pid})")
    return 0
