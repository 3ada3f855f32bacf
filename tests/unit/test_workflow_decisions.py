"""The decisions the workflows lean on, as tables: which repository variable holds an env's
role ARN, which GitHub environment approves a held apply, the promotion waves main.yml
applies, and the reason a dispatch records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlops.core import changes, deployments, envs, oidc


@pytest.mark.parametrize(("kind", "env", "variable"), [
    ("plan", "dev", "PLAN_ROLE_ARN_DEV"),
    ("apply", "prod", "APPLY_ROLE_ARN_PROD"),
    ("apply", "prod-eu", "APPLY_ROLE_ARN_PROD_EU"),  # GitHub variable names hold no '-'
    ("drift", "stg2", "DRIFT_ROLE_ARN_STG2"),
    ("reaper", "a-b-c", "REAPER_ROLE_ARN_A_B_C"),
])
def test_role_variable(kind: str, env: str, variable: str) -> None:
    assert envs.role_variable(kind, env) == variable
    assert envs.check_env_name(env) == env  # only valid env names are mapped


def test_role_variable_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown role kind 'admin'"):
        envs.role_variable("admin", "dev")


def test_approval_environment_is_per_env() -> None:
    assert envs.approval_environment("prod-eu") == "prod-eu-approval"


@pytest.mark.parametrize(("variables", "name", "found"), [
    ({"APPLY_ROLE_ARN_DEV": "arn:x"}, "APPLY_ROLE_ARN_DEV", "arn:x"),
    ({"apply_role_arn_dev": " arn:x\n"}, "APPLY_ROLE_ARN_DEV", "arn:x"),  # case-insensitive
    ({"APPLY_ROLE_ARN_DEV": "arn:x"}, "PLAN_ROLE_ARN_DEV", ""),
    ({"APPLY_ROLE_ARN_DEV": 3}, "APPLY_ROLE_ARN_DEV", ""),  # not a string: unset
    ({}, "APPLY_ROLE_ARN_DEV", ""),
])
def test_role_from_variables(variables: dict[str, object], name: str, found: str) -> None:
    assert oidc.role_from_variables(variables, name) == found


WAVES = [["dev"], ["staging"], ["prod", "prod-eu"]]


@pytest.mark.parametrize(("affected", "expected"), [
    (["dev", "staging", "prod", "prod-eu"], [["dev"], ["staging"], ["prod", "prod-eu"]]),
    (["prod-eu", "dev"], [["dev"], ["prod-eu"]]),  # empty waves dropped, order kept
    (["staging"], [["staging"]]),
    ([], []),
    (["prod-eu", "prod"], [["prod", "prod-eu"]]),  # the file's order inside a wave
])
def test_affected_waves(affected: list[str], expected: list[list[str]]) -> None:
    assert changes.affected_waves(affected, WAVES) == expected


def test_wave_slots_problem_names_the_waves() -> None:
    assert changes.wave_slots_problem([["dev"], ["prod"]], 2) is None
    problem = changes.wave_slots_problem(WAVES, 2)
    assert problem is not None
    assert "3 promotion waves (dev -> staging -> prod, prod-eu)" in problem, problem
    assert "2 wave jobs" in problem


@pytest.mark.parametrize(("given", "kept"), [
    ("  model  v2 is\tbad ", "model v2 is bad"),
    ("", ""),
    ("line one\nline two", "line one line two"),
])
def test_reason_is_one_line(given: str, kept: str) -> None:
    assert deployments.check_reason(given) == kept


@pytest.mark.parametrize(("given", "message"), [
    ("x" * 301, "301 characters"),
    ("bell\a", "control characters"),
])
def test_bad_reasons_are_refused(given: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        deployments.check_reason(given)


def test_a_record_keeps_its_reason_and_shows_it_in_one_cell() -> None:
    record = deployments.Record(env="dev", kind="rollback", outcome="applied", commit="a" * 40,
                                time=datetime(2026, 1, 2, tzinfo=UTC), actor="octocat",
                                reason="canary | 5xx after deploy")
    again = deployments.Record.from_json(record.to_json())
    assert again.reason == "canary | 5xx after deploy"
    assert "| reason | canary \\| 5xx after deploy |" in record.summary_markdown()
    assert "reason" not in deployments.Record.from_json(
        deployments.Record(env="dev", kind="apply", outcome="applied", commit="",
                           time=record.time, actor="").to_json()).summary_markdown()


SERVING = 'env = "dev"\nserving = {\n  enabled = true # on\n  active_release = "m-1"\n}\n'


@pytest.mark.parametrize(("before", "after", "released"), [
    (SERVING, SERVING.replace("m-1", "m-2"), ("dev",)),  # a new active release
    (SERVING, SERVING.replace("# on", "# still on"), ()),  # a comment is no release
    (SERVING, SERVING.replace("{\n  enabled", "{ enabled"), ()),  # nor is layout
    (SERVING, SERVING.replace('env = "dev"', 'env = "dev2"'), ()),  # outside the block
    ("", SERVING, ("dev",)),  # a new env root with serving
    (SERVING, 'env = "dev"\n', ()),  # serving removed: nothing to promote
    ('x = { serving = { a = 1 } }\n', 'x = { serving = { a = 2 } }\n', ()),  # not top level
])
def test_released_envs(before: str, after: str, released: tuple[str, ...]) -> None:
    assert changes.released_envs(["dev"], {"dev": before}, {"dev": after}) == released
