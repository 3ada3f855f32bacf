"""`mlops destroy --env ENV`: destroy an env root (the demo's teardown; the guarded
workflow_dispatch destroy builds on this)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from mlops import argtypes, context, ui
from mlops.commands.plan import init_env
from mlops.errors import MlopsError


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("destroy", help="destroy an env root")
    parser.add_argument("--env", required=True, type=argtypes.env_name,
                        help="env root to destroy")
    parser.add_argument("--yes", action="store_true",
                        help="confirm: required, destroying is not undoable")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    ctx = context.load(env)
    ctx.config.require_env(args.env)
    if not args.yes:
        raise MlopsError(f"refusing to destroy {args.env} without --yes",
                         "destroying is not undoable; nothing was changed",
                         f"re-run as `mlops destroy --env {args.env} --yes`")
    tf = init_env(ctx, args.env)
    with ui.stage(f"{args.env}: terraform destroy"):
        tf.destroy()
    return 0
