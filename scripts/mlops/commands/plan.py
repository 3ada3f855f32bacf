"""`mlops plan --env ENV [--out DIR]`: init + plan one env root into a plan directory.

The plan directory holds:
  plan.tfplan   the binary plan (what `mlops apply --plan DIR` applies, exactly)
  plan.json     `terraform show -json` of it
  plan.txt      the text plan
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops import context, ui
from mlops.adapters.terraform import Terraform


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "plan", help="terraform init + plan for an env root, into a plan directory")
    parser.add_argument("--env", required=True, help="env root to plan (dev, staging, prod)")
    parser.add_argument("--out", type=Path, help="plan directory (default .mlops/plans/ENV)")
    parser.add_argument("--destroy", action="store_true", help="plan a destroy")
    parser.set_defaults(func=run)


@dataclass(frozen=True)
class PlanOutput:
    env: str
    directory: Path
    changes: bool


def init_env(ctx: context.Context, env_name: str) -> Terraform:
    """terraform init of an env root against its remote state (checked to exist first)."""
    tf = ctx.terraform(ctx.env_root(env_name), env_name)
    tf.init(ctx.backend_config())
    return tf


def plan_env(ctx: context.Context, env_name: str, out: Path, *,
             destroy: bool = False) -> PlanOutput:
    out.mkdir(parents=True, exist_ok=True)
    with ui.stage(f"{env_name}: terraform init"):
        tf = init_env(ctx, env_name)
    with ui.stage(f"{env_name}: terraform plan{' -destroy' if destroy else ''}"):
        code = tf.plan(out / "plan.tfplan", destroy=destroy)
    (out / "plan.json").write_text(json.dumps(tf.show_json(out / "plan.tfplan")))
    (out / "plan.txt").write_text(tf.show_text(out / "plan.tfplan"))
    return PlanOutput(env=env_name, directory=out, changes=code == 2)


def default_out(ctx: context.Context, env_name: str) -> Path:
    return ctx.settings.state_dir / "plans" / env_name


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    ctx = context.load(env)
    out = args.out or default_out(ctx, args.env)
    result = plan_env(ctx, args.env, out, destroy=args.destroy)
    ui.info(f"{'changes' if result.changes else 'no changes'}; plan written to {out}")
    print((out / "plan.txt").read_text())
    return 0
