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
    # Real plans (tests/terraform/test_plan_corpus.py writes them): drift as Terraform shows it.
    ("drift", Counts(add=1, change=2, drift=1)),
    ("refresh_only", Counts(drift=3)),
    ("partly_unknown", Counts(add=1, outputs=4)),
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


def test_drift_rows_are_the_ones_terraform_shows() -> None:
    """A real plan: three buckets changed outside; only the one whose tag a planned change
    reads is shown (`terraform show`: tests/fixtures/plans/drift/plan.txt)."""
    summary = summarize(load("drift"), "dev")
    assert summary.mode == "normal"
    assert [(d.address, d.action) for d in summary.drift] == [("aws_s3_bucket.read", "update")]
    text = (FIXTURES / "drift" / "plan.txt").read_text()
    assert "# aws_s3_bucket.read has changed" in text
    assert "aws_s3_bucket.restored has changed" not in text
    refresh = summarize(load("refresh_only"), "dev")
    assert refresh.mode == "refresh-only"
    assert [(d.address, d.action) for d in refresh.drift] == [
        ("aws_s3_bucket.deleted", "delete"), ("aws_s3_bucket.read", "update"),
        ("aws_s3_bucket.restored", "update")]


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
    # Schema 2 added mode, applyable, complete, actions and deferred (and their counts), and
    # fingerprint, fingerprint_items, commit: for the apply step's stale-plan guard.
    assert set(data) == {"version", "env", "status", "plan_hash", "terraform_version", "counts",
                         "resources", "outputs", "drift", "cost", "prices_as_of", "error",
                         "mode", "applyable", "complete", "actions", "deferred",
                         "fingerprint", "fingerprint_items", "commit"}
    assert data["version"] == plansummary.SCHEMA_VERSION == 2
    assert set(data["counts"]) == {"add", "change", "destroy", "replace", "import", "move",
                                   "read", "forget", "outputs", "drift", "actions", "deferred"}


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


V = plansummary.SCHEMA_VERSION


