"""`mlops apply --env ENV [--plan DIR]`: apply an env root.

With --plan, applies exactly the saved plan in DIR (what was reviewed). Without it,
plans first (printing the plan) and applies that saved plan.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops import context, ui
from mlops.commands.plan import default_out, init_env, plan_env
from mlops.errors import MlopsError


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("apply", help="apply an env root")
    parser.add_argument("--env", required=True,
                        help="env root to apply (a name from `mlops env list`)")
    parser.add_argument("--plan", type=Path, help="plan directory from `mlops plan` to apply")
    parser.set_defaults(func=run)


def check_plan_env(plan_dir: Path, env_name: str) -> None:
    """A saved plan carries its own backend (state key): applying another env's plan
    under --env would change that other env. summary.json says which env it is."""
    try:
        planned = json.loads((plan_dir / "summary.json").read_text()).get("env")
    except (OSError, ValueError, AttributeError):
        planned = None  # a plan directory from elsewhere: nothing to compare
    if planned is not None and planned != env_name:
        raise MlopsError(f"{plan_dir} is a plan of {planned}, not of {env_name}",
                         "a saved plan applies to the env (state) it was made for",
                         f"pass the plan directory of {env_name}, or --env {planned}")


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    ctx = context.load(env)
    if args.plan is not None:
        plan_file = args.plan / "plan.tfplan"
        if not plan_file.is_file():
            raise MlopsError(f"no plan.tfplan in {args.plan}",
                             "--plan takes a directory written by `mlops plan`",
                             f"run `mlops plan --env {args.env} --out {args.plan}` first")
        check_plan_env(args.plan, args.env)
        tf = init_env(ctx, args.env)
    else:
        out = default_out(ctx, args.env)
        result = plan_env(ctx, args.env, out)
        print((out / "plan.txt").read_text())
        if not result.changes:
            ui.step(f"{args.env}: no changes, nothing to apply")
            return 0
        plan_file = out / "plan.tfplan"
        tf = init_env(ctx, args.env)
    with ui.stage(f"{args.env}: terraform apply"):
        tf.apply(plan_file)
    return 0
