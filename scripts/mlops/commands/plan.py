"""`mlops plan`: terraform init + plan of env roots into plan directories.

  mlops plan --env ENV [--out DIR]             one env
  mlops plan --changed --base REF [--out DIR]  every env the change affects, in parallel

A plan directory holds:
  plan.tfplan   the binary plan (what `mlops apply --plan DIR` applies, exactly)
  plan.json     `terraform show -json` of it
  plan.txt      the text plan (sensitive values and mask patterns redacted)
  summary.json  the summary the PR comment is rendered from (core.plansummary)
  error.txt     only when the plan failed: why (redacted); summary.json says "failed"
With --changed, DIR holds one such directory per env, and changed.json the decision.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops import argtypes, context, ui
from mlops.adapters import terraform
from mlops.adapters.prices import load_prices
from mlops.adapters.terraform import Terraform, TerraformError
from mlops.core import masking, plansummary
from mlops.errors import MlopsError

# Imported where used: `mlops plan --env` does not pay for the change detection (git, the
# module graph) at start-up, on every plan.

PLAN_FILES = ("plan.tfplan", "plan.json", "plan.txt", "summary.json", "error.txt")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "plan", help="terraform init + plan of env roots, into plan directories")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--env", type=argtypes.env_name,
                       help="env root to plan (a name from `mlops env list`)")
    which.add_argument("--changed", action="store_true",
                       help="plan every env the change since --base affects, in parallel")
    parser.add_argument("--base", help="with --changed: the base git ref (e.g. origin/main)")
    parser.add_argument("--head", default="HEAD", help="with --changed: the head ref")
    parser.add_argument("--out", type=argtypes.output_dir,
                        help="plan directory (default .mlops/plans[/ENV])")
    parser.add_argument("--destroy", action="store_true", help="plan a destroy")
    parser.add_argument("--commit", help="the commit the plan is made at, recorded for the "
                        "apply step's stale-plan guard (default: the pull request's head from "
                        "GITHUB_EVENT_PATH, else GITHUB_SHA, else git HEAD)")
    parser.add_argument("--jobs", type=argtypes.non_negative_int, default=0,
                        help="envs planned at once with --changed (default: every affected "
                        "env, up to twice the cores and at least 4)")
    parser.set_defaults(func=run)


@dataclass(frozen=True)
class PlanOutput:
    env: str
    directory: Path
    changes: bool
    failed: bool = False
    error: str = ""


def init_env(ctx: context.Context, env_name: str) -> Terraform:
    """terraform init of an env root against its remote state: the state bucket of the
    env's account (checked against the credentials). Skipped when nothing it depends on
    changed; a failure says why (context.Context.init_backend)."""
    tf = ctx.terraform(ctx.env_root(env_name), env_name)
    ui.step(f"{env_name}: terraform init")
    started = time.monotonic()
    if ctx.init_backend(tf, env_name):
        ui.info(f"{env_name}: init done in {time.monotonic() - started:.1f}s")
    else:
        ui.info(f"{env_name}: init skipped: nothing it depends on changed")
    return tf


def base_masker(ctx: context.Context) -> masking.Masker:
    return ctx.masker()


def detect_commit(ctx: context.Context, given: str | None = None) -> str:
    """The commit a plan is made at (core.guard.plan_commit): --commit, else the pull
    request's head from the event payload, else GITHUB_SHA, else the checkout's HEAD."""
    if given:
        return given
    event: Any = None
    event_path = ctx.env.get("GITHUB_EVENT_PATH")
    if event_path:
        try:
            event = json.loads(Path(event_path).read_text())
        except (OSError, ValueError):
            event = None
    head = ""
    if not ctx.env.get("GITHUB_SHA"):
        from mlops.adapters.git import Git

        try:
            head = Git(ctx.settings.root, env=ctx.env).resolve("HEAD")
        except MlopsError:
            head = ""  # not a git checkout (a copied tree): the commit stays unknown
    from mlops.core import guard  # reads the comment format: not every plan needs it

    return guard.plan_commit(event if isinstance(event, dict) else None,
                             ctx.env.get("GITHUB_SHA", ""), head)


def plan_env(ctx: context.Context, env_name: str, out: Path, *, destroy: bool = False,
             tf: Terraform | None = None, commit: str = "",
             lock_timeout: str | None = None) -> PlanOutput:
    """Plan one env into `out`. A failure is recorded in the directory (error.txt and a
    failed summary.json, so the PR still gets a comment saying why) and re-raised."""
    out.mkdir(parents=True, exist_ok=True)
    for name in PLAN_FILES:  # a directory holds exactly one plan, never a stale mix
        (out / name).unlink(missing_ok=True)
    masker = base_masker(ctx)
    try:
        if tf is None:
            tf = init_env(ctx, env_name)
        with ui.stage(f"{env_name}: terraform plan{' -destroy' if destroy else ''}",
                      f"{env_name}: plan"):
            code, text = tf.plan_with_text(out / "plan.tfplan", destroy=destroy,
                                           lock_timeout=lock_timeout)
            plan = tf.show_json(out / "plan.tfplan")
    except MlopsError as err:
        err = _with_backend_cause(ctx, env_name, err)
        record_failure(ctx, env_name, out, err, commit=commit)
        # The error is printed too (CI logs): redacted like error.txt.
        err.what, err.why, err.fix = (masker.mask(t) for t in (err.what, err.why, err.fix))
        raise err from None
    masker = masker.with_literals(masking.sensitive_strings(plan))
    summary = plansummary.summarize(plan, env_name, masker=masker, prices=load_prices(),
                                    mode="destroy" if destroy else "normal", commit=commit)
    (out / "plan.json").write_text(json.dumps(plan))
    (out / "plan.txt").write_text(masker.mask(text))
    (out / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2))
    return PlanOutput(env=env_name, directory=out, changes=code == 2)


def _with_backend_cause(ctx: context.Context, env_name: str, err: MlopsError) -> MlopsError:
    """A plan whose init was skipped (nothing changed) fails on the state bucket itself
    when the bucket is gone: say so, as a failed init does."""
    if not isinstance(err, TerraformError):
        return err
    try:
        bucket = ctx.state_bucket(env_name)
        problem = ctx.backend_problem(bucket) if bucket in err.why else None
    except MlopsError:
        problem = None
    return problem or err


def plan_many(ctx: context.Context, envs: Sequence[str], out: Path, *, jobs: int,
              destroy: bool = False, commit: str = "") -> list[PlanOutput]:
    """Plan several envs in parallel; results in the order given (the promotion order).

    Each env inits, then plans; at most `jobs` envs at once (default_jobs). The inits share the
    provider plugin cache, which Terraform does not promise is safe to fill concurrently
    (two inits installing the same provider into it race: hashicorp/terraform#31964). So
    an init that may write to the cache runs alone (CacheFill), and the others, whose
    providers the cache already holds, only read from it and run in parallel: with a warm
    cache (the CI cache, or any run after the first) every env inits at once."""
    def failed(env_name: str, err: MlopsError) -> PlanOutput:
        return PlanOutput(env_name, out / env_name, changes=False, failed=True,
                          error=base_masker(ctx).mask(err.render()))

    fill = CacheFill(ctx.settings.plugin_cache)
    # Once, before the threads: every env's backend config needs the account. A failure
    # is left to each env's init, whose plan dir then records why.
    with contextlib.suppress(MlopsError):
        ctx.caller_account()

    def one(env_name: str) -> PlanOutput:
        try:
            tf = fill.init(ctx, env_name)
        except MlopsError as err:  # recorded in the plan dir: the comment says why
            record_failure(ctx, env_name, out / env_name, err, commit=commit)
            return failed(env_name, err)
        try:
            return plan_env(ctx, env_name, out / env_name, destroy=destroy, tf=tf,
                            commit=commit)
        except MlopsError as err:
            return failed(env_name, err)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, min(len(envs), jobs or default_jobs()))) as pool:
        return list(pool.map(one, envs))


def default_jobs() -> int:
    """Envs planned at once by default: twice the cores, at least 4. A plan waits on the
    cloud's API as much as it computes (against AWS, refreshing each resource is a round
    trip), so more plans than cores keep the cores busy; on 2 cores, 3 envs planned at
    once finish sooner than 2 at a time then the third alone (docs/benchmarks.md).
    Atlantis' parallel pool defaults to 15."""
    return max(4, 2 * (os.cpu_count() or 1))


