"""Drift: does an env still match main? And the one GitHub issue per env that says so. Pure.

The command plans the env from main (a refreshing plan, `-detailed-exitcode` semantics);
this module reads the plan's summary (core/plansummary.py: its drift rows are what
Terraform shows under "Objects have changed outside of Terraform"):

- drifted: resources changed outside Terraform, and/or changes a re-apply of main would
  make (a resource deleted by hand shows in both; a merged change never applied only in
  the second). Either way the env does not match main: exit 2. Clean: exit 0. A plan that
  failed is an error (exit 1), and leaves the issue alone.

The issue, found by its labels `drift` and `env:<name>` (never by its title, which people
edit), follows the drift (tfaction's behaviour, not Digger's one-way issue):
  drifted, no issue       -> open one
  drifted, issue open     -> update its body (and comment when the drift changed)
  drifted, issue closed   -> reopen the same issue with the new body
  clean,   issue open     -> comment and close it (completed)
  clean,   no open issue  -> nothing
Remediation stays a deliberate act: the issue shows the drift plan to review and names
the dispatch that re-applies the env from main under the apply guard.

In an env the cost reaper sweeps, a deleted SageMaker endpoint (and the create that would
bring it back) is what the reaper does every evening, not drift: it is listed as reaped
and does not count, so the env's issue is not reopened every morning. Anything else that
changed still does.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mlops.core import cost
from mlops.core.plansummary import DriftRow, PlanSummary, ResourceRow

LABEL = "drift"
LABEL_COLOR = "d93f0b"
ENV_LABEL_COLOR = "c5def5"
MARKER_PREFIX = "<!-- mlops:drift "
MARKER_RE = re.compile(r"^<!-- mlops:drift env=(\S+) drift=([0-9a-f]*) -->$", re.MULTILINE)
MAX_BODY = 65536
MAX_ROWS = 50
# The dispatch that re-applies an env from main under the apply guard.
# TODO(lead, with the apply workflow): keep these in step with main.yml's dispatch inputs.
REAPPLY_WORKFLOW = "main.yml"
REAPPLY_INPUT = "env"

ACTION_WORDS = {"create": "create", "update": "update in place", "delete": "destroy",
                "replace": "replace", "read": "read", "forget": "forget"}
DRIFT_WORDS = {"update": "changed", "delete": "deleted"}


def env_label(env: str) -> str:
    return f"env:{env}"


def labels(env: str) -> dict[str, tuple[str, str]]:
    """name -> (colour, description) of the labels a drift issue carries."""
    return {LABEL: (LABEL_COLOR, "mlops drift: an env no longer matches main"),
            env_label(env): (ENV_LABEL_COLOR, f"mlops: about the {env} env")}


@dataclass(frozen=True)
class DriftReport:
    env: str
    fingerprint: str  # of what drifted and the text plan: equal plans, equal fingerprints
    outside: tuple[DriftRow, ...]  # changed outside Terraform
    pending: tuple[ResourceRow, ...]  # what re-applying main would change
    outputs: int = 0  # output values that would change
    cost_lines: tuple[cost.CostLine, ...] = ()
    reaped: tuple[str, ...] = ()  # endpoint addresses deleted as the reaper does: not drift

    @property
    def drifted(self) -> bool:
        return bool(self.outside or self.pending or self.outputs)

    @property
    def exit_code(self) -> int:
        return 2 if self.drifted else 0


def fingerprint(summary: PlanSummary, plan_text: str) -> str:
    """sha256 of the drift rows, the planned changes and the (masked) text plan, so two plans
    of the same drift match. The plan hash cannot serve: plan.json carries a timestamp."""
    digest = hashlib.sha256()
    for row in summary.drift:
        digest.update(f"drift {row.address} {row.action}\n".encode())
    for change in summary.resources:
        digest.update(f"change {change.address} {change.action}\n".encode())
    for line in plan_text.strip().splitlines():
        digest.update(line.rstrip().encode() + b"\n")
    return digest.hexdigest()


REAPED_TYPE = "aws_sagemaker_endpoint"


def deleted_outside(plan: Mapping[str, Any]) -> frozenset[str]:
    """Addresses the refresh found gone (`resource_drift` entries deleting them). Terraform
    does not list a deletion under "changed outside" unless a planned change reads the
    resource (plansummary's drift rows follow it): the plan then only shows the re-create."""
    found = set()
    for rc in plan.get("resource_drift") or []:
        if isinstance(rc, Mapping) and "delete" in ((rc.get("change") or {}).get("actions")
                                                    or []):
            found.add(str(rc.get("address", "")))
    return frozenset(found)


def report(summary: PlanSummary, plan_text: str = "", *, endpoints_reaped: bool = False,
           deleted: frozenset[str] = frozenset()) -> DriftReport:
    """The drift in a plan of the env from main. Raises ValueError for a failed plan.

    endpoints_reaped: the env is one the cost reaper sweeps, so endpoints deleted outside
    Terraform (`deleted`, from deleted_outside) and their planned re-creation are expected,
    not drift."""
    if summary.status != "ok":
        raise ValueError(f"the plan of {summary.env} failed: there is no drift to report")
    reaped: set[str] = set()
    if endpoints_reaped:
        reaped = {r.address for r in summary.resources if r.type == REAPED_TYPE
                  and r.action == "create" and r.address in deleted}
        reaped |= {d.address for d in summary.drift
                   if d.type == REAPED_TYPE and d.action == "delete"}
    outside = tuple(d for d in summary.drift if d.address not in reaped)
    pending = tuple(r for r in summary.resources
                    if (r.action not in ("no-op", "read") or r.importing or r.previous_address)
                    and not (r.address in reaped and r.action == "create"))
    lines = tuple(c for c in summary.cost if c.address not in reaped)
    return DriftReport(env=summary.env, fingerprint=fingerprint(summary, plan_text),
                       outside=outside, pending=pending, outputs=summary.counts.outputs,
                       cost_lines=lines, reaped=tuple(sorted(reaped)))


# ---------------------------------------------------------------- markdown


def _code(text: str) -> str:
    text = text.replace("\n", " ").replace("|", "\\|")
    ticks = "``" if "`" in text else "`"
    return f"{ticks}{text}{ticks}"


def _fence(text: str) -> str:
    longest = max((len(r) for r in re.findall(r"`{3,}", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}\n{text}\n{ticks}"


def _rows(rows: Sequence[tuple[str, str]], header: tuple[str, str]) -> list[str]:
    shown = list(rows[:MAX_ROWS])
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| {_code(a)} | {b} |" for a, b in shown]
    if len(rows) > len(shown):
        lines.append(f"| … | {len(rows) - len(shown)} more in the plan below |")
    return lines


def summary_markdown(rep: DriftReport, run_link: str | None = None) -> str:
    """The drift summary: the job summary, stdout, and the top of the issue."""
    where = f" ([run]({run_link}))" if run_link else ""
    reaped = ""
    if rep.reaped:
        reaped = (f"\nNot drift: {', '.join(f'`{a}`' for a in rep.reaped)} deleted, as the "
                  f"cost reaper does in `{rep.env}` (its configs and models are kept): "
                  "re-applying the env from main redeploys it.\n")
    if not rep.drifted:
        but = " but re-create the reaped endpoints below" if rep.reaped else ""
        return (f"### Drift in `{rep.env}`: none\n\n`{rep.env}` matches main{where}: a "
                f"refreshing plan changes nothing{but}.\n{reaped}")
    parts = [f"### Drift in `{rep.env}`\n",
             f"`{rep.env}` no longer matches main{where} (drift `{rep.fingerprint[:12]}`):"]
    counts = []
    if rep.outside:
        counts.append(f"{len(rep.outside)} resource(s) changed outside Terraform")
    if rep.pending:
        counts.append(f"{len(rep.pending)} change(s) a re-apply of main would make")
    if rep.outputs:
        counts.append(f"{rep.outputs} output(s) would change")
    parts[-1] += " " + "; ".join(counts) + "."
    if rep.outside:
        parts += ["", "**Changed outside Terraform**", ""]
        parts += _rows([(d.address, DRIFT_WORDS.get(d.action, d.action)) for d in rep.outside],
                       ("resource", "what happened"))
    if rep.pending:
        parts += ["", "**What re-applying main would do**", ""]
        parts += _rows([(r.address, r.label if r.action == "no-op"
                         else ACTION_WORDS.get(r.action, r.action)) for r in rep.pending],
                       ("resource", "action"))
    total = cost.total(rep.cost_lines)
    if rep.cost_lines:
        parts += ["", f"Re-applying would change the hourly cost by {total.render()}."]
    return "\n".join(parts) + "\n" + reaped


def remediation(env: str, repository: str | None) -> str:
    repo = f" --repo {repository}" if repository else ""
    return (
        "**Remediation is a deliberate act.** Review the plan below, then either\n"
        f"- re-apply `{env}` from main under the apply guard: Actions → "
        f"`{REAPPLY_WORKFLOW}` → Run workflow → {REAPPLY_INPUT}: `{env}`, or\n"
        f"  `gh workflow run {REAPPLY_WORKFLOW}{repo} --ref main -f {REAPPLY_INPUT}={env}`;\n"
        "- or keep the change: make it in the Terraform code through a pull request.\n")


def marker(env: str, drift_fingerprint: str) -> str:
    return f"{MARKER_PREFIX}env={env} drift={drift_fingerprint} -->"


def parse_marker(body: str) -> tuple[str, str] | None:
    """(env, drift fingerprint) from a drift issue body; None when it has no marker."""
    match = MARKER_RE.search(body)
    return (match.group(1), match.group(2)) if match else None


def issue_title(env: str) -> str:
    return f"Drift in {env}: it no longer matches main"


def issue_body(rep: DriftReport, *, plan_text: str, run_link: str | None,
               repository: str | None, checked_at: str) -> str:
    """The issue body: marker, summary, remediation, the drift plan (cut to fit)."""
    head = "\n".join([
        marker(rep.env, rep.fingerprint),
        summary_markdown(rep, run_link),
        remediation(rep.env, repository),
    ])
    tail = (f"\n_Last checked {checked_at}. This issue is kept by `mlops drift --env {rep.env} "
            f"--issue` (labels `{LABEL}`, `{env_label(rep.env)}`): updated while {rep.env} "
            "drifts, closed when it is clean, reopened if the drift comes back._\n")
    room = MAX_BODY - len((head + tail).encode("utf-8")) - 200
    text = plan_text.strip() or "(no text plan)"
    if len(text.encode("utf-8")) > room:
        keep = max(room, 0)
        text = text.encode("utf-8")[:keep].decode("utf-8", "ignore").rstrip()
        text += "\n… (cut: the full plan is in the run's log)"
    plan = f"<details><summary>The drift plan of {rep.env}</summary>\n\n{_fence(text)}\n\n" \
           "</details>\n"
    return f"{head}\n{plan}{tail}"


# ---------------------------------------------------------------- the issue


class IssueAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REOPEN = "reopen"
    CLOSE = "close"
    NONE = "none"


@dataclass(frozen=True)
class IssueRef:
    number: int
    state: str  # open | closed
    body: str = ""


@dataclass(frozen=True)
class IssuePlan:
    action: IssueAction
    number: int | None = None
    comment: str = ""  # posted on the issue with the action, when not empty
    duplicates: tuple[int, ...] = ()  # other open issues with the same labels (left alone)


def plan_issue(found: Sequence[IssueRef], rep: DriftReport, *,
               run_link: str | None) -> IssuePlan:
    """What to do with the env's drift issue, given the issues carrying its labels."""
    open_ = sorted((i for i in found if i.state == "open"), key=lambda i: i.number)
    closed = sorted((i for i in found if i.state != "open"), key=lambda i: -i.number)
    run = f" ([run]({run_link}))" if run_link else ""
    current = open_[0] if open_ else None
    duplicates = tuple(i.number for i in open_[1:])
    if not rep.drifted:
        if current is None:
            return IssuePlan(IssueAction.NONE, duplicates=duplicates)
        return IssuePlan(IssueAction.CLOSE, current.number,
                         f"`{rep.env}` matches main again{run}: closing.", duplicates)
    if current is not None:
        previous = parse_marker(current.body)
        changed = previous is not None and previous[1] != rep.fingerprint
        note = f"The drift in `{rep.env}` changed{run}: the body shows the new plan." \
            if changed else ""
        return IssuePlan(IssueAction.UPDATE, current.number, note, duplicates)
    if closed:
        return IssuePlan(IssueAction.REOPEN, closed[0].number,
                         f"The drift in `{rep.env}` is back{run}: reopening.")
    return IssuePlan(IssueAction.CREATE)

