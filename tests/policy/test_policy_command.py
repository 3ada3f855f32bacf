"""`mlops policy check|scan` end to end (real regopy, real files), and core.policy."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from mlops.commands import policy as policy_command
from mlops.core import policy
from mlops.errors import MlopsError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ENV = {"MLOPS_ROOT": str(ROOT), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def run(*argv: str, env: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    policy_command.register(parser.add_subparsers())
    args = parser.parse_args(["policy", *argv])
    result: int = args.func(args, ENV if env is None else env)
    return result


def plan_dir(tmp_path: Path, fixture: str, name: str = "plan") -> Path:
    directory = tmp_path / name
    directory.mkdir()
    shutil.copy(FIXTURES / f"{fixture}.json", directory / "plan.json")
    return directory


def test_failing_plan_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = plan_dir(tmp_path, "destroy_fail")
    assert run("check", "--env", "prod", str(directory)) == 1
    out = capsys.readouterr().out
    assert f"FAIL {directory / 'plan.json'} (env prod): 3 policy violations" in out
    assert (
        "  - [destroy] aws_dynamodb_table.runs: stateful aws_dynamodb_table would be "
        "destroyed in prod" in out
    )
    assert "add the PR label allow-destroy:prod and re-run" in out
    assert "policy gate: FAILED: 3 violation(s) in 1 of 1 plan(s)" in out
    written = json.loads((directory / "policy.json").read_text())
    assert written["passed"] is False
    assert written["env"] == "prod"
    assert [v["address"] for v in written["violations"]] == [
        "aws_dynamodb_table.runs",
        "aws_ecr_repository.trainer",
        "aws_s3_bucket.models",
    ]
    assert set(written["violations"][0]) == {"rule", "address", "message"}


def test_labels_from_the_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = plan_dir(tmp_path, "destroy_fail")
    env = {**ENV, "MLOPS_PR_LABELS": "documentation, allow-destroy:prod"}
    assert run("check", "--env", "prod", str(directory), env=env) == 0
    assert json.loads((directory / "policy.json").read_text()) == {
        "env": "prod",
        "labels": ["documentation", "allow-destroy:prod"],
        "passed": True,
        "violations": [],
    }
    # --labels wins over the environment
    assert run("check", "--env", "prod", "--labels", "", str(directory), env=env) == 1
    capsys.readouterr()


def test_several_plans_and_a_plain_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = plan_dir(tmp_path, "s3_pass", "ok")
    bad = FIXTURES / "network_fail.json"
    assert run("check", "--env", "dev", str(ok), str(bad)) == 1
    out = capsys.readouterr().out
    assert f"PASS {ok / 'plan.json'} (env dev): no policy violations" in out
    assert f"FAIL {bad} (env dev): 4 policy violations" in out
    assert (ok / "policy.json").is_file()
    assert not (FIXTURES / "policy.json").exists()  # only plan dirs get a policy.json


def test_all_passing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("check", "--env", "dev", str(plan_dir(tmp_path, "tags_pass"))) == 0
    assert capsys.readouterr().out.endswith("policy gate: passed (1 plan(s))\n")


@pytest.mark.parametrize(
    ("content", "what", "why"),
    [
        (None, "no plan at", "plan dir holding plan.json"),
        ("{not json", "cannot read", "Expecting property name"),
        ("[]", "is not a Terraform plan document", "not a JSON object"),
        (
            '{"format_version": "1.0", "values": {}}',
            "is not a Terraform plan document",
            "state document",
        ),
        (
            '{"format_version": "2.0", "planned_values": {}}',
            "is not a Terraform plan document",
            "is not 1.x",
        ),
        ('{"planned_values": {}}', "is not a Terraform plan document", "no format_version"),
        (
            '{"format_version": "1.2", "planned_values": {}, '
            '"variables": {"env": {"value": "dev"}}}',
            "is not a plan for env prod",
            "var.env = 'dev'",
        ),
        (
            '{"format_version": "1.2", "planned_values": {}, '
            '"variables": {"env": {"value": "prod"}, "tier": {"value": "dev"}}}',
            "is not a plan for env prod",
            "var.tier = 'dev', but mlops.yaml gives env 'prod' the tier 'prod'",
        ),
    ],
)
def test_bad_plans(tmp_path: Path, content: str | None, what: str, why: str) -> None:
    directory = tmp_path / "plan"
    directory.mkdir()
    if content is not None:
        (directory / "plan.json").write_text(content)
    with pytest.raises(MlopsError) as info:
        run("check", "--env", "prod", str(directory))
    assert what in info.value.what
    assert why in info.value.why
    assert info.value.fix


def test_env_not_in_mlops_yaml_is_refused(tmp_path: Path) -> None:
    """The tier and protection come from mlops.yaml: an env it does not list has neither."""
    with pytest.raises(MlopsError) as info:
        run("check", "--env", "qa", str(FIXTURES / "tags_pass.json"))
    assert info.value.what == "unknown env 'qa'"
    assert "mlops env add qa" in info.value.fix


def test_broken_policy_names_the_file(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "bad.rego").write_text("package main\nimport rego.v1\ndeny contains x if {\n")
    with pytest.raises(MlopsError) as info:
        run(
            "check", "--env", "dev", "--policy-dir", str(policies), str(FIXTURES / "tags_pass.json")
        )
    assert info.value.what == "the Rego policies could not be evaluated"
    assert "bad.rego" in info.value.why


@pytest.mark.parametrize(
    ("files", "what"),
    [
        ({}, "no .rego files"),
        ({"a.rego": "package main\n", "data/x.yaml": "- 1\n"}, "is not a mapping"),
        (
            {"a.rego": "package main\n", "data/x.yaml": "k: 1\n", "data/y.yaml": "k: 2\n"},
            "policy data key 'k' is defined in x.yaml and y.yaml",
        ),
        ({"a.rego": "package main\n", "data/x.yaml": "k: [\n"}, "cannot parse policy data"),
        (
            {"a.rego": "package main\n", "data/x.yaml": "context: {env: prod}\n"},
            "policy data is invalid",
        ),
    ],
)
def test_bad_policy_dirs(tmp_path: Path, files: dict[str, str], what: str) -> None:
    policies = tmp_path / "policies"
    (policies / "data").mkdir(parents=True)
    for name, text in files.items():
        (policies / name).write_text(text)
    with pytest.raises(MlopsError) as info:
        run(
            "check", "--env", "dev", "--policy-dir", str(policies), str(FIXTURES / "tags_pass.json")
        )
    assert what in info.value.what


def test_conftest_style_string_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "simple.rego").write_text(
        "package main\nimport rego.v1\n\n"
        "deny contains msg if {\n"
        "\tsome rc in input.resource_changes\n"
        '\trc.type == "aws_iam_role_policy"\n'
        '\tmsg := concat("", ["no inline policies: ", rc.address])\n'
        "}\n"
    )
    plan = FIXTURES / "tags_pass.json"
    assert run("check", "--env", "dev", "--policy-dir", str(policies), str(plan)) == 1
    assert "  - [deny] no inline policies: aws_iam_role_policy.trainer" in capsys.readouterr().out


def fake_checkov(tmp_path: Path, exit_code: int) -> tuple[Path, Path]:
    """A stand-in checkov binary (an external tool) that records its arguments."""
    record = tmp_path / "args.txt"
    script = tmp_path / "checkov"
    script.write_text(
        f'#!/bin/sh\necho "$@" > "{record}"\necho "$PWD" >> "{record}"\nexit {exit_code}\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, record


def test_scan_runs_checkov_offline_from_the_root(tmp_path: Path) -> None:
    script, record = fake_checkov(tmp_path, 1)
    assert run("scan", "--", "--check", "CKV_AWS_20", env={**ENV, "CHECKOV": str(script)}) == 1
    args, cwd = record.read_text().splitlines()
    assert args == f"--config-file {ROOT / '.checkov.yaml'} --skip-download --check CKV_AWS_20"
    assert Path(cwd) == ROOT


def test_scan_with_a_missing_checkov(tmp_path: Path) -> None:
    with pytest.raises(MlopsError, match="does not exist"):
        run("scan", env={**ENV, "CHECKOV": str(tmp_path / "nope")})


def test_checkov_config_skips_have_reasons() -> None:
    # Every skip-check entry in .checkov.yaml is preceded by a comment saying why.
    lines = (ROOT / ".checkov.yaml").read_text().splitlines()
    start = lines.index("skip-check:")
    for i, line in enumerate(lines[start + 1 :], start + 1):
        if line.strip().startswith("- "):
            assert lines[i - 1].strip().startswith("#"), f".checkov.yaml:{i + 1}: {line.strip()}"


# --- core.policy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, ()), ("", ()), ("a", ("a",)), (" a, b ,,a ", ("a", "b"))],
)
def test_parse_labels(text: str | None, expected: tuple[str, ...]) -> None:
    assert policy.parse_labels(text) == expected


def test_parse_violations_sorts_and_deduplicates() -> None:
    raw: list[Any] = [
        {"msg": "b: x", "rule": "s3", "address": "b"},
        "plain message",
        {"msg": "a: y", "rule": "s3", "address": "a"},
        {"msg": "b: x", "rule": "s3", "address": "b"},
    ]
    assert policy.parse_violations(raw) == (
        policy.Violation("", "", "plain message"),
        policy.Violation("s3", "a", "a: y"),
        policy.Violation("s3", "b", "b: x"),
    )
    assert policy.parse_violations(None) == ()


@pytest.mark.parametrize("raw", [{"msg": "x"}, [1], [{"rule": "x"}], "x"])
def test_parse_violations_rejects_other_shapes(raw: Any) -> None:
    with pytest.raises(ValueError):
        policy.parse_violations(raw)
