"""`mlops destroy --env ENV --confirm ENV [--allow-protected]`: destroy an env, guarded.

- It refuses unless --confirm repeats the env name, and refuses a protected env
  (`protected` in mlops.yaml; by default every env of the prod tier) unless
  --allow-protected is given too.
- It plans the destroy first (into `.mlops/plans/<env>/destroy`) and shows it, then applies
  exactly that saved destroy plan under the state lock (Terraform's, with the lock
  timeout), its log masked like every plan and apply output. It only ever touches the env
  root's own state: bootstrap/ (state bucket, OIDC provider, roles) lives in another state
  and is never part of the plan.
- It reports what it destroyed and writes a deployment record of kind destroy.
- Re-running it after a failure or a kill finishes the job: the next plan destroys what is
  left (a killed run leaves its lock: the error names the `mlops unlock` to run first).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mlops import argtypes, context, ui
from mlops.commands.apply import (
    DEFAULT_LOCK_TIMEOUT,
    actor,
    apply_and_record,
    load_summary,
    run_url,
)
from mlops.commands.plan import default_out, detect_commit, init_env, plan_env
from mlops.core.deployments import Record
from mlops.errors import MlopsError


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "destroy", help="destroy an env root, after showing the destroy plan",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, type=argtypes.env_name,
                        help="env root to destroy (a name from `mlops env list`)")
    parser.add_argument("--confirm", metavar="ENV", default="",
                        help="repeat the env name: destroying is not undoable")
    parser.add_argument("--allow-protected", action="store_true",
                        help="also needed for a protected env (mlops.yaml; prod by default)")
    parser.add_argument("--lock-timeout", default=DEFAULT_LOCK_TIMEOUT,
                        help="how long Terraform waits for the state lock (default 5m)")
    parser.add_argument("--reason", default="", type=argtypes.reason,
                        help="why, in one line: kept in the deployment record (the dispatch "
                        "workflows pass their reason input)")
    parser.add_argument("--out", type=argtypes.output_dir,
                        help="where to write the destroy plan (default .mlops/plans/ENV/destroy)")
    parser.set_defaults(func=run)


def check_allowed(ctx: context.Context, env_name: str, confirm: str,
                  allow_protected: bool) -> None:
    if confirm != env_name:
        raise MlopsError(
            f"refusing to destroy {env_name}: --confirm must repeat the env name"
            + (f" (got {confirm!r})" if confirm else ""),
            "destroying is not undoable; nothing was changed",
            f"re-run as `mlops destroy --env {env_name} --confirm {env_name}`")
    spec = ctx.config.env(env_name)
    if spec.protected and not allow_protected:
        raise MlopsError(
            f"refusing to destroy {env_name}: it is a protected env",
            f"protected envs serve real traffic and hold real data ({env_name}: tier "
            f"{spec.tier}, protected in mlops.yaml)",
            f"if you really mean it: `mlops destroy --env {env_name} --confirm {env_name} "
            "--allow-protected`")


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    ctx = context.load(env)
    ctx.config.require_env(args.env)
    check_allowed(ctx, args.env, args.confirm, args.allow_protected)
    out = args.out or default_out(ctx, args.env) / "destroy"
    commit = detect_commit(ctx)
    result = plan_env(ctx, args.env, out, destroy=True, commit=commit,
                      lock_timeout=args.lock_timeout)
    print((out / "plan.txt").read_text())
    summary = load_summary(out)
    doomed = tuple(r.address for r in summary.resources if r.action in ("delete", "replace"))
    if not result.changes:
        ui.step(f"{args.env}: nothing to destroy (no resources in its state)")
        return 0
    ui.step(f"{args.env}: destroying {len(doomed)} resources (the plan above)")
    tf = init_env(ctx, args.env)
    base = Record(env=args.env, kind="destroy", outcome="applied", commit=commit,
                  time=datetime.now(UTC), actor=actor(ctx.env), fingerprint=summary.fingerprint,
                  reviewed=False, review="destroy --confirm", run_url=run_url(ctx.env),
                  changes={k: v for k, v in summary.counts.to_dict().items() if v},
                  destroyed=doomed, reason=args.reason)
    apply_and_record(ctx, args.env, tf, out / "plan.tfplan", lock_timeout=args.lock_timeout,
                     plan=json.loads((out / "plan.json").read_text()), base=base)
    for address in doomed:
        print(f"destroyed {address}")
    ui.step(f"{args.env}: destroyed {len(doomed)} resources; bootstrap/ untouched")
    return 0
