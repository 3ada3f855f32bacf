"""`mlops destroy --env ENV --yes`: destroy an env root (the demo's teardown; the guarded
workflow_dispatch destroy builds on this).

It plans the destroy into `.mlops/plans/<env>/destroy` (printing the plan: what goes),
then applies exactly that plan, its log masked like every plan and apply output.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from mlops import argtypes, context, ui
from mlops.commands.apply import apply_saved
from mlops.commands.plan import PlanOutput, default_out, plan_env
from mlops.errors import MlopsError


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("destroy", help="destroy an env root")
    parser.add_argument("--env", required=True, type=argtypes.env_name,
                        help="env root to destroy")
    parser.add_argument("--yes", action="store_true",
                        help="confirm: required, destroying is not undoable")
    parser.set_defaults(func=run)


def destroy_env(ctx: context.Context, env_name: str) -> PlanOutput:
    """Plan the destroy, then apply that plan. Returns the destroy plan (its directory
    holds summary.json: what was destroyed)."""
    out = default_out(ctx, env_name) / "destroy"
    planned = plan_env(ctx, env_name, out, destroy=True)
    print((out / "plan.txt").read_text())  # what goes, before it goes
    if planned.changes:
        apply_saved(ctx, env_name, out / "plan.tfplan", what="destroy",
                    plan=json.loads((out / "plan.json").read_text()))
    else:
        ui.step(f"{env_name}: nothing to destroy")
    return planned


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    ctx = context.load(env)
    ctx.config.require_env(args.env)
    if not args.yes:
        raise MlopsError(f"refusing to destroy {args.env} without --yes",
                         "destroying is not undoable; nothing was changed",
                         f"re-run as `mlops destroy --env {args.env} --yes`")
    destroy_env(ctx, args.env)
    return 0