@pytest.mark.parametrize(("data", "match"), [
    ({"version": 1, "env": "dev", "status": "ok"}, "version"),  # written by an older mlops
    ({"version": V, "env": "dev", "status": "maybe"}, "status"),
    ({"version": V, "status": "ok"}, "malformed"),
    ({"version": V, "env": "dev env", "status": "ok"}, "malformed"),
    ({"version": V, "env": "../etc", "status": "ok"}, "malformed"),
    ({"version": V, "env": "dev", "status": "ok", "resources": [{"type": "x"}]}, "malformed"),
    ({"version": V, "env": "dev", "status": "ok", "counts": ["add"]}, "malformed"),
    ({"version": V, "env": "dev", "status": "ok", "mode": "sideways"}, "mode"),
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


@pytest.mark.parametrize(("value", "expected"), [
    ("pw=hunter22", "pw=***"),
    ({"user": "app", "password": "hunter22"}, {"user": "app", "password": "***"}),
    ({"hunter22": ["a", "token=xyz", 3, None, True]}, {"***": ["a", "token=***", 3, None, True]}),
    ([{"nested": {"deeper": "x hunter22 y"}}], [{"nested": {"deeper": "x *** y"}}]),
    (42, 42),
], ids=["string", "map", "keys-and-lists", "nested", "number"])
def test_mask_leaves_masks_every_string_of_an_output(value: Any, expected: Any) -> None:
    """Deployment records keep Terraform outputs; an unmarked one can carry a secret."""
    masker = Masker(patterns=masking.compile_patterns([r"token=(\S+)"]),
                    literals=frozenset({"hunter22"}))
    assert masking.mask_leaves(value, masker) == expected


@pytest.mark.parametrize("bad", ["(", "", "a*", 5])
def test_compile_patterns_rejects_bad_patterns(bad: Any) -> None:
    from mlops.errors import MlopsError
    with pytest.raises(MlopsError) as err:
        masking.compile_patterns([bad])
    assert "mask_patterns[0]" in err.value.what and err.value.fix


# ---------------------------------------------------------------- drift relevance
#
# Terraform's rules (internal/command/jsonformat/diff.go precomputeDiffs, plan.go
# renderHumanDiffDrift): outside refresh-only plans a drifted resource is shown only when a
# relevant_attributes entry names it (or names no resource) and an attribute under one of
# those paths changed; omitted relevant_attributes (the field is omitempty) means nothing is
# relevant; an otherwise empty plan shows no drift. Terraform never writes an empty list.


def _drift_plan(relevant: list[dict[str, object]] | None, changes: list[str], *,
                output_change: bool = False) -> dict[str, object]:
    plan: dict[str, object] = {
        "format_version": "1.2",
        "applyable": changes != ["no-op"] or output_change,
        "resource_changes": [
            {"address": "aws_s3_bucket.b", "type": "aws_s3_bucket",
             "change": {"actions": changes, "before": {}, "after": {}}},
            {"address": "terraform_data.other", "type": "terraform_data",
             "change": {"actions": ["update"] if changes == ["no-op"] and not output_change
                        else ["no-op"], "before": {}, "after": {}}}],
        "resource_drift": [{"address": "aws_s3_bucket.b", "type": "aws_s3_bucket",
                            "change": {"actions": ["update"],
                                       "before": {"policy": "", "tags": {"env": "dev"},
                                                  "grant": [{"id": "a"}]},
                                       "after": {"policy": "{...}", "tags": {"env": "dev"},
                                                 "grant": [{"id": "a"}]}}}],
    }
    if output_change:
        plan["output_changes"] = {"o": {"actions": ["update"], "before": 1, "after": 2}}
    if relevant is not None:
        plan["relevant_attributes"] = relevant
    return plan


def _ra(attribute: list[object], resource: str = "aws_s3_bucket.b") -> dict[str, object]:
    return {"resource": resource, "attribute": attribute}


@pytest.mark.parametrize(
    ("relevant", "changes", "expected"),
    [
        # omitted: nothing is relevant (not "an older format")
        (None, ["no-op"], 0),
        # what a planned change reads did not change
        ([_ra(["tags"])], ["no-op"], 0),
        ([_ra(["tags", "env"])], ["no-op"], 0),
        ([_ra(["grant"])], ["no-op"], 0),
        # what it reads changed: the attribute, a path below it, the whole resource
        ([_ra(["policy"])], ["no-op"], 1),
        ([_ra([])], ["no-op"], 1),
        ([_ra(["tags"]), _ra(["policy"])], ["no-op"], 1),
        # an entry naming another resource is not about this one; one naming none is
        ([_ra(["policy"], "aws_s3_bucket.other")], ["no-op"], 0),
        ([_ra(["policy"], "")], ["no-op"], 1),
        # the drifted resource being changed by the plan does not make its drift relevant
        (None, ["update"], 0),
        ([_ra(["tags"])], ["update"], 0),
        ([_ra(["policy"])], ["update"], 1),
    ],
)
def test_drift_is_shown_only_where_terraform_shows_it(
        relevant: list[dict[str, object]] | None, changes: list[str], expected: int) -> None:
    summary = plansummary.summarize(_drift_plan(relevant, changes), "dev")
    assert summary.mode == "normal"
    assert summary.counts.drift == expected, (relevant, changes, summary.drift)


def test_an_otherwise_empty_plan_shows_no_drift_even_if_relevant() -> None:
    plan = _drift_plan([_ra([])], ["no-op"])
    plan["resource_changes"] = [plan["resource_changes"][0]]  # type: ignore[index]
    plan["applyable"] = False
    assert plansummary.summarize(plan, "dev").counts.drift == 0
    # An output change is a change: then the relevant drift is shown.
    with_output = _drift_plan([_ra([])], ["no-op"], output_change=True)
    assert plansummary.summarize(with_output, "dev").counts.drift == 1


def test_refresh_only_shows_all_drift_relevant_or_not() -> None:
    plan = {"format_version": "1.2", "applyable": True, "complete": True,
            "resource_drift": _drift_plan(None, ["no-op"])["resource_drift"]}
    assert plansummary.infer_mode(plan) == "refresh-only"
    summary = plansummary.summarize(plan, "dev")
    assert summary.counts.drift == 1 and summary.has_changes
    # Told how the plan was made, the inference is not used.
    assert plansummary.summarize(plan, "dev", mode="normal").counts.drift == 0


@pytest.mark.parametrize(("before", "after", "paths", "changed"), [
    ({"a": {"b": 1, "c": 1}}, {"a": {"b": 1, "c": 2}}, [("a", "b")], False),
    ({"a": {"b": 1, "c": 1}}, {"a": {"b": 2, "c": 1}}, [("a", "b")], True),
    ({"a": None}, {"a": {"c": 1}}, [("a", "b")], True),  # a value appearing
    ({"l": [{"x": 1}, {"x": 2}]}, {"l": [{"x": 1}, {"x": 3}]}, [("l", 0)], False),
    ({"l": [{"x": 1}, {"x": 2}]}, {"l": [{"x": 1}, {"x": 3}]}, [("l", "1")], True),
    ({"l": ["a", "b"]}, {"l": ["a", "c"]}, [("l",)], True),
    ({"s": "x"}, {"s": "x"}, [()], False),
])
def test_relevance_follows_terraform_attribute_paths(
        before: Any, after: Any, paths: list[tuple[Any, ...]], changed: bool) -> None:
    assert plansummary._relevant_change(before, after, paths) is changed


# ---------------------------------------------------------------- unknown values


def test_partly_unknown_output_values() -> None:
    """jsonplan: after_unknown has "all unknown leaf values replaced with true"; `after`
    omits unknown object keys and has null for unknown list elements."""
    plan = {"format_version": "1.2", "output_changes": {
        "obj": {"actions": ["create"], "before": None,
                "after": {"name": "m", "nested": {"a": 1}},
                "after_unknown": {"id": True, "nested": {"b": True}},
                "before_sensitive": False, "after_sensitive": False},
        "list": {"actions": ["create"], "before": None, "after": ["a", None, None],
                 "after_unknown": [False, True, False],
                 "before_sensitive": False, "after_sensitive": False},
        "secret": {"actions": ["create"], "before": None, "after": {"k": "v"},
                   "after_unknown": {"u": True}, "before_sensitive": False,
                   "after_sensitive": {"k": True}},
    }}
    outputs = {o.name: o.after for o in plansummary.summarize(plan, "dev").outputs}
    assert outputs["obj"] == ('{"id": (known after apply), "name": "m", '
                              '"nested": {"a": 1, "b": (known after apply)}}')
    assert outputs["list"] == '["a", (known after apply), null]'
    assert outputs["secret"] == '{"k": "***", "u": (known after apply)}'
    real = {o.name: o.after for o in summarize(load("partly_unknown"), "dev").outputs}
    assert real["list"] == '["first", (known after apply)]'
    assert "(known after apply)" in (FIXTURES / "partly_unknown" / "plan.txt").read_text()


# ---------------------------------------------------------------- actions, deferred, quality
#
# Terraform 1.11 (here) cannot write these fields; their shape is hashicorp/terraform's
# internal/command/jsonplan/action_invocations.go (ActionInvocation, LifecycleActionTrigger,
# InvokeActionTrigger) and resource.go (DeferredResourceChange), plan.go (complete,
# applyable, errored: never omitted in format 1.2).

# tests/fixtures/plans/action_only: one action invoked from the CLI (-invoke), one by a
# lifecycle trigger after an update; a sensitive config value.
ACTION_ONLY = load("action_only")


def test_an_action_only_plan_has_changes() -> None:
    summary = summarize(ACTION_ONLY, "dev")
    assert summary.counts.resource_changes == 0 and summary.counts.actions == 2
    assert summary.has_changes
    assert [(a.address, a.trigger) for a in summary.actions] == [
        ("action.aws_lambda_invoke.notify", "invoke"),
        ("action.aws_lambda_invoke.audit", "after_update of terraform_data.a")]
    assert "p-s3cret-payload" in masking.sensitive_strings(ACTION_ONLY)
    assert PlanSummary.from_dict(json.loads(json.dumps(summary.to_dict()))) == summary


# tests/fixtures/plans/deferred: a resource whose count is unknown, deferred.
DEFERRED = load("deferred")


def test_deferred_changes_make_an_incomplete_plan() -> None:
    summary = summarize(DEFERRED, "dev")
    assert summary.incomplete and summary.counts.deferred == 1
    assert summary.deferred[0].to_dict() == {"address": "aws_s3_bucket.per_env",
                                             "action": "create",
                                             "reason": "instance_count_unknown"}
    assert not summary.has_changes and not summary.not_applyable


def test_not_applyable_with_changes_is_flagged() -> None:
    summary = summarize({**load("creation"), "applyable": False}, "dev")
    assert summary.not_applyable
    assert not summarize(load("creation"), "dev").not_applyable
    assert not summarize(load("noop"), "dev").not_applyable  # no changes: nothing to apply


def test_deleted_data_sources_are_not_shown() -> None:
    plan = {"format_version": "1.2", "resource_changes": [
        {"address": "data.aws_iam_policy_document.p", "mode": "data",
         "type": "aws_iam_policy_document", "change": {"actions": ["delete"]}}]}
    summary = summarize(plan, "dev")
    assert summary.resources == () and summary.counts.destroy == 0
