"""core/fingerprint.py on literal plans: what must keep the fingerprint (nothing the apply
would do differently) and what must flip it (anything it would do differently).
The real-Terraform proof is tests/terraform/test_fingerprint_terraform.py."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlops.core import comment, fingerprint
from mlops.core.comment import PlanInput, render
from mlops.core.plansummary import summarize

FIXTURES = Path(__file__).parent.parent / "fixtures" / "plans"
SECRET = "hunter2-very-secret"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name / "plan.json").read_text())
    return data


def base_plan() -> dict[str, Any]:
    """An update, a create with unknowns, a replacement, a delete, a sensitive attribute,
    a no-op with a drifted attribute, an output."""
    return {
        "format_version": "1.2", "terraform_version": "1.11.4",
        "timestamp": "2025-06-01T12:00:00Z",
        "prior_state": {"serial": 7, "lineage": "aaa", "values": {}},
        "resource_drift": [],
        "resource_changes": [
            {"address": "aws_s3_bucket.data", "type": "aws_s3_bucket", "change": {
                "actions": ["update"],
                "before": {"bucket": "b", "tags": {"env": "dev"}, "arn": "arn:b",
                           "last_modified": "t1"},
                "after": {"bucket": "b", "tags": {"env": "dev", "team": "ml"}, "arn": "arn:b",
                          "last_modified": "t1"},
                "after_unknown": {}, "before_sensitive": {}, "after_sensitive": {}}},
            {"address": "aws_iam_role.new", "type": "aws_iam_role", "change": {
                "actions": ["create"], "before": None,
                "after": {"name": "r", "tags": None},
                "after_unknown": {"arn": True, "id": True}, "before_sensitive": False,
                "after_sensitive": {}}},
            {"address": "aws_sagemaker_model.m", "type": "aws_sagemaker_model", "change": {
                "actions": ["delete", "create"],
                "before": {"name": "m", "image": "v1", "arn": "arn:m"},
                "after": {"name": "m", "image": "v2"},
                "after_unknown": {"arn": True}, "before_sensitive": {}, "after_sensitive": {}}},
            {"address": "aws_instance.old", "type": "aws_instance", "change": {
                "actions": ["delete"], "before": {"id": "i-1", "tags": {"a": "b"}},
                "after": None, "after_unknown": {}, "before_sensitive": {},
                "after_sensitive": False}},
            {"address": "aws_ssm_parameter.p", "type": "aws_ssm_parameter", "change": {
                "actions": ["update"], "before": {"name": "p", "value": "old-secret"},
                "after": {"name": "p", "value": SECRET}, "after_unknown": {},
                "before_sensitive": {"value": True}, "after_sensitive": {"value": True}}},
            {"address": "aws_ecr_repository.r", "type": "aws_ecr_repository", "change": {
                "actions": ["no-op"], "before": {"name": "r", "tags_all": {"x": "1"}},
                "after": {"name": "r", "tags_all": {"x": "1"}}, "after_unknown": {},
                "before_sensitive": {}, "after_sensitive": {}}},
        ],
        "output_changes": {
            "endpoint": {"actions": ["update"], "before": "e1", "after": "e2",
                         "after_unknown": False, "before_sensitive": False,
                         "after_sensitive": False},
            "same": {"actions": ["no-op"], "before": "s", "after": "s", "after_unknown": False,
                     "before_sensitive": False, "after_sensitive": False},
        },
    }


def fp(plan: dict[str, Any], env: str = "dev") -> str:
    return fingerprint.fingerprint(plan, env).digest


def rc(plan: dict[str, Any], address: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in plan["resource_changes"] if r["address"] == address)
    return found


Edit = Callable[[dict[str, Any]], None]


def _set(path: list[Any], value: Any) -> Edit:
    def edit(plan: dict[str, Any]) -> None:
        node = plan
        for key in path[:-1]:
            node = rc(node, key) if isinstance(key, str) and key.startswith("aws_") else node[key]
        node[path[-1]] = value
    return edit


SAME: dict[str, Edit] = {
    "timestamp": _set(["timestamp"], "2025-06-02T08:00:00Z"),
    "terraform version": _set(["terraform_version"], "1.11.5"),
    "state serial and lineage": _set(["prior_state"], {"serial": 9, "lineage": "bbb"}),
    "drift reported": _set(["resource_drift"], [{"address": "aws_ecr_repository.r",
                                                 "change": {"actions": ["update"]}}]),
    "drift on a no-op resource": lambda p: rc(p, "aws_ecr_repository.r")["change"].update(
        before={"name": "r", "tags_all": {"x": "2"}}, after={"name": "r", "tags_all": {"x": "2"}}),
    "drift on an unchanged attribute of an updated resource":
        lambda p: [rc(p, "aws_s3_bucket.data")["change"][side].update(last_modified="t9")
                   for side in ("before", "after")] and None,
    "drift on a resource being deleted":
        lambda p: rc(p, "aws_instance.old")["change"]["before"].update(tags={"a": "changed"}),
    "resource order": lambda p: p["resource_changes"].reverse(),
    "no-op output changes value": lambda p: p["output_changes"]["same"].update(
        before="t", after="t"),
    "variables and configuration": _set(["variables"], {"x": {"value": 1}}),
}

DIFFERENT: dict[str, Edit] = {
    "an attribute": lambda p: rc(p, "aws_s3_bucket.data")["change"]["after"]["tags"].update(
        team="data"),
    "a count (one more instance)": lambda p: p["resource_changes"].append({
        "address": "aws_iam_role.new[1]", "change": {"actions": ["create"], "before": None,
                                                     "after": {"name": "r1"}}}),
    "a replacement instead of an update": _set(["aws_s3_bucket.data", "change", "actions"],
                                               ["delete", "create"]),
    "create before destroy": _set(["aws_sagemaker_model.m", "change", "actions"],
                                  ["create", "delete"]),
    "an output": lambda p: p["output_changes"]["endpoint"].update(after="e3"),
    "a sensitive value": lambda p: rc(p, "aws_ssm_parameter.p")["change"]["after"].update(
        value="another-secret"),
    "a known value becoming unknown": lambda p: rc(p, "aws_iam_role.new")["change"][
        "after_unknown"].update(name=True),
    "a delete of another object": lambda p: rc(p, "aws_instance.old")["change"]["before"].update(
        id="i-2"),
    "an import": lambda p: rc(p, "aws_ecr_repository.r")["change"].update(
        importing={"id": "r"}),
    "a move": lambda p: rc(p, "aws_ecr_repository.r").update(previous_address="aws_ecr.r"),
    "errored": _set(["errored"], True),
}


@pytest.mark.parametrize("name", list(SAME))
def test_what_does_not_change_the_apply_keeps_the_fingerprint(name: str) -> None:
    plan = base_plan()
    changed = copy.deepcopy(plan)
    SAME[name](changed)
    assert changed != plan, "the edit must change the plan JSON"
    assert fp(changed) == fp(plan), f"{name}: fingerprint changed"


@pytest.mark.parametrize("name", list(DIFFERENT))
def test_what_changes_the_apply_flips_the_fingerprint(name: str) -> None:
    plan = base_plan()
    changed = copy.deepcopy(plan)
    DIFFERENT[name](changed)
    assert fp(changed) != fp(plan), f"{name}: fingerprint did not change"


def test_env_is_part_of_the_fingerprint() -> None:
    assert fp(base_plan(), "dev") != fp(base_plan(), "staging")


def test_sensitive_values_are_hashed_never_shown() -> None:
    plan = base_plan()
    document = json.dumps(fingerprint.canonical(plan, "dev"))
    assert SECRET not in document and "old-secret" not in document
    assert '"sensitive": "sha256:' in document
    printed = fingerprint.fingerprint(plan, "dev")
    assert SECRET not in json.dumps(dict(printed.items))


def test_unknowns_are_marked() -> None:
    canonical = fingerprint.canonical(base_plan(), "dev")
    new_role = next(r for r in canonical["resources"] if r["address"] == "aws_iam_role.new")
    assert new_role["values"]["after"]["arn"] == {"unknown": True}
    assert new_role["values"]["after"]["name"] == "r"


def test_updates_record_only_what_changes() -> None:
    canonical = fingerprint.canonical(base_plan(), "dev")
    bucket = next(r for r in canonical["resources"] if r["address"] == "aws_s3_bucket.data")
    assert bucket["values"] == {"changed": [[["tags", "team"], None, "ml"]]}


def test_no_op_resources_and_outputs_are_not_items() -> None:
    printed = fingerprint.fingerprint(base_plan(), "dev")
    assert sorted(printed.items) == ["aws_iam_role.new", "aws_instance.old",
                                     "aws_s3_bucket.data", "aws_sagemaker_model.m",
                                     "aws_ssm_parameter.p", "output.endpoint"]


def test_a_plan_with_no_changes_has_a_stable_fingerprint() -> None:
    noop = load("noop")
    other = copy.deepcopy(noop)
    other["timestamp"] = "2030-01-01T00:00:00Z"
    assert fp(noop) == fp(other) and fingerprint.fingerprint(noop, "dev").items == {}


@pytest.mark.parametrize("fixture", ["creation", "drift", "import_move", "noop", "outputs",
                                     "prod_destroy", "replacement", "sensitive"])
def test_every_fixture_plan_has_a_fingerprint(fixture: str) -> None:
    printed = fingerprint.fingerprint(load(fixture), "dev")
    assert len(printed.digest) == 64 and all(len(v) == 12 for v in printed.items.values())


def test_not_a_plan_is_refused() -> None:
    with pytest.raises(ValueError, match="format_version"):
        fingerprint.fingerprint({"format_version": "0.2"}, "dev")


@pytest.mark.parametrize(("reviewed", "new", "expected"), [
    ({"a": "1", "b": "2"}, {"a": "1", "b": "2"}, ((), (), ())),
    ({"a": "1"}, {"a": "1", "b": "2"}, (("b",), (), ())),
    ({"a": "1", "b": "2"}, {"a": "1"}, ((), ("b",), ())),
    ({"a": "1", "b": "2"}, {"a": "9", "b": "2"}, ((), (), ("a",))),
])
def test_compare_says_what_was_added_removed_or_changed(
        reviewed: dict[str, str], new: dict[str, str],
        expected: tuple[tuple[str, ...], ...]) -> None:
    diff = fingerprint.compare(reviewed, new)
    assert (diff.added, diff.removed, diff.changed) == expected
    assert diff.empty == (expected == ((), (), ()))


def test_compare_without_recorded_items_is_unknown() -> None:
    diff = fingerprint.compare(None, {"a": "1"})
    assert not diff.known and not diff.empty and "no per-change digests" in diff.lines()[0]


# ---------------------------------------------------------------- the comment header


def test_header_version_2_round_trips_fingerprint_commit_and_items() -> None:
    summary = summarize(base_plan(), "dev", commit="c" * 40)
    body = render([PlanInput(summary)])
    [reviewed] = comment.reviewed_plans(body).values()
    assert (reviewed.env, reviewed.status, reviewed.fingerprint, reviewed.commit) == (
        "dev", "ok", summary.fingerprint, "c" * 40)
    assert reviewed.items == summary.fingerprint_items and reviewed.version == 2
    assert f"fingerprint `{summary.fingerprint[:12]}`" in body


def test_header_version_2_records_every_env_whatever_the_promotion_order() -> None:
    """Sections follow mlops.yaml's promotion order (issue 7); the header still records
    each env's fingerprint and commit, and reads back the same for every env."""
    order = ("dev", "qa", "staging", "prod", "prod-eu")
    summaries = {env: summarize(base_plan(), env, commit=f"{i}" * 40)
                 for i, env in enumerate(("prod-eu", "dev", "prod", "qa", "staging"))}
    body = render([PlanInput(s) for s in summaries.values()], order=order,
                  production=("prod", "prod-eu"))
    sections = [line.split(" ")[1] for line in body.splitlines() if line.startswith("### ")]
    assert sections == list(order), sections
    reviewed = comment.reviewed_plans(body)
    assert {e: (r.fingerprint, r.commit) for e, r in reviewed.items()} == {
        e: (s.fingerprint, s.commit) for e, s in summaries.items()}
    # The env is part of what is fingerprinted: one plan, two envs, two fingerprints.
    assert reviewed["prod"].fingerprint != reviewed["prod-eu"].fingerprint


