"""`mlops apply --env ENV`: apply an env on merge, only as it was reviewed.

  mlops apply --env ENV [--commit SHA] [--repo OWNER/NAME] [--lock-timeout 5m]
              [--plan DIR] [--out DIR] [--allow-unreviewed]

1. Plans the env at the merge commit (or takes the saved plan in --plan DIR) and computes
   its fingerprint (core/fingerprint.py): what the apply would do.
2. Finds what reviewers saw: the pull request of the commit (GitHub's commits -> pulls
   API), its sticky plan comment, and that comment's record for the env (fingerprint,
   status, the commit it was planned at).
3. core/guard.py decides. Same fingerprint: applies exactly that saved plan, with
   Terraform's lock timeout. Anything else: applies nothing, says why, and exits with the
   outcome's own code (the table in core/guard.py and docs/apply.md). A changed plan is
   shown in the job summary and as a notice on the merged PR's comment, with the changes
   added, removed or changed relative to the reviewed plan.
4. After an apply (applied, failed or partial), writes a deployment record to the state
   bucket (deployments/<env>/) and the job summary.

--allow-unreviewed (the workflow_dispatch path) applies what the guard would refuse, and
the record says so.

Every Terraform log is masked with the plan's sensitive values, as the plan output is:
Terraform prints them in clear when they flow into attributes the provider does not mark
(e.g. `terraform_data.output`). So are the outputs in the deployment record.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops import argtypes, context, ui
from mlops.adapters import actions
from mlops.adapters.deployments import DeploymentLog
from mlops.adapters.statelock import default_who
from mlops.adapters.terraform import StateLocked, Terraform, TerraformError
from mlops.commands.plan import base_masker, default_out, detect_commit, init_env, plan_env
from mlops.core import comment, deployments, fingerprint, guard, masking, plansummary
from mlops.core.deployments import Record
from mlops.errors import MlopsError

DEFAULT_LOCK_TIMEOUT = "5m"
REPO_ENV = "GITHUB_REPOSITORY"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "apply", help="apply an env on merge, only if its plan is the one reviewed on the PR",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, type=argtypes.env_name,
                        help="env root to apply (a name from `mlops env list`)")
    parser.add_argument("--plan", type=Path,
                        help="apply the saved plan in this directory (from `mlops plan`) "
                             "instead of planning now; it passes the same guard")
    parser.add_argument("--out", type=Path, help="where to plan (default .mlops/plans/ENV)")
    parser.add_argument("--commit", help="the merge commit being applied (default: GITHUB_SHA, "
                                         "else git HEAD)")
    parser.add_argument("--repo", help="OWNER/NAME whose pull requests are checked (default: "
                                       "GITHUB_REPOSITORY, else github_repo in mlops.yaml)")
    parser.add_argument("--lock-timeout", default=DEFAULT_LOCK_TIMEOUT,
                        help="how long Terraform waits for the state lock (default 5m)")
    parser.add_argument("--reason", default="", type=argtypes.reason,
                        help="why, in one line: kept in the deployment record (the dispatch "
                        "workflows pass their reason input)")
    parser.add_argument("--approved-fingerprint", default="", type=argtypes.fingerprint,
                        metavar="FP", help="apply only if the plan's fingerprint is this one "
                        "(or starts with it): what a reviewer approved after the guard held a "
                        "changed plan (main.yml's approve job)")
    parser.add_argument("--allow-unreviewed", action="store_true",
                        help="apply even if the guard refuses (workflow_dispatch); recorded")
    parser.set_defaults(func=run)


class GuardRefused(MlopsError):
    """The guard refused the apply; the exit code is the outcome's (core/guard.py)."""

    def __init__(self, decision: guard.Decision) -> None:
        super().__init__(decision.what, decision.why, decision.fix)
        self.exit_code = decision.exit_code
        self.decision = decision


class ApplyFailed(MlopsError):
    exit_code = 1


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


# ---------------------------------------------------------------- shared with rollback/destroy


def actor(env: Mapping[str, str]) -> str:
    who = env.get("GITHUB_ACTOR")
    return f"{who} (GitHub Actions)" if who else default_who()


def run_url(env: Mapping[str, str]) -> str:
    return comment.run_url(env.get("GITHUB_SERVER_URL"), env.get(REPO_ENV),
                           env.get("GITHUB_RUN_ID")) or ""


