"""bootstrap/operations.tf, applied: the drift and reaper roles per env, assumable only from
the default branch (drift.yml and reaper.yml run on a schedule or a dispatch from it), the
drift role read-only, the reaper role able to delete the env's endpoints and stop its
instances and nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "mlops.yaml").read_text())
PROJECT = CONFIG["project"]
OIDC = "token.actions.githubusercontent.com"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _doc(raw: Any) -> dict[str, Any]:
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


def _statements(iam: Any, role: str, policy: str) -> dict[str, dict[str, Any]]:
    doc = _doc(iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"])
    return {s.get("Sid", ""): s for s in doc["Statement"]}


@pytest.mark.parametrize("kind", ["drift", "reaper"])
def test_operations_roles_trust_only_the_default_branch(bootstrapped: Any, cloud: Any,
                                                        kind: str) -> None:
    iam = cloud.client("iam")
    arns = bootstrapped.outputs[f"{kind}_role_arns"]
    assert sorted(arns) == sorted(CONFIG["envs"]), arns
    for env_name, arn in arns.items():
        role = iam.get_role(RoleName=f"{PROJECT}-{env_name}-{kind}")["Role"]
        assert role["Arn"] == arn
        [statement] = _doc(role["AssumeRolePolicyDocument"])["Statement"]
        conditions = statement["Condition"]
        assert set(conditions) == {"StringEquals"}, conditions
        equals = {k: _list(v) for k, v in conditions["StringEquals"].items()}
        assert equals == {
            f"{OIDC}:aud": ["sts.amazonaws.com"],
            f"{OIDC}:sub": [f"repo:{CONFIG['github_repo']}:ref:refs/heads/main"],
        }, f"{kind} role of {env_name}: {equals}"


def test_the_drift_role_has_the_plan_roles_policy(bootstrapped: Any, cloud: Any) -> None:
    iam = cloud.client("iam")
    for env_name in CONFIG["envs"]:
        drift = _statements(iam, f"{PROJECT}-{env_name}-drift", "drift")
        plan = _statements(iam, f"{PROJECT}-{env_name}-plan", "plan")
        assert drift == plan, f"{env_name}: the drift role's policy is not the plan role's"
        writes = [a for s in drift.values() for a in _list(s["Action"])
                  if a.split(":")[1].startswith(("Create", "Delete", "Stop", "Put", "Update"))
                  and not a.startswith("s3:")]  # s3: only its own state key and lock
        assert writes == [], writes


def test_the_reaper_role_deletes_endpoints_and_stops_instances_of_its_env(
        bootstrapped: Any, cloud: Any) -> None:
    iam = cloud.client("iam")
    statements = _statements(iam, f"{PROJECT}-dev-reaper", "reaper")
    actions = sorted(a for s in statements.values() for a in _list(s["Action"]))
    assert actions == sorted([
        "sagemaker:ListEndpoints", "sagemaker:DescribeEndpoint",
        "sagemaker:DescribeEndpointConfig", "sagemaker:ListTags", "ec2:DescribeInstances",
        "sagemaker:DeleteEndpoint", "ec2:StopInstances", "ec2:StopInstances"]), actions
    delete = statements["DeleteEnvEndpoints"]
    assert _list(delete["Resource"]) == [
        f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{PROJECT}-dev-*"]
    assert statements["StopEnvInstancesByTag"]["Condition"] == {
        "StringEquals": {"aws:ResourceTag/env": "dev"}}
    assert statements["StopEnvInstancesByName"]["Condition"] == {
        "StringLike": {"aws:ResourceTag/Name": f"{PROJECT}-dev-*"}}