def test_a_notice_warns_of_production_by_tier() -> None:
    plan = base_plan()  # has a replacement and a delete
    notice = comment.notice_section(PlanInput(summarize(plan, "prod-eu")), title="changed",
                                    details=["changed: aws_s3_bucket.data"],
                                    production=("prod-eu",))
    assert "**prod-eu**" in notice and "in **production**" in notice, notice
    plain = comment.notice_section(PlanInput(summarize(plan, "prod-eu")), title="changed",
                                   details=[])
    assert "in **production**" not in plain, plain


def test_header_version_1_still_parses() -> None:
    body = (comment.MARKER + '\n<!-- mlops:plans {"plans":{"dev":{"hash":"' + "a" * 64
            + '","status":"ok"}},"v":1} -->\nold comment')
    [reviewed] = comment.reviewed_plans(body).values()
    assert (reviewed.fingerprint, reviewed.commit, reviewed.items, reviewed.version) == (
        "", "", None, 1)


def test_header_escapes_what_would_end_the_html_comment() -> None:
    plan = base_plan()
    plan["resource_changes"].append({"address": 'aws_x.y["-->"]', "change": {
        "actions": ["create"], "before": None, "after": {}}})
    body = render([PlanInput(summarize(plan, "dev"))])
    header_line = body.splitlines()[1]
    assert header_line.count("-->") == 1 and header_line.endswith(" -->")
    assert 'aws_x.y["-->"]' in comment.reviewed_plans(body)["dev"].items  # type: ignore[operator]
