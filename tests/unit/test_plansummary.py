"""core/plansummary.py on literal plan JSON fixtures (tests/fixtures/plans/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlops.core import masking, plansummary
from mlops.core.masking import MASK, Masker
from mlops.core.plansummary import Counts, PlanSummary, summarize

FIXTURES = Path(__file__).parent.parent / "fixtures" / "plans"
ALL = sorted(p.parent.name for p in FIXTURES.glob("*/plan.json"))


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name / "plan.json").read_text())
    return data


@pytest.mark.parametrize(("fixture", "expected"), [
    ("creation", Counts(add=4)),
    ("sensitive", Counts(change=1, destroy=1, replace=1, move=1, outputs=2)),
    ("replacement", Counts(change=1, replace=2)),
    ("drift", Counts(change=1, drift=2)),
    ("import_move", Counts(change=2, import_=2, move=2, read=1, forget=1)),
    ("outputs", Counts(outputs=6)),
    ("prod_destroy", Counts(destroy=4, replace=1)),
    ("noop", Counts()),
])
def test_counts(fixture: str, expected: Counts) -> None:
    summary = summarize(load(fixture), "dev")
    assert summary.counts == expected, f"{fixture}: {summary.counts} != {expected}"


def test_replacement_is_never_an_add_or_a_destroy() -> None:
    rows = {r.address: r for r in summarize(load("replacement"), "dev").resources}
    both_orders = [r.action for r in rows.values()
                   if r.address != "aws_instance.trainer"]
    assert both_orders == ["replace", "replace"]  # create_before_destroy and the default
    assert rows["aws_instance.trainer"].label == "update"


def test_import_move_read_forget_rows() -> None:
    labels = {r.address: r.label for r in summarize(load("import_move"), "dev").resources}
    assert labels == {
        "aws_ecr_repository.images": "import",
        "aws_s3_bucket.logs": "import + update",
        "module.data.aws_s3_bucket.this": "move",
        "aws_iam_role.new_name": "move + update",
        "data.aws_iam_policy_document.assume": "read",
        "aws_cloudwatch_log_group.legacy": "forget",
    }  # the unchanged bucket has no row
    moved = [r for r in summarize(load("import_move"), "dev").resources if r.previous_address]
    assert moved[0].previous_address == "aws_s3_bucket.data"


def test_drift_rows() -> None:
    summary = summarize(load("drift"), "dev")
    assert [(d.address, d.action) for d in summary.drift] == [
        ("aws_s3_bucket.models", "update"), ("aws_iam_role.old", "delete")]


def test_outputs_sensitive_and_unknown() -> None:
    outputs = {o.name: o for o in summarize(load("outputs"), "dev").outputs}
    assert set(outputs) == {"api_key", "config", "endpoint_arn", "endpoint_name", "model_version",
                            "old_url"}  # the no-op output is not a change
    assert (outputs["api_key"].before, outputs["api_key"].after) == (MASK, MASK)
    assert outputs["api_key"].sensitive
    assert outputs["config"].after == '{"password": "***", "user": "ml"}'
    assert outputs["endpoint_arn"].after == "(known after apply)"
    assert (outputs["old_url"].action, outputs["old_url"].after) == ("delete", None)
    assert (outputs["endpoint_name"].before, outputs["endpoint_name"].after) == (
        None, "mlops-dev-churn")
    dumped = json.dumps(summarize(load("outputs"), "dev").to_dict())
    for secret in ("key-OLD-0001", "key-NEW-0002", "pw-OLD-123", "pw-NEW-456"):
        assert secret not in dumped


def test_stateful_destroys_are_flagged() -> None:
    summary = summarize(load("prod_destroy"), "prod")
    critical = {r.address: r.critical for r in summary.critical}
    assert critical == {"module.storage.aws_s3_bucket.this": "data",
                        "aws_dynamodb_table.features": "data",
                        "aws_sagemaker_endpoint.churn": "serving"}
    assert len(summary.destroys) == 5
    # A created bucket is not critical: only destroys and replacements are.
    assert not summarize(load("creation"), "dev").critical


def test_mask_patterns_apply_to_addresses_and_outputs() -> None:
    plan = load("outputs")
    masker = Masker(patterns=masking.compile_patterns([r"mlops-dev-\w+"]))
    outputs = {o.name: o for o in summarize(plan, "dev", masker=masker).outputs}
    assert outputs["endpoint_name"].after == MASK


def test_plan_hash_is_canonical() -> None:
    plan = load("creation")
    pretty = json.loads(json.dumps(plan, indent=4))
    reordered = dict(reversed(list(plan.items())))
    assert plansummary.plan_hash(pretty) == plansummary.plan_hash(reordered) \
        == plansummary.plan_hash(plan)
    changed = {**plan, "timestamp": "2030-01-01T00:00:00Z"}
    assert plansummary.plan_hash(changed) != plansummary.plan_hash(plan)
    assert len(plansummary.plan_hash(plan)) == 64


@pytest.mark.parametrize("fixture", ALL)
def test_summary_json_round_trip(fixture: str) -> None:
    summary = summarize(load(fixture), "staging")
    data = json.loads(json.dumps(summary.to_dict()))
    assert PlanSummary.from_dict(data) == summary
    # fingerprint, fingerprint_items, commit: for the apply step's stale-plan guard.
    assert set(data) == {"version", "env", "status", "plan_hash", "terraform_version", "counts",
                         "resources", "outputs", "drift", "cost", "prices_as_of", "error",
                         "fingerprint", "fingerprint_items", "commit"}
    assert set(data["counts"]) == {"add", "change", "destroy", "replace", "import", "move",
                                   "read", "forget", "outputs", "drift"}


def test_failed_summary_is_masked_and_clipped() -> None:
    masker = Masker(patterns=masking.compile_patterns([r"token=(\S+)"]))
    summary = plansummary.failed("prod", "Error: boom token=abc123\n" + "x" * 10_000,
                                 masker=masker)
    assert summary.status == "failed" and summary.plan_hash == ""
    assert summary.error.startswith("Error: boom token=***\n")
    assert "characters cut" in summary.error
    assert PlanSummary.from_dict(summary.to_dict()) == summary


def test_errored_plan_is_failed() -> None:
    assert summarize({**load("noop"), "errored": True}, "dev").status == "failed"


@pytest.mark.parametrize(("data", "match"), [
    ({"version": 2, "env": "dev", "status": "ok"}, "version"),
    ({"version": 1, "env": "dev", "status": "maybe"}, "status"),
    ({"version": 1, "status": "ok"}, "malformed"),
    ({"version": 1, "env": "dev env", "status": "ok"}, "malformed"),
    ({"version": 1, "env": "dev", "status": "ok", "resources": [{"type": "x"}]}, "malformed"),
    (["not", "a", "dict"], "object"),
])
def test_from_dict_rejects_bad_summaries(data: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PlanSummary.from_dict(data)


@pytest.mark.parametrize(("plan", "env", "match"), [
    ({"format_version": "0.2"}, "dev", "format_version"),
    ({}, "dev", "format_version"),
    ({"format_version": "1.2"}, "../etc", "not a valid environment"),
])
def test_summarize_rejects_bad_input(plan: dict[str, Any], env: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        summarize(plan, env)


def test_sensitive_strings_found_everywhere_terraform_marks_them() -> None:
    found = masking.sensitive_strings(load("sensitive"))
    # The variable (declared sensitive), the output, and the resource attribute.
    assert {"s3cr3t-token-1", "s3cr3t-token-2"} <= found
    assert "x2" not in found and "v2" not in found  # plain values are not
    # Terraform's own text plan leaks the old token through an unmarked attribute:
    text = (FIXTURES / "sensitive" / "plan.txt").read_text()
    assert "s3cr3t-token-1" in text
    assert "s3cr3t-token-1" not in Masker(literals=found).mask(text)


def test_masker_groups_and_literals() -> None:
    masker = Masker(patterns=masking.compile_patterns([r"token=(\S+)", r"AKIA[0-9A-Z]{16}"]),
                    literals=frozenset({"hunter22", "abc"}))
    text = "token=s3cr3t id=AKIAABCDEFGHIJKLMNOP pw=hunter22 abc"
    assert masker.mask(text) == "token=*** id=*** pw=*** abc"  # "abc" is too short to search


@pytest.mark.parametrize("bad", ["(", "", "a*", 5])
def test_compile_patterns_rejects_bad_patterns(bad: Any) -> None:
    from mlops.errors import MlopsError
    with pytest.raises(MlopsError) as err:
        masking.compile_patterns([bad])
    assert "mask_patterns[0]" in err.value.what and err.value.fix


# ---------------------------------------------------------------- drift relevance


def _drift_plan(relevant: list[dict[str, object]] | None, changes: list[str]) -> dict[str, object]:
    plan: dict[str, object] = {
        "format_version": "1.2",
        "resource_changes": [{"address": "aws_s3_bucket.b", "type": "aws_s3_bucket",
                              "change": {"actions": changes, "before": {}, "after": {}}}],
        "resource_drift": [{"address": "aws_s3_bucket.b", "type": "aws_s3_bucket",
                            "change": {"actions": ["update"],
                                       "before": {"policy": "", "tags": {"env": "dev"}},
                                       "after": {"policy": "{...}", "tags": {"env": "dev"}}}}],
    }
    if relevant is not None:
        plan["relevant_attributes"] = relevant
    return plan


@pytest.mark.parametrize(
    ("relevant", "changes", "expected"),
    [
        # computed attribute filled in by a companion resource, nothing reads it: not drift
        ([], ["no-op"], 0),
        ([{"resource": "aws_s3_bucket.b", "attribute": ["tags"]}], ["no-op"], 0),
        # the changed attribute is read by a planned change: drift
        ([{"resource": "aws_s3_bucket.b", "attribute": ["policy"]}], ["no-op"], 1),
        ([{"resource": "aws_s3_bucket.b", "attribute": []}], ["no-op"], 1),
        # the drifted resource itself will be changed by the plan: drift
        ([], ["update"], 1),
        # plans without relevant_attributes (older format): keep everything
        (None, ["no-op"], 1),
    ],
)
def test_drift_counts_only_what_terraform_calls_relevant(
        relevant: list[dict[str, object]] | None, changes: list[str], expected: int) -> None:
    summary = plansummary.summarize(_drift_plan(relevant, changes), "dev")
    assert summary.counts.drift == expected, (relevant, changes, summary.drift)