def repo_of(ctx: context.Context, given: str | None) -> str:
    return given or ctx.env.get(REPO_ENV) or ctx.config.github_repo


def load_summary(plan_dir: Path) -> plansummary.PlanSummary:
    path = plan_dir / "summary.json"
    try:
        summary = plansummary.PlanSummary.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError) as err:
        raise MlopsError(f"cannot read {path}", str(err),
                         "re-run `mlops plan` to write the plan directory again") from err
    if summary.status == "ok" and not summary.fingerprint:
        plan = json.loads((plan_dir / "plan.json").read_text())
        printed = fingerprint.fingerprint(plan, summary.env)
        summary = replace(summary, fingerprint=printed.digest,
                          fingerprint_items=dict(printed.items))
    return summary


def saved_plan(ctx: context.Context, env_name: str, plan_dir: Path,
               tf: Terraform) -> tuple[dict[str, Any], plansummary.PlanSummary]:
    """The saved plan in plan_dir as it will be applied: its `terraform show -json`, read
    from plan.tfplan itself (never from a plan.json beside it, which could be another
    plan's), and the summary of exactly that plan, which the guard then checks. A
    summary.json whose fingerprint is not that plan's is refused."""
    with ui.stage(f"{env_name}: terraform show -json (the saved plan, as it will be applied)"):
        plan = tf.show_json(plan_dir / "plan.tfplan")
    recorded = load_summary(plan_dir)  # its status and the commit it was planned at
    if recorded.status != "ok":
        return plan, recorded
    masker = base_masker(ctx).with_literals(masking.sensitive_strings(plan))
    try:
        actual = plansummary.summarize(plan, env_name, masker=masker, mode=recorded.mode,
                                       commit=recorded.commit)
    except ValueError as err:
        raise MlopsError(f"{plan_dir / 'plan.tfplan'} cannot be summarised", str(err),
                         f"re-run `mlops plan --env {env_name} --out {plan_dir}`") from err
    if recorded.fingerprint and recorded.fingerprint != actual.fingerprint:
        raise MlopsError(
            f"{plan_dir / 'summary.json'} is not the summary of {plan_dir / 'plan.tfplan'}",
            f"their fingerprints differ ({recorded.fingerprint[:12]} recorded, "
            f"{actual.fingerprint[:12]} in the plan file): the directory mixes two plans",
            f"re-run `mlops plan --env {env_name} --out {plan_dir}`; nothing was applied")
    return plan, actual


def serial(value: int | None) -> str:
    return "none (no state yet)" if value is None else str(value)


@dataclass
class Applied:
    record: Record
    key: str


def apply_and_record(ctx: context.Context, env_name: str, tf: Terraform, plan_file: Path, *,
                     plan: Mapping[str, Any], lock_timeout: str, base: Record) -> Applied:
    """Apply a saved plan and record the deployment (applied, failed or partial). `plan` is
    that plan's `terraform show -json`: its sensitive values are masked in Terraform's log,
    the recorded outputs and the error. A state lock held past the timeout raises
    StateLocked (exit 8) and records nothing: nothing was attempted."""
    masker = base_masker(ctx).with_literals(masking.sensitive_strings(plan))
    tf = replace(tf, mask=masker.mask)
    lock = ctx.state_lock(env_name)
    log = DeploymentLog(lock.s3, lock.bucket, env_name)
    before = lock.state_serial()
    error: MlopsError | None = None
    with ui.stage(f"{env_name}: terraform apply (lock timeout {lock_timeout})"):
        try:
            tf.apply(plan_file, lock_timeout=lock_timeout)
        except StateLocked:
            raise
        except TerraformError as err:
            error = err
    after = lock.state_serial()
    outcome: deployments.Result = "applied"
    if error is not None:
        outcome = "partial" if after != before else "failed"
    outputs: dict[str, Any] = {}
    try:
        # Unmarked outputs can carry a sensitive value (terraform_data.output): masked.
        outputs = masking.mask_leaves(tf.output_values(), masker)
    except MlopsError:
        outputs = {}  # a failed first apply may leave no outputs to read
    record = replace(base, outcome=outcome, time=datetime.now(UTC),
                     state_serial_before=before, state_serial_after=after, outputs=outputs,
                     error=masker.mask(error.what)[:500] if error else "")
    key = log.write(record)
    actions.step_summary(ctx.env, record.summary_markdown())
    ui.info(f"deployment record: s3://{lock.bucket}/{key}")
    if error is not None:
        if outcome == "partial":
            raise ApplyFailed(
                f"{env_name}: the apply failed part-way (state serial {serial(before)} -> "
                f"{serial(after)})",
                f"{error.what}\n{error.why}\nsome changes were applied and recorded in the "
                "state; the rest were not",
                "fix the cause and re-apply (`mlops apply --env "
                f"{env_name}` plans again from the state as it is now); see docs/runbook.md "
                "'A partial apply'") from error
        raise ApplyFailed(f"{env_name}: terraform apply failed; nothing was changed "
                          f"(state serial {serial(before)})", f"{error.what}\n{error.why}",
                          error.fix) from error
    return Applied(record, key)


