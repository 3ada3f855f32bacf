"""`mlops drift --env ENV`: does the env still match main? A refreshing plan of the env from
the checked-out code, summarised; with --issue, the env's one drift issue follows it (the
rules are in core/drift.py).

  mlops drift --env ENV [--out DIR] [--issue [--repo OWNER/NAME]]
  mlops drift --list-envs [--env ENV]   {"envs": [...]}: every env (or ENV, checked), for
                                        a CI matrix

Exit codes: 0 clean, 2 drift, 1 error (the plan failed, GitHub refused, ...; the issue is
then left as it was). stdout: the drift summary (markdown), also appended to
$GITHUB_STEP_SUMMARY; the plan directory (default .mlops/plans/drift/ENV) holds the plan.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mlops import argtypes, context, ui
from mlops.commands.plan import plan_env
from mlops.commands.reap import env_policy
from mlops.core import drift
from mlops.core.comment import run_url
from mlops.core.plansummary import PlanSummary
from mlops.errors import MlopsError
from mlops.settings import Settings

REPO_HELP = "the repository for --issue (default $GITHUB_REPOSITORY)"


class DriftError(MlopsError):
    """Any failure of `mlops drift`: exit 1, as 2 means drift."""

    exit_code = 1


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "drift", help="does an env still match main? exit 0 clean, 2 drift, 1 error",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", type=argtypes.env_name, help="the env to check")
    # `mlops env list --json` lists the envs with their settings; this is the matrix of the
    # drift workflow, with the dispatched env checked against mlops.yaml.
    parser.add_argument("--list-envs", action="store_true",
                        help='print {"envs": [...]}: every env in mlops.yaml order, or only '
                             "--env (after checking it exists), and exit")
    parser.add_argument("--out", type=argtypes.output_dir,
                        help="plan directory (default .mlops/plans/drift/ENV)")
    parser.add_argument("--issue", action="store_true",
                        help="open, update, close or reopen the env's drift issue on GitHub "
                             "(needs GITHUB_TOKEN with issues: write)")
    parser.add_argument("--repo", help=REPO_HELP)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    if args.list_envs:
        config = context.load_config(Settings.from_env(env))
        try:
            envs = [config.require_env(args.env)] if args.env else list(config.envs)
        except MlopsError as err:
            raise DriftError(err.what, err.why, err.fix) from err
        print(json.dumps({"envs": envs}))
        return 0
    if not args.env:
        raise DriftError("mlops drift needs --env ENV (or --list-envs)",
                         "it checks one env per run",
                         "e.g. mlops drift --env dev; `mlops drift --list-envs` lists them")
    try:
        return check(args, env)
    except DriftError:
        raise
    except MlopsError as err:  # 2 means drift here: every error is 1
        raise DriftError(err.what, err.why, err.fix) from err


def check(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    repository = args.repo or env.get("GITHUB_REPOSITORY") or None
    if args.issue and not repository:
        raise DriftError("--issue needs the repository",
                         "the drift issue lives in the repository's issues",
                         "pass --repo OWNER/NAME (in Actions GITHUB_REPOSITORY is set)")
    if args.issue and not env.get("GITHUB_TOKEN"):
        raise DriftError("--issue needs GITHUB_TOKEN",
                         "mlops keeps the drift issue through the GitHub API",
                         "in the workflow step add env: GITHUB_TOKEN: ${{ github.token }}, "
                         "with permissions: issues: write")
    ctx = context.load(env)
    ctx.config.require_env(args.env)
    out = args.out or ctx.settings.state_dir / "plans" / "drift" / args.env
    plan_env(ctx, args.env, out)  # records a failure in out/ and raises: exit 1
    summary = PlanSummary.from_dict(json.loads((out / "summary.json").read_text()))
    plan_text = (out / "plan.txt").read_text() if (out / "plan.txt").is_file() else ""
    policy = env_policy(ctx.config, args.env)
    rep = drift.report(summary, plan_text,
                       endpoints_reaped=policy.reapable and not policy.protected,
                       deleted=drift.deleted_outside(json.loads((out / "plan.json").read_text())))
    link = run_url(env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY"),
                   env.get("GITHUB_RUN_ID"))
    text = drift.summary_markdown(rep, link)
    print(text)
    step_summary = env.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    if args.issue:
        assert repository is not None
        sync_issue(env, repository, rep, plan_text, link)
    ui.step(f"{args.env}: {'drift' if rep.drifted else 'no drift'} (exit {rep.exit_code})")
    return rep.exit_code


def sync_issue(env: Mapping[str, str], repository: str, rep: drift.DriftReport,
               plan_text: str, link: str | None) -> drift.IssuePlan:
    """Make the env's drift issue say what the plan says."""
    import requests

    from mlops.adapters.github import from_env

    with requests.Session() as session:
        github = from_env(env, session)
        wanted = [drift.LABEL, drift.env_label(rep.env)]
        found = github.list_issues(repository, labels=wanted, state="all")
        plan = drift.plan_issue([drift.IssueRef(i.number, i.state, i.body) for i in found],
                                rep, run_link=link)
        for number in plan.duplicates:
            ui.info(f"issue #{number} also carries the labels {', '.join(wanted)}; "
                    f"mlops keeps #{plan.number} and leaves #{number} alone")
        if plan.action is drift.IssueAction.NONE:
            ui.info(f"{rep.env}: no drift issue to update")
            return plan
        body = drift.issue_body(rep, plan_text=plan_text, run_link=link,
                                repository=repository,
                                checked_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        if plan.action is drift.IssueAction.CREATE:
            for name, (color, description) in drift.labels(rep.env).items():
                github.ensure_label(repository, name, color, description)
            issue = github.create_issue(repository, drift.issue_title(rep.env), body, wanted)
            ui.step(f"{rep.env}: opened drift issue #{issue.number} {issue.html_url}")
            return plan
        assert plan.number is not None
        if plan.action is drift.IssueAction.CLOSE:
            github.comment_issue(repository, plan.number, plan.comment)
            github.close_issue(repository, plan.number, "completed")
            ui.step(f"{rep.env}: closed drift issue #{plan.number} (clean again)")
            return plan
        if plan.action is drift.IssueAction.REOPEN:
            github.update_issue(repository, plan.number, body=body, state="open")
            ui.step(f"{rep.env}: reopened drift issue #{plan.number} (the drift is back)")
        else:
            github.update_issue(repository, plan.number, body=body)
            ui.step(f"{rep.env}: updated drift issue #{plan.number}")
        if plan.comment:
            github.comment_issue(repository, plan.number, plan.comment)
        return plan


def demo_excerpt(env: Mapping[str, str], env_name: str) -> str:
    """For `make demo`: the drift summary of one env (no issue)."""
    ctx = context.load(env)
    out = ctx.settings.state_dir / "plans" / "drift" / env_name
    plan_env(ctx, env_name, out)
    summary = PlanSummary.from_dict(json.loads((out / "summary.json").read_text()))
    policy = env_policy(ctx.config, env_name)
    text = (out / "plan.txt").read_text() if (out / "plan.txt").is_file() else ""
    deleted = drift.deleted_outside(json.loads((out / "plan.json").read_text()))
    return drift.summary_markdown(drift.report(
        summary, text, endpoints_reaped=policy.reapable and not policy.protected,
        deleted=deleted))
