"""`mlops bootstrap`: apply (or destroy) bootstrap/ once per account. Run by a human,
never by CI: it creates the state bucket and the roles CI assumes."""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Mapping
from typing import Any

from mlops import context, ui
from mlops.adapters import aws
from mlops.errors import MlopsError


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "bootstrap", help="apply bootstrap/ (state bucket, OIDC provider, per-env roles)")
    parser.add_argument("--destroy", action="store_true",
                        help="destroy what bootstrap created (refused unless AWS_ENDPOINT_URL "
                             "is the embedded AWS)")
    parser.set_defaults(func=run)


def bootstrap_variables(ctx: context.Context) -> dict[str, str]:
    cfg = ctx.config
    envs = ", ".join(f'"{e}"' for e in cfg.envs)
    return {
        "project": cfg.project,
        "region": cfg.region,
        "owner": cfg.owner,
        "github_repo": cfg.github_repo,
        "envs": f"[{envs}]",
        # Only a throwaway embedded cloud may delete a state bucket that holds state.
        "state_bucket_force_destroy": "true" if ctx.local_cloud else "false",
    }


def state_path(ctx: context.Context) -> str:
    """Bootstrap's local state: per embedded-cloud endpoint, so a restarted local cloud
    never sees state of a previous one; `bootstrap/terraform.tfstate` on real AWS."""
    if not ctx.local_cloud:
        return "terraform.tfstate"
    tag = hashlib.sha256(ctx.env.get("AWS_ENDPOINT_URL", "").encode()).hexdigest()[:10]
    path = ctx.settings.state_dir / "bootstrap" / f"local-{tag}.tfstate"
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def apply_bootstrap(ctx: context.Context, *, destroy: bool = False) -> dict[str, Any]:
    """Apply (or destroy) bootstrap/; returns its outputs (name -> value)."""
    tf = ctx.terraform(ctx.settings.root / "bootstrap", "bootstrap")
    where = ctx.env.get("AWS_ENDPOINT_URL") or "AWS"
    with ui.stage(f"bootstrap: terraform init (state file {state_path(ctx)})"):
        tf.init({"path": state_path(ctx)})
    variables = bootstrap_variables(ctx)
    if destroy:
        with ui.stage(f"bootstrap: destroying on {where}"):
            tf.destroy(variables=variables)
        return {}
    with ui.stage(f"bootstrap: applying on {where} (account {aws.account_id(ctx.env)})"):
        tf.apply(variables=variables)
    return tf.output_values()


def refuse_real_destroy(ctx: context.Context) -> None:
    """bootstrap/ holds every env's state bucket and the roles CI assumes: on a real
    account, losing it strands every env's state. Only a throwaway embedded AWS may."""
    if ctx.local_cloud:
        return
    where = ctx.env.get("AWS_ENDPOINT_URL") or "the AWS account of your credentials"
    raise MlopsError(
        f"refusing to destroy bootstrap/ on {where}",
        "`mlops bootstrap --destroy` is for the embedded AWS only: bootstrap/ holds the state "
        "bucket of every env and the roles CI assumes; nothing was changed",
        "to retire a real account, destroy every env first, then run "
        "`terraform -chdir=bootstrap destroy` yourself, deliberately",
    )


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    ctx = context.load(env)
    if args.destroy:
        refuse_real_destroy(ctx)
    outputs = apply_bootstrap(ctx, destroy=args.destroy)
    for name, value in outputs.items():
        ui.info(f"{name} = {value}")
    return 0