class CacheFill:
    """Inits that may write to the shared plugin cache run one at a time; inits whose
    lock file's providers are all in the cache already (terraform.providers_cached) run
    at once. After an init has run, the cache holds its lock file's providers."""

    def __init__(self, plugin_cache: Path) -> None:
        self.plugin_cache = plugin_cache
        self._alone = threading.Lock()
        self._warm: set[bytes] = set()  # lock files an init of this run has filled for

    def init(self, ctx: context.Context, env_name: str) -> Terraform:
        lock = terraform.lock_file(ctx.env_root(env_name))
        if not self._reads_only(lock):
            with self._alone:
                if not self._reads_only(lock):
                    ui.info(f"{env_name}: its providers are not in the plugin cache yet: "
                            "it inits alone, filling the cache")
                    tf = init_env(ctx, env_name)
                    if lock is not None:
                        self._warm.add(lock)
                    return tf
        return init_env(ctx, env_name)

    def _reads_only(self, lock: bytes | None) -> bool:
        return lock is not None and (
            lock in self._warm or terraform.providers_cached(lock, self.plugin_cache))


def record_failure(ctx: context.Context, env_name: str, out: Path, err: MlopsError, *,
                   commit: str = "") -> None:
    """Leave error.txt and a failed summary.json, so the PR comment can say why."""
    out.mkdir(parents=True, exist_ok=True)
    for name in PLAN_FILES:
        (out / name).unlink(missing_ok=True)
    masker = base_masker(ctx)
    error = masker.mask(err.render())
    (out / "error.txt").write_text(error + "\n")
    failed = plansummary.failed(env_name, error, masker=masker, commit=commit)
    (out / "summary.json").write_text(json.dumps(failed.to_dict(), indent=2))


