"""The stale-plan guard: may `mlops apply` apply the plan it just made at a merge commit?
Pure: the command gathers the facts (the pull request of the commit, the sticky comment's
record for the env, the new plan) and this decides, with one outcome and one exit code
per case.

| outcome                    | exit | when                                                       |
|----------------------------|------|------------------------------------------------------------|
| apply                      | 0    | the new plan's fingerprint equals the reviewed one          |
| nothing-to-apply           | 0    | the new plan changes nothing (whatever the review said)     |
| unreviewed                 | 0    | --allow-unreviewed: applied anyway, recorded as unreviewed  |
| approved                   | 0    | --approved-fingerprint: the plan is the one a reviewer      |
|                            |      | approved after the guard held it (the `approve` job)        |
| apply-failed               | 1    | terraform apply failed (the record says failed or partial)  |
| (bad input)                | 2    | usage or configuration errors (MlopsError)                  |
| plan-changed               | 3    | the fingerprints differ: never applied silently (also when  |
|                            |      | the plan changed again after it was approved)               |
| no-pull-request            | 4    | the commit came by a direct push: nothing was reviewed      |
| not-planned-in-pr          | 5    | the PR's comment has no plan for this env (or no comment)   |
| reviewed-plan-failed       | 6    | the plan on the PR failed: reviewers saw no plan            |
| reviewed-plan-stale        | 7    | the plan on the PR was made before its last commit, or the  |
|                            |      | comment predates fingerprints (header version 1)            |
| state-locked               | 8    | another run holds the state lock past the lock timeout      |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mlops.core.comment import ReviewedPlan


class Outcome(StrEnum):
    APPLY = "apply"
    NOTHING = "nothing-to-apply"
    UNREVIEWED = "unreviewed"
    APPROVED = "approved"
    APPLY_FAILED = "apply-failed"
    CHANGED = "plan-changed"
    NO_PR = "no-pull-request"
    NOT_PLANNED = "not-planned-in-pr"
    FAILED = "reviewed-plan-failed"
    STALE = "reviewed-plan-stale"
    LOCKED = "state-locked"


EXIT_CODES: Mapping[Outcome, int] = {
    Outcome.APPLY: 0, Outcome.NOTHING: 0, Outcome.UNREVIEWED: 0, Outcome.APPROVED: 0,
    Outcome.APPLY_FAILED: 1,
    Outcome.CHANGED: 3, Outcome.NO_PR: 4, Outcome.NOT_PLANNED: 5, Outcome.FAILED: 6,
    Outcome.STALE: 7, Outcome.LOCKED: 8,
}


@dataclass(frozen=True)
class PullFacts:
    number: int
    head_sha: str
    merged: bool
    html_url: str = ""


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    apply: bool
    what: str
    why: str = ""
    fix: str = ""
    refused: Outcome | None = None  # with --allow-unreviewed: what the guard would have said

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    @property
    def reviewed(self) -> bool:
        return self.outcome in (Outcome.APPLY, Outcome.APPROVED)


def decide(*, env: str, commit: str, pull: PullFacts | None, comment_found: bool,
           reviewed: ReviewedPlan | None, fingerprint: str, has_changes: bool,
           allow_unreviewed: bool = False, approved: str = "") -> Decision:
    """The guard's decision for applying the plan (`fingerprint`) made at `commit`.
    `approved`: the fingerprint (or its first 12+ characters) a reviewer approved after the
    guard held a changed plan; then only that plan is applied, whatever the PR said."""
    short = commit[:12] or "this commit"
    if not has_changes:
        return Decision(Outcome.NOTHING, False,
                        f"{env}: the plan at {short} changes nothing; nothing to apply")
    if approved:
        if fingerprint.startswith(approved):
            return Decision(Outcome.APPROVED, True,
                            f"{env}: the plan at {short} is the plan approved after it was "
                            f"held (fingerprint {fingerprint[:12]})")
        return Decision(
            Outcome.CHANGED, False,
            f"not applying {env}: the plan changed again since it was approved (fingerprint "
            f"{approved[:12]} approved, {fingerprint[:12]} now)",
            "the approval was for the plan the held apply showed; this one differs",
            "review the new plan in this job's summary, then re-run the workflow (the held "
            "apply shows it and asks for approval again)")
    refusal = _refusal(env, short, pull, comment_found, reviewed, fingerprint)
    if refusal is None:
        assert pull is not None
        return Decision(Outcome.APPLY, True,
                        f"{env}: the plan at {short} is the plan reviewed on PR #{pull.number} "
                        f"(fingerprint {fingerprint[:12]})")
    if allow_unreviewed:
        return Decision(Outcome.UNREVIEWED, True,
                        f"{env}: applying an unreviewed plan (--allow-unreviewed): "
                        f"{refusal.what}", refusal.why, refusal.fix, refused=refusal.outcome)
    return refusal


def _refusal(env: str, short: str, pull: PullFacts | None, comment_found: bool,
             reviewed: ReviewedPlan | None, fingerprint: str) -> Decision | None:
    replan = "re-run the plan on a pull request and merge it once the comment is updated"
    dispatch = ("or, to apply without review, run the apply workflow by hand "
                "(workflow_dispatch, `mlops apply --allow-unreviewed`), which is recorded")
    if pull is None:
        return Decision(
            Outcome.NO_PR, False,
            f"not applying {env}: {short} has no pull request (a direct push)",
            "only plans reviewed on a pull request are applied on merge",
            f"open a pull request for the change; {dispatch}")
    if not comment_found or reviewed is None:
        where = (f"PR #{pull.number}'s plan comment has no plan for {env}" if comment_found
                 else f"PR #{pull.number} has no mlops plan comment")
        return Decision(
            Outcome.NOT_PLANNED, False, f"not applying {env}: {where}",
            f"the pull request was not expected to change {env}, but the plan at {short} "
            "has changes that nobody reviewed (drift, or another change merged meanwhile)",
            f"{replan}; {dispatch}")
    if reviewed.status != "ok":
        return Decision(
            Outcome.FAILED, False,
            f"not applying {env}: the plan of {env} on PR #{pull.number} failed",
            "reviewers saw an error, not a plan",
            f"fix the plan on a new pull request; {dispatch}")
    if reviewed.commit and pull.head_sha and reviewed.commit != pull.head_sha:
        return Decision(
            Outcome.STALE, False,
            f"not applying {env}: the plan on PR #{pull.number} was made at "
            f"{reviewed.commit[:12]}, before the PR's last commit {pull.head_sha[:12]}",
            "the last commit was merged without its plan being shown to reviewers",
            f"{replan}; {dispatch}")
    if not reviewed.fingerprint:
        return Decision(
            Outcome.STALE, False,
            f"not applying {env}: the plan comment on PR #{pull.number} records no "
            "fingerprint (it predates the stale-plan guard)",
            "without a fingerprint the reviewed plan cannot be compared with this one",
            f"{replan}; {dispatch}")
    if reviewed.fingerprint != fingerprint:
        return Decision(
            Outcome.CHANGED, False,
            f"not applying {env}: the plan changed since it was reviewed on PR "
            f"#{pull.number} (fingerprint {reviewed.fingerprint[:12]} reviewed, "
            f"{fingerprint[:12]} now)",
            "what the apply would do now differs from what reviewers approved",
            "review the new plan (job summary, and the PR's comment) and approve the apply "
            f"in the protected GitHub environment, or open a new pull request; {dispatch}")
    return None


def choose_pull(pulls: list[Any], commit: str) -> Any | None:
    """The pull request a merge commit belongs to: the merged one whose merge commit it is,
    else the first merged one, else the first one (GitHub returns open PRs for a commit
    not yet on the default branch)."""
    for pull in pulls:
        if getattr(pull, "merged", False) and getattr(pull, "merge_commit_sha", "") == commit:
            return pull
    for pull in pulls:
        if getattr(pull, "merged", False):
            return pull
    return pulls[0] if pulls else None


def plan_commit(event: Mapping[str, Any] | None, github_sha: str, git_head: str) -> str:
    """The commit a plan is made at, as reviewers know it: the pull request's head (the
    workflow checks out a test merge commit whose content is the head merged into the
    base), else GITHUB_SHA, else the checkout's HEAD."""
    if event:
        pull = event.get("pull_request")
        if isinstance(pull, Mapping):
            head = pull.get("head")
            if isinstance(head, Mapping) and isinstance(head.get("sha"), str) and head["sha"]:
                return str(head["sha"])
    return github_sha or git_head
