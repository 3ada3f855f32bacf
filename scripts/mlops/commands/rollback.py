"""`mlops rollback --env ENV [--to REF]`: roll an env's infrastructure back to a commit that
was applied before.

Without --to, the target is the deployment before the latest successful one (from the
deployment records in the state bucket). It refuses a REF that is not a commit, that
predates the env, that is not an ancestor of main, or that has no deployment record.

It exports REF's tree (`git archive`, the checkout is left alone), plans the env root as
it was at REF, shows the plan and applies it under the same lock timeout and deployment
records as `mlops apply` (a record of kind rollback). Git stays the source of truth: it
then opens a revert pull request through the GitHub API (the env's files and the modules
it calls, as at REF) when GITHUB_TOKEN is set, or prints the exact `git revert` commands.
Until Git says the same, the next merge to main would undo the rollback: it says so.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops import argtypes, context, ui
from mlops.adapters.deployments import DeploymentLog
from mlops.adapters.git import Git
from mlops.commands.apply import (
    DEFAULT_LOCK_TIMEOUT,
    actor,
    apply_and_record,
    load_summary,
    repo_of,
    run_url,
)
from mlops.commands.plan import default_out, init_env, plan_env
from mlops.core import changes, deployments, rollback
from mlops.core.deployments import Record
from mlops.errors import MlopsError

MAIN_REFS = ("origin/main", "main")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "rollback", help="roll an env back to a previously applied commit",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, type=argtypes.env_name,
                        help="the env to roll back (a name from `mlops env list`)")
    parser.add_argument("--to", metavar="REF",
                        help="the commit to roll back to (default: the deployment before the "
                             "latest successful one)")
    parser.add_argument("--repo", help="OWNER/NAME for the revert pull request (default: "
                                       "GITHUB_REPOSITORY, else github_repo in mlops.yaml)")
    parser.add_argument("--main", dest="main_ref",
                        help="the main branch ref (default origin/main, else main)")
    parser.add_argument("--lock-timeout", default=DEFAULT_LOCK_TIMEOUT,
                        help="how long Terraform waits for the state lock (default 5m)")
    parser.add_argument("--reason", default="", type=argtypes.reason,
                        help="why, in one line: kept in the deployment record (the dispatch "
                        "workflows pass their reason input)")
    parser.set_defaults(func=run)


def _main_ref(git: Git, given: str | None) -> str:
    if given:
        git.resolve(given)
        return given
    for ref in MAIN_REFS:
        try:
            git.resolve(ref)
            return ref
        except MlopsError:
            continue
    raise MlopsError("cannot find the main branch (origin/main or main)",
                     "a rollback target must be an ancestor of main",
                     "fetch it (actions/checkout with fetch-depth: 0), or pass --main REF")


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    ctx = context.load(env)
    ctx.config.require_env(args.env)
    git = Git(ctx.settings.root, env=ctx.env)
    main_ref = _main_ref(git, args.main_ref)
    lock = ctx.state_lock(args.env)
    history = DeploymentLog(lock.s3, lock.bucket, args.env).history()
    current = deployments.deployed(history)[0] if deployments.deployed(history) else None

    if not args.to:  # None, or "" (an empty workflow_dispatch input): the default
        pair = deployments.rollback_target(history)
        if pair is None:
            raise MlopsError(f"not rolling back {args.env}: no earlier deployment to go back to",
                             f"the deployment records of {args.env} show "
                             f"{len(deployments.deployed(history))} successful deployment(s) "
                             "of one commit at most", "pass --to REF explicitly")
        target_ref = pair[1].commit
    else:
        target_ref = args.to
    try:
        target = git.resolve(target_ref)
        exists = True
    except MlopsError:
        target, exists = target_ref, False
    refusal = rollback.refuse_target(
        env=args.env, ref=target_ref, exists=exists,
        env_at_ref=exists and git.has_path(target, f"envs/{args.env}"),
        ancestor=exists and git.is_ancestor(target, main_ref),
        record=deployments.record_for_commit(history, target) if exists else None,
        main_ref=main_ref)
    if refusal is not None:
        raise MlopsError(*refusal)
    ui.step(f"{args.env}: rolling back to {target[:12]} (deployed now: "
            f"{current.commit[:12] if current else 'unknown'})")

    with tempfile.TemporaryDirectory(prefix=f"mlops-rollback-{args.env}-") as tmp:
        tree = Path(tmp) / "tree"
        git.export(target, tree)
        at_ref = context.load({**ctx.env, "MLOPS_ROOT": str(tree),
                               "MLOPS_STATE_DIR": str(ctx.settings.state_dir)})
        out = default_out(ctx, args.env) / "rollback"
        result = plan_env(at_ref, args.env, out, commit=target, lock_timeout=args.lock_timeout)
        print((out / "plan.txt").read_text())
        if not result.changes:
            ui.step(f"{args.env}: already as at {target[:12]}; nothing to roll back")
            return 0
        summary = load_summary(out)
        tf = init_env(at_ref, args.env)
        base = Record(env=args.env, kind="rollback", outcome="applied", commit=target,
                      time=datetime.now(UTC), actor=actor(ctx.env),
                      fingerprint=summary.fingerprint, reviewed=False, review="rollback",
                      run_url=run_url(ctx.env),
                      changes={k: v for k, v in summary.counts.to_dict().items() if v},
                      rolled_back_from=current.commit if current else "", reason=args.reason)
        applied = apply_and_record(at_ref, args.env, tf, out / "plan.tfplan",
                                   plan=json.loads((out / "plan.json").read_text()),
                                   lock_timeout=args.lock_timeout, base=base)
    ui.step(f"{args.env}: rolled back to {target[:12]}")
    realign_git(ctx, git, args, target, main_ref, current, applied.key)
    return 0


def realign_git(ctx: context.Context, git: Git, args: argparse.Namespace, target: str,
                main_ref: str, current: Record | None, record_key: str) -> None:
    """Open the revert pull request, or print the git commands; warn either way."""
    decision = changes.affected_envs(git.changed_paths(target, main_ref),
                                     _module_graph(git, target, main_ref), ctx.config.envs)
    paths = rollback.revert_paths(decision, args.env)
    if not paths:
        ui.info(f"git: nothing under envs/{args.env} or its modules changed since "
                f"{target[:12]}; main already says what is deployed")
        return
    shared = sorted({"/".join(p.split("/")[:2]) for p in paths if p.startswith("modules/")})
    warning = (f"until main says the same, the next merge to main re-applies what was rolled "
               f"back in {args.env}")
    if ctx.env.get("GITHUB_TOKEN"):
        import requests

        from mlops.adapters.github import from_env

        at_target = git.read_files(target, paths)
        files: dict[str, str | None] = {p: at_target.get(p) for p in paths}
        repo = repo_of(ctx, args.repo)
        with requests.Session() as session:
            github = from_env(ctx.env, session)
            opened = github.open_change_pr(
                repo, main_ref.removeprefix("origin/"), rollback.branch_name(args.env, target),
                files,
                rollback.title(args.env, target),
                rollback.pr_body(args.env, target, current.commit if current else "",
                                 record_key, paths, shared))
        print(f"revert pull request: {opened.pull.html_url}")
        ui.step(f"git: {'opened' if opened.created else 'updated'} {opened.pull.html_url}; "
                f"merge it: {warning}")
        return
    commits = git.commits_touching(target, main_ref, paths)
    print("\n".join(rollback.revert_commands(args.env, target, main_ref, commits)))
    ui.step(f"warning: no GITHUB_TOKEN, so no revert pull request was opened; {warning}. "
            "Run the git commands above")


def _module_graph(git: Git, *refs: str) -> dict[str, frozenset[str]]:
    graphs = []
    for ref in refs:
        tf_paths = git.list_files(ref, suffix=".tf")
        graphs.append(changes.build_module_graph(git.read_files(ref, tf_paths)))
    return changes.merge_graphs(*graphs)
