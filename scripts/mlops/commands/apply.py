"""`mlops apply --env ENV [--plan DIR]`: apply an env root.

With --plan, applies exactly the saved plan in DIR (what was reviewed). Without it,
plans first (printing the plan) and applies that saved plan. Either way the log is masked
with the plan's sensitive values, as the plan output is: Terraform prints them in clear
when they flow into attributes the provider does not mark (e.g. `terraform_data.output`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops import argtypes, context, ui
from mlops.adapters.terraform import Result
from mlops.commands.plan import base_masker, default_out, init_env, plan_env
from mlops.core import masking
from mlops.errors import MlopsError


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("apply", help="apply an env root")
    parser.add_argument("--env", required=True, type=argtypes.env_name,
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


def apply_saved(ctx: context.Context, env_name: str, plan_file: Path, *,
                plan: Mapping[str, Any] | None = None, what: str = "apply") -> Result:
    """Apply exactly the saved plan `plan_file`, its log masked with the values the plan
    marks sensitive. `plan` is its `terraform show -json` when the caller has it; else it
    is read from the plan file itself (never from a plan.json beside it, which could be
    another plan's)."""
    tf = init_env(ctx, env_name)
    if plan is None:
        with ui.stage(f"{env_name}: terraform show -json (the plan's sensitive values)"):
            plan = tf.show_json(plan_file)
    masker = base_masker(ctx).with_literals(masking.sensitive_strings(plan))
    tf = dataclasses.replace(tf, mask=masker.mask)
    with ui.stage(f"{env_name}: terraform {what}"):
        return tf.apply(plan_file)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    ctx = context.load(env)
    if args.plan is not None:
        plan_file = args.plan / "plan.tfplan"
        if not plan_file.is_file():
            raise MlopsError(f"no plan.tfplan in {args.plan}",
                             "--plan takes a directory written by `mlops plan`",
                             f"run `mlops plan --env {args.env} --out {args.plan}` first")
        check_plan_env(args.plan, args.env)
        apply_saved(ctx, args.env, plan_file)
        return 0
    out = default_out(ctx, args.env)
    result = plan_env(ctx, args.env, out)
    print((out / "plan.txt").read_text())
    if not result.changes:
        ui.step(f"{args.env}: no changes, nothing to apply")
        return 0
    apply_saved(ctx, args.env, out / "plan.tfplan",
                plan=json.loads((out / "plan.json").read_text()))
    return 0