# ---------------------------------------------------------------- the review


@dataclass
class Review:
    pull: guard.PullFacts | None
    comment_id: int | None
    comment_body: str
    reviewed: comment.ReviewedPlan | None
    looked_up: bool = True


def find_review(ctx: context.Context, repo: str, commit: str, env_name: str,
                github: Any) -> Review:
    """The pull request of `commit`, its sticky plan comment, and its record for the env."""
    with ui.stage(f"{env_name}: finding the pull request of {commit[:12]} in {repo}"):
        pulls = github.pulls_for_commit(repo, commit)
        chosen = guard.choose_pull(pulls, commit)
        if chosen is None:
            return Review(None, None, "", None)
        full = github.get_pull(repo, chosen.number)
        facts = guard.PullFacts(full.number, full.head_sha, full.merged, full.html_url)
        ours = [c for c in github.list_comments(repo, full.number)
                if comment.is_plan_comment(c.body)]
        if not ours:
            return Review(facts, None, "", None)
        sticky = min(ours, key=lambda c: c.id)
        try:
            plans = comment.reviewed_plans(sticky.body)
        except ValueError as err:
            raise MlopsError(f"the plan comment on PR #{full.number} cannot be read",
                             str(err), "re-run the plan on the pull request") from err
        ui.info(f"PR #{full.number} ({full.html_url}); plan comment {sticky.id}")
        return Review(facts, sticky.id, sticky.body, plans.get(env_name))


def report_changed(ctx: context.Context, env_name: str, plan_dir: Path,
                   summary: plansummary.PlanSummary, review: Review, repo: str,
                   decision: guard.Decision, github: Any | None) -> None:
    """Show the new plan and what differs: stderr, job summary, and a notice on the PR
    comment (when the PR was looked up: not for a plan that changed after approval)."""
    diff = fingerprint.compare(review.reviewed.items if review.reviewed else None,
                               summary.fingerprint_items)
    for line in diff.lines():
        ui.info(line)
    text = (plan_dir / "plan.txt").read_text() if (plan_dir / "plan.txt").is_file() else ""
    notice = comment.notice_section(
        comment.PlanInput(summary, text),
        title=(f"Not applied at merge: the plan of {env_name} changed since it was reviewed "
               f"(fingerprint {decision_fp(review)} reviewed, {summary.fingerprint[:12]} at "
               f"{summary.commit[:12] or 'the merge commit'})." if github is not None
               else f"{decision.what}."),
        details=[*diff.lines(), "Approve the apply in the protected environment, or open a "
                                "new pull request."] + ([f"Run: {run_url(ctx.env)}"]
                                                        if run_url(ctx.env) else []),
        production=[s.name for s in ctx.config.specs if s.tier == "prod"],
        masker=ctx.masker())
    actions.step_summary(ctx.env, notice)
    if github is not None and review.comment_id is not None and review.pull is not None:
        body = comment.with_notice(review.comment_body, notice)
        github.update_comment(repo, review.comment_id, body)
        ui.info(f"noted on PR #{review.pull.number}'s plan comment")


def decision_fp(review: Review) -> str:
    return review.reviewed.fingerprint[:12] if review.reviewed else "-"


