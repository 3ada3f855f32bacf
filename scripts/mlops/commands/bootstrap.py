"""`mlops bootstrap`: apply (or destroy) bootstrap/ once per account. Run by a human,
never by CI: it creates the account's state bucket and the plan and apply roles of the
envs that live in that account (mlops.yaml `account`; see docs/adr/0006)."""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from mlops import context, ui
from mlops.core import bootstrap
from mlops.errors import MlopsError


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "bootstrap", help="apply bootstrap/ in the credentials' account (state bucket, OIDC "
        "provider, roles of the envs that live there)")
    parser.add_argument("--destroy", action="store_true",
                        help="destroy what bootstrap created (refused unless AWS_ENDPOINT_URL "
                             "is the embedded AWS)")
    parser.set_defaults(func=run)


def bootstrap_variables(ctx: context.Context) -> dict[str, str]:
    return bootstrap.variables(ctx.config, ctx.caller_account(), local_cloud=ctx.local_cloud)


def state_path(ctx: context.Context) -> str:
    """Bootstrap's local state, one file per account: on the embedded cloud under the state
    dir and keyed by endpoint too, so a restarted local cloud never sees state of a
    previous one; on real AWS in bootstrap/ (core.bootstrap.state_file)."""
    account = ctx.caller_account()
    if not ctx.local_cloud:
        folder = ctx.settings.root / "bootstrap"
        legacy = folder / bootstrap.LEGACY_STATE
        legacy_account = None
        if legacy.is_file():
            try:
                legacy_account = bootstrap.state_account(json.loads(legacy.read_text()))
            except ValueError:
                legacy_account = None
        return bootstrap.state_file(
            account, per_account_exists=(folder / f"terraform-{account}.tfstate").is_file(),
            legacy_account=legacy_account, legacy_exists=legacy.is_file())
    tag = hashlib.sha256(ctx.env.get("AWS_ENDPOINT_URL", "").encode()).hexdigest()[:10]
    path = ctx.settings.state_dir / "bootstrap" / f"local-{tag}-{account}.tfstate"
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def apply_bootstrap(ctx: context.Context, *, destroy: bool = False) -> dict[str, Any]:
    """Apply (or destroy) bootstrap/ in the credentials' account; returns its outputs."""
    tf = ctx.terraform(ctx.settings.root / "bootstrap", "bootstrap")
    where = ctx.env.get("AWS_ENDPOINT_URL") or "AWS"
    account = ctx.caller_account()
    variables = bootstrap_variables(ctx)
    with ui.stage(f"bootstrap: terraform init (state file {state_path(ctx)})"):
        tf.init({"path": state_path(ctx)})
    if destroy:
        with ui.stage(f"bootstrap: destroying on {where} (account {account})"):
            tf.destroy(variables=variables)
        return {}
    envs = ", ".join(json.loads(variables["envs"]))
    with ui.stage(f"bootstrap: applying on {where} (account {account}; envs {envs})"):
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
