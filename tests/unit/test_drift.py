"""Drift reports and the drift issue's lifecycle (mlops.core.drift), on literal plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.core import drift, plansummary
from mlops.core.drift import IssueAction, IssueRef

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "plans"
LINK = "https://github.com/acme/infra/actions/runs/42"


def summary(name: str, env: str = "dev") -> plansummary.PlanSummary:
    plan = json.loads((FIXTURES / name / "plan.json").read_text())
    return plansummary.summarize(plan, env)


@pytest.fixture
def drifted() -> drift.DriftReport:
    return drift.report(summary("drift"))


@pytest.fixture
def clean() -> drift.DriftReport:
    return drift.report(summary("noop"))


def test_a_plan_with_changes_outside_terraform_is_drift(drifted: drift.DriftReport) -> None:
    # the drift rows are plansummary's: what Terraform shows under "changed outside"
    assert drifted.drifted and drifted.exit_code == 2
    assert [(d.address, d.action) for d in drifted.outside] == [
        ("aws_s3_bucket.read", "update")]
    assert [(r.address, r.action) for r in drifted.pending] == [
        ("aws_s3_bucket.deleted", "create"), ("aws_s3_bucket.restored", "update"),
        ("terraform_data.reader", "update")]


def test_deleted_outside_reads_the_refresh_not_the_rendered_rows() -> None:
    plan = json.loads((FIXTURES / "drift" / "plan.json").read_text())
    assert drift.deleted_outside(plan) == frozenset({"aws_s3_bucket.deleted"})
    assert drift.deleted_outside({"format_version": "1.2"}) == frozenset()


def test_a_plan_that_changes_nothing_is_clean(clean: drift.DriftReport) -> None:
    assert not clean.drifted and clean.exit_code == 0
    text = drift.summary_markdown(clean, LINK)
    assert "none" in text and f"([run]({LINK}))" in text


def test_changes_never_applied_from_main_are_drift_too() -> None:
    rep = drift.report(summary("creation"))
    assert rep.outside == () and len(rep.pending) == 4 and rep.exit_code == 2
    text = drift.summary_markdown(rep)
    assert "4 change(s) a re-apply of main would make" in text
    assert "Re-applying would change the hourly cost by" in text


def test_a_failed_plan_has_no_drift_to_report() -> None:
    failed = plansummary.failed("dev", "Error: no credentials")
    with pytest.raises(ValueError, match="the plan of dev failed"):
        drift.report(failed)


def test_the_summary_names_each_resource_and_what_happened(drifted: drift.DriftReport) -> None:
    text = drift.summary_markdown(drifted, LINK)
    assert "`dev` no longer matches main" in text
    assert "1 resource(s) changed outside Terraform; 3 change(s) a re-apply" in text
    assert "| `aws_s3_bucket.read` | changed |" in text
    assert "| `aws_s3_bucket.deleted` | create |" in text
    assert "| `aws_s3_bucket.restored` | update in place |" in text


def test_the_body_carries_marker_plan_and_the_dispatch(drifted: drift.DriftReport) -> None:
    body = drift.issue_body(drifted, plan_text="  ~ resource \"aws_s3_bucket\" ...",
                            run_link=LINK, repository="acme/infra",
                            checked_at="2026-01-15T06:00:00Z")
    assert body.startswith(drift.marker("dev", drifted.fingerprint))
    assert drift.parse_marker(body) == ("dev", drifted.fingerprint)
    assert "gh workflow run main.yml --repo acme/infra --ref main -f env=dev" in body
    assert "Remediation is a deliberate act" in body
    assert "<details><summary>The drift plan of dev</summary>" in body
    assert '~ resource "aws_s3_bucket"' in body
    assert "Last checked 2026-01-15T06:00:00Z" in body


def test_a_huge_plan_is_cut_to_fit_an_issue(drifted: drift.DriftReport) -> None:
    body = drift.issue_body(drifted, plan_text="x" * 200_000 + "\n```\n", run_link=None,
                            repository=None, checked_at="now")
    assert len(body.encode("utf-8")) <= drift.MAX_BODY
    assert "(cut: the full plan is in the run's log)" in body
    assert body.rstrip().endswith("reopened if the drift comes back._")


def _ref(number: int, state: str, plan: str = "") -> IssueRef:
    return IssueRef(number, state, drift.marker("dev", plan) + "\n..." if plan else "")


LIFECYCLE = [
    ("drift, no issue: open one", [], True, IssueAction.CREATE, None),
    ("drift, open issue: update it", [_ref(3, "open")], True, IssueAction.UPDATE, 3),
    ("drift, closed issue: reopen the same one", [_ref(3, "closed")], True,
     IssueAction.REOPEN, 3),
    ("drift, several closed: reopen the latest", [_ref(3, "closed"), _ref(9, "closed")], True,
     IssueAction.REOPEN, 9),
    ("drift, open and closed: update the open one", [_ref(9, "closed"), _ref(4, "open")], True,
     IssueAction.UPDATE, 4),
    ("clean, open issue: close it", [_ref(5, "open")], False, IssueAction.CLOSE, 5),
    ("clean, closed issue: nothing", [_ref(5, "closed")], False, IssueAction.NONE, None),
    ("clean, no issue: nothing", [], False, IssueAction.NONE, None),
]


@pytest.mark.parametrize(("found", "is_drift", "action", "number"),
                         [c[1:] for c in LIFECYCLE], ids=[c[0] for c in LIFECYCLE])
def test_issue_lifecycle(found: list[IssueRef], is_drift: bool, action: IssueAction,
                         number: int | None, drifted: drift.DriftReport,
                         clean: drift.DriftReport) -> None:
    plan = drift.plan_issue(found, drifted if is_drift else clean, run_link=LINK)
    assert (plan.action, plan.number) == (action, number)
    if action in (IssueAction.CLOSE, IssueAction.REOPEN):
        assert LINK in plan.comment


def test_two_open_issues_keep_the_oldest_and_name_the_other(drifted: drift.DriftReport) -> None:
    plan = drift.plan_issue([_ref(8, "open"), _ref(2, "open")], drifted, run_link=None)
    assert (plan.action, plan.number, plan.duplicates) == (IssueAction.UPDATE, 2, (8,))


def test_the_fingerprint_follows_the_drift_not_the_plan_file() -> None:
    a = drift.report(summary("drift"), "  ~ tags = { owner = \"x\" }\n")
    b = drift.report(summary("drift"), "  ~ tags = { owner = \"x\" }   \n")  # whitespace
    c = drift.report(summary("drift"), "  ~ tags = { owner = \"y\" }\n")
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_an_update_comments_only_when_the_drift_changed(drifted: drift.DriftReport) -> None:
    same = drift.plan_issue([_ref(3, "open", drifted.fingerprint)], drifted, run_link=LINK)
    other = drift.plan_issue([_ref(3, "open", "0" * 64)], drifted, run_link=LINK)
    assert same.comment == ""
    assert "changed" in other.comment and LINK in other.comment


def test_labels_are_drift_and_the_env() -> None:
    assert set(drift.labels("prod-eu")) == {"drift", "env:prod-eu"}


ENDPOINT = "module.endpoint[0].aws_sagemaker_endpoint.this"


def _reaped_plan(*, also_bucket: bool) -> plansummary.PlanSummary:
    """A reaped endpoint as Terraform renders it: gone in the refresh (no "changed outside"
    row: nothing reads it), re-created by the plan."""
    drift_rows: list[plansummary.DriftRow] = []
    rows = [plansummary.ResourceRow(ENDPOINT, "aws_sagemaker_endpoint", "create")]
    if also_bucket:
        drift_rows.append(plansummary.DriftRow("aws_s3_bucket.b", "aws_s3_bucket", "update"))
        rows.append(plansummary.ResourceRow("aws_s3_bucket.b", "aws_s3_bucket", "update"))
    return plansummary.PlanSummary(env="dev", status="ok", plan_hash="h",
                                   resources=tuple(rows), drift=tuple(drift_rows))


def test_an_endpoint_the_reaper_deleted_is_not_drift_in_a_reaped_env() -> None:
    rep = drift.report(_reaped_plan(also_bucket=False), endpoints_reaped=True,
                       deleted=frozenset({ENDPOINT}))
    assert not rep.drifted and rep.exit_code == 0 and rep.reaped == (ENDPOINT,)
    text = drift.summary_markdown(rep)
    assert "a refreshing plan changes nothing but re-create the reaped endpoints" in text
    assert f"Not drift: `{ENDPOINT}` deleted, as the cost reaper does in `dev`" in text


def test_a_deleted_endpoint_is_drift_where_the_reaper_does_not_go() -> None:
    rep = drift.report(_reaped_plan(also_bucket=False), endpoints_reaped=False,
                       deleted=frozenset({ENDPOINT}))
    assert rep.drifted and rep.reaped == ()
    assert [r.address for r in rep.pending] == [ENDPOINT]


def test_a_new_endpoint_in_the_code_is_not_taken_for_a_reaped_one() -> None:
    rep = drift.report(_reaped_plan(also_bucket=False), endpoints_reaped=True)
    assert rep.drifted and rep.reaped == () and [r.address for r in rep.pending] == [ENDPOINT]


def test_other_drift_next_to_a_reaped_endpoint_still_counts() -> None:
    rep = drift.report(_reaped_plan(also_bucket=True), endpoints_reaped=True,
                       deleted=frozenset({ENDPOINT}))
    assert rep.drifted and rep.reaped == (ENDPOINT,)
    assert [d.address for d in rep.outside] == ["aws_s3_bucket.b"]
    assert [r.address for r in rep.pending] == ["aws_s3_bucket.b"]
    assert "Not drift:" in drift.summary_markdown(rep)