# ---------------------------------------------------------------- the command


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    ctx = context.load(env)
    ctx.config.require_env(args.env)
    commit = args.commit or ctx.env.get("GITHUB_SHA") or detect_commit(ctx)
    repo = repo_of(ctx, args.repo)
    if args.plan is not None:
        if not (args.plan / "plan.tfplan").is_file():
            raise MlopsError(f"no plan.tfplan in {args.plan}",
                             "--plan takes a directory written by `mlops plan`",
                             f"run `mlops plan --env {args.env} --out {args.plan}` first")
        check_plan_env(args.plan, args.env)
    # The credentials are of the env's account and its state bucket exists (else: apply
    # bootstrap/ first), before anything else: apply writes its records there itself.
    ctx.checked_state_bucket(args.env)
    if not commit and not args.allow_unreviewed:
        raise MlopsError("cannot tell which commit is being applied",
                         "neither --commit nor GITHUB_SHA is set, and this is no git checkout",
                         "pass --commit SHA (the merge commit), or --allow-unreviewed")
    token = ctx.env.get("GITHUB_TOKEN", "")
    if not token and not (args.allow_unreviewed or args.approved_fingerprint):
        raise MlopsError(
            "GITHUB_TOKEN is not set",
            "the guard reads the merged pull request's plan comment through the GitHub API",
            "in the workflow step add env: GITHUB_TOKEN: ${{ github.token }} (permissions: "
            "contents: read, pull-requests: write); to apply without review: "
            "--allow-unreviewed")

    if args.plan is not None:
        plan_dir = args.plan
        tf = init_env(ctx, args.env)
        plan, summary = saved_plan(ctx, args.env, plan_dir, tf)
    else:
        plan_dir = args.out or default_out(ctx, args.env)
        plan_env(ctx, args.env, plan_dir, commit=commit, lock_timeout=args.lock_timeout)
        print((plan_dir / "plan.txt").read_text())
        tf = init_env(ctx, args.env)
        plan = json.loads((plan_dir / "plan.json").read_text())  # of the plan just made
        summary = load_summary(plan_dir)
    if summary.status != "ok":
        raise MlopsError(f"the plan in {plan_dir} failed", summary.error[:2000],
                         "fix the error and re-run")
    # For a held apply's approval: the approve job passes it back (--approved-fingerprint).
    actions.outputs(ctx.env, {"fingerprint": summary.fingerprint})

    import requests

    from mlops.adapters.github import from_env

    with requests.Session() as session:
        github = (from_env(ctx.env, session) if token and commit
                  and not args.approved_fingerprint else None)
        review = (find_review(ctx, repo, commit, args.env, github) if github is not None
                  else Review(None, None, "", None, looked_up=False))
        decision = guard.decide(env=args.env, commit=commit, pull=review.pull,
                                comment_found=review.comment_id is not None,
                                reviewed=review.reviewed, fingerprint=summary.fingerprint,
                                has_changes=summary.has_changes,
                                allow_unreviewed=args.allow_unreviewed,
                                approved=args.approved_fingerprint)
        if not review.looked_up and decision.outcome == guard.Outcome.UNREVIEWED:
            decision = replace(decision, what=f"{args.env}: applying without review "
                                              "(--allow-unreviewed; no GITHUB_TOKEN or no "
                                              "commit, so no pull request was looked up)")
        ui.step(decision.what)
        if not decision.apply:
            if decision.outcome == guard.Outcome.NOTHING:
                return 0
            if decision.outcome == guard.Outcome.CHANGED:
                report_changed(ctx, args.env, plan_dir, summary, review, repo, decision, github)
            else:
                actions.step_summary(ctx.env, f"> [!CAUTION]\n> ⛔ {decision.what}\n>\n"
                                              f"> {decision.why}\n>\n> {decision.fix}\n")
            raise GuardRefused(decision)

    review_label = (decision.outcome.value if decision.refused is None
                    else f"{decision.outcome.value} ({decision.refused.value})")
    if not review.looked_up and not args.approved_fingerprint:
        review_label = f"{decision.outcome.value} (no pull request looked up)"
    base = Record(env=args.env, kind="apply", outcome="applied", commit=commit,
                  time=datetime.now(UTC), actor=actor(ctx.env), fingerprint=summary.fingerprint,
                  reviewed=decision.reviewed, review=review_label,
                  pr=review.pull.number if review.pull else None,
                  pr_url=review.pull.html_url if review.pull else "", run_url=run_url(ctx.env),
                  changes={k: v for k, v in summary.counts.to_dict().items() if v},
                  reason=args.reason)
    applied = apply_and_record(ctx, args.env, tf, plan_dir / "plan.tfplan", plan=plan,
                               lock_timeout=args.lock_timeout, base=base)
    ui.step(f"{args.env}: applied {commit[:12] or 'the working tree'} ({review_label}); "
            f"state serial {serial(applied.record.state_serial_before)} -> "
            f"{serial(applied.record.state_serial_after)}")
    return 0