def default_out(ctx: context.Context, env_name: str | None = None) -> Path:
    base = ctx.settings.state_dir / "plans"
    return base / env_name if env_name else base


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    ctx = context.load(env)
    if args.env:
        out = args.out or default_out(ctx, args.env)
        result = plan_env(ctx, args.env, out, destroy=args.destroy,
                          commit=detect_commit(ctx, args.commit))
        ui.info(f"{'changes' if result.changes else 'no changes'}; plan written to {out}")
        print((out / "plan.txt").read_text())
        return 0
    if not args.base:
        raise MlopsError("--changed needs --base", "the change is the diff base...head",
                         "e.g. mlops plan --changed --base origin/main")
    from mlops.commands.changed import detect

    decision = detect(ctx.settings, env, args.base, args.head)
    out = args.out or default_out(ctx)
    out.mkdir(parents=True, exist_ok=True)
    (out / "changed.json").write_text(json.dumps(decision.as_matrix()))
    envs = list(decision.as_matrix()["envs"])
    if not envs:
        ui.step("no env is affected by this change; nothing to plan")
        return 0
    ui.step(f"planning {', '.join(envs)} in parallel")
    results = plan_many(ctx, envs, out, jobs=args.jobs, destroy=args.destroy,
                        commit=detect_commit(ctx, args.commit))
    for result in results:
        state = "FAILED" if result.failed else ("changes" if result.changes else "no changes")
        ui.info(f"{result.env}: {state} -> {result.directory}")
        if result.failed:
            print(result.error, file=sys.stderr)
    return 1 if any(r.failed for r in results) else 0
