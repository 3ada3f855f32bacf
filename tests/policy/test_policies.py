"""The Rego policies on real `terraform show -json` plans (tests/policy/fixtures/*.json,
made from fixtures/src/<case>/ by fixtures/regen.sh), evaluated in-process by regopy.

Each rule has a passing and a failing plan; every test asserts the complete violation
list of the plan, so a rule that fires on another rule's fixture is caught too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mlops.adapters import rego
from mlops.core import policy

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
POLICIES = rego.PolicySet.from_dir(ROOT / "policies")

Expected = list[tuple[str, str, str]]  # (rule, address, message after "<address>: ")


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def check(plan: Any, env: str, labels: tuple[str, ...] = (), *, tier: str | None = None,
          protected: bool | None = None) -> Expected:
    """The violations of `plan` for `env`; its tier defaults to the env's name (dev, staging,
    prod as in this repository's mlops.yaml) and protection to tier == prod."""
    tier = tier or env
    protected = tier == "prod" if protected is None else protected
    data = policy.build_data(POLICIES.data, env, labels, tier=tier, protected=protected)
    violations = policy.parse_violations(rego.evaluate(POLICIES, data, plan, policy.QUERY))
    found = []
    for v in violations:
        prefix = f"{v.address}: " if v.address else ""
        assert v.message.startswith(prefix), v
        found.append((v.rule, v.address, v.message[len(prefix) :]))
    return found


def missing_tags(tags: str, checked: str = "checked tags_all") -> str:
    return (
        f"missing required tags: {tags} ({checked}; set them in the provider's "
        "default_tags or the resource's tags)"
    )


UNKNOWN_TAGS_ALL = "tags_all is unknown until apply; checked tags and the provider's default_tags"
NO_SSE = (
    "no server-side encryption: add an "
    "aws_s3_bucket_server_side_encryption_configuration for this bucket"
)
NO_VERSIONING = (
    "versioning is not enabled: add an aws_s3_bucket_versioning with "
    'versioning_configuration { status = "Enabled" }'
)
NO_PAB = (
    "no public access block: add an aws_s3_bucket_public_access_block with "
    "block_public_acls, block_public_policy, ignore_public_acls, "
    "restrict_public_buckets = true"
)
DEV_ALLOWED = ("g4dn.xlarge, g5.xlarge, ml.g5.xlarge, ml.m5.large, ml.t2.medium, "
               "t3.medium, t3.micro, t3.small")


def not_allowed(itype: str, env: str = "dev", tier: str = "dev",
                allowed: str = DEV_ALLOWED) -> str:
    return (
        f"instance type {itype} is not allowed in {env} (allowed in the {tier} tier: {allowed}; "
        "edit policies/data/instance_types.yaml to change)"
    )


def destroyed(rtype: str, what: str, reason: str) -> str:
    return (
        f"stateful {rtype} would be {what} in prod ({reason}); if that is intended, "
        "add the PR label allow-destroy:prod"
    )


@pytest.mark.parametrize(
    ("fixture", "env"),
    [
        ("tags_pass", "dev"),
        ("network_pass", "dev"),
        ("s3_pass", "dev"),
        ("instance_types_pass", "dev"),
        ("destroy_pass", "prod"),
        ("artifacts_pass", "prod"),
    ],
)
def test_passing_plans(fixture: str, env: str) -> None:
    assert check(load(fixture), env) == []


def test_tags_fail() -> None:
    assert check(load("tags_fail"), "dev") == [
        ("tags", "aws_cloudwatch_log_group.untagged", missing_tags("cost, owner")),
        ("tags", "aws_cloudwatch_log_group.wrong_env", 'tag env = "prod" but this is the dev plan'),
        # cost = "" does not count. With an empty tag value the AWS provider (5.x) leaves
        # tags_all unknown until apply, so the check falls back to the role's tags plus
        # the keys the provider's default_tags add elsewhere in the plan (env).
        ("tags", "aws_iam_role.missing_cost", missing_tags("cost", UNKNOWN_TAGS_ALL)),
    ]


def test_tags_unknown_value_counts_as_present() -> None:
    # tags_pass: aws_cloudwatch_log_group.trainer has tags = { cost = <role unique_id> },
    # unknown at plan time, which makes tags_all unknown as a whole.
    plan = load("tags_pass")
    (group,) = [
        rc for rc in plan["resource_changes"] if rc["address"] == "aws_cloudwatch_log_group.trainer"
    ]
    assert group["change"]["after_unknown"]["tags_all"] is True
    assert check(plan, "dev") == []


def test_network_fail() -> None:
    assert check(load("network_fail"), "dev") == [
        ("network", "aws_security_group.trainer", "ingress from 0.0.0.0/0 to SSH (port 22/tcp)"),
        (
            "network",
            "aws_security_group_rule.all_v6",
            "ingress from ::/0 to all ports and protocols",
        ),
        (
            "network",
            "aws_vpc_security_group_ingress_rule.jupyter",
            "ingress from 0.0.0.0/0 to port 8888/tcp",
        ),
        (
            "network",
            "aws_vpc_security_group_ingress_rule.ssh_range_v6",
            "ingress from ::/0 to ports 20-25/tcp, including SSH (22)",
        ),
    ]


def test_s3_fail() -> None:
    assert check(load("s3_fail"), "dev") == [
        ("s3", "aws_s3_bucket.bare", NO_PAB),
        ("s3", "aws_s3_bucket.bare", NO_SSE),
        ("s3", "aws_s3_bucket.bare", NO_VERSIONING),
        (
            "s3",
            "aws_s3_bucket.leaky",
            "public access block aws_s3_bucket_public_access_block.leaky does not set "
            "block_public_policy, restrict_public_buckets = true",
        ),
        (
            "s3",
            "aws_s3_bucket.suspended",
            "versioning is not enabled: aws_s3_bucket_versioning.suspended has status Suspended, "
            'need "Enabled"',
        ),
        ("s3", "module.data.aws_s3_bucket.this", NO_SSE),
    ]


def test_s3_companions_are_matched_per_module_instance() -> None:
    # Drop module.models' encryption: module.data's must not stand in for it.
    plan = load("s3_pass")
    plan["resource_changes"] = [
        rc
        for rc in plan["resource_changes"]
        if rc["address"] != "module.models.aws_s3_bucket_server_side_encryption_configuration.this"
    ]
    assert check(plan, "dev") == [("s3", "module.models.aws_s3_bucket.this", NO_SSE)]


def test_s3_for_each_companions_are_matched_per_key() -> None:
    plan = load("s3_pass")
    plan["resource_changes"] = [
        rc
        for rc in plan["resource_changes"]
        if rc["address"] != 'aws_s3_bucket_versioning.many["scratch"]'
    ]
    assert check(plan, "dev") == [("s3", 'aws_s3_bucket.many["scratch"]', NO_VERSIONING)]


def test_s3_deleted_companion_does_not_count() -> None:
    plan = load("s3_pass")
    for rc in plan["resource_changes"]:
        if rc["address"] == "aws_s3_bucket_public_access_block.logs":
            rc["change"]["actions"] = ["delete"]
            rc["change"]["before"], rc["change"]["after"] = rc["change"]["after"], None
    assert check(plan, "dev") == [("s3", "aws_s3_bucket.logs", NO_PAB)]


def test_instance_types_fail() -> None:
    assert check(load("instance_types_fail"), "dev") == [
        ("instance_types", "aws_instance.notebook", not_allowed("p4d.24xlarge")),
        ("instance_types", "aws_launch_template.trainer", not_allowed("p5.48xlarge")),
        (
            "instance_types",
            "aws_sagemaker_endpoint_configuration.serving",
            not_allowed("ml.p4d.24xlarge"),
        ),
    ]


def test_instance_types_without_allowlist_fail_closed() -> None:
    plan = load("instance_types_pass")
    data = {k: v for k, v in POLICIES.data.items() if k != "instance_types"}
    data["instance_types"] = {"dev": POLICIES.data["instance_types"]["dev"]}
    data = policy.build_data(data, "dev", (), tier="staging", protected=False)
    found = policy.parse_violations(rego.evaluate(POLICIES, data, plan, policy.QUERY))
    assert {(v.rule, v.address) for v in found if v.rule == "instance_types"} == {
        ("instance_types", "aws_instance.notebook"),
        ("instance_types", "aws_launch_template.trainer"),
        ("instance_types", "aws_sagemaker_endpoint_configuration.serving"),
    }
    assert all(
        'no allowlist "staging" (tier staging)' in v.message
        for v in found if v.rule == "instance_types"
    )


PROD_ALLOWED = ("g5.12xlarge, g5.2xlarge, ml.g5.12xlarge, ml.g5.2xlarge, ml.m5.large, "
                "ml.m5.xlarge, t3.medium")


@pytest.mark.parametrize(
    ("env", "tier", "expected"),
    [
        # A qa env of the dev tier gets dev's allowlist: the passing plan passes.
        ("qa", "dev", []),
        # The same plan in a prod-tier env is held to prod's list, whatever the env's name.
        ("dev", "prod", [
            ("instance_types", "aws_launch_template.trainer",
             not_allowed("g5.xlarge", "dev", "prod", PROD_ALLOWED)),
        ]),
    ],
)
def test_instance_allowlist_follows_the_tier_not_the_name(env: str, tier: str,
                                                          expected: Expected) -> None:
    plan = load("instance_types_pass")
    plan["variables"]["env"]["value"] = env
    found = check(plan, env, tier=tier)
    assert [f for f in found if f[0] == "instance_types"] == expected


DESTROYS = [
    (
        "destroy",
        "aws_dynamodb_table.runs",
        destroyed("aws_dynamodb_table", "destroyed", "delete_because_no_resource_config"),
    ),
    (
        "destroy",
        "aws_ecr_repository.trainer",
        destroyed("aws_ecr_repository", "destroyed", "delete_because_no_resource_config"),
    ),
    (
        "destroy",
        "aws_s3_bucket.models",
        destroyed("aws_s3_bucket", "replaced", "replace_because_cannot_update"),
    ),
]


def test_destroy_fail_in_prod() -> None:
    # aws_cloudwatch_log_group.old is destroyed too, but it is not stateful.
    assert check(load("destroy_fail"), "prod") == DESTROYS


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (("allow-destroy:prod",), []),
        (("needs-review", "allow-destroy:prod"), []),
        (("allow-destroy:dev",), DESTROYS),
        (("allow-destroy",), DESTROYS),
    ],
)
def test_destroy_override_label(labels: tuple[str, ...], expected: Expected) -> None:
    assert check(load("destroy_fail"), "prod", labels) == expected


def test_destroy_outside_prod_is_allowed() -> None:
    plan = load("destroy_fail")
    plan["variables"]["env"]["value"] = "staging"
    found = check(plan, "staging")
    assert [v for v in found if v[0] == "destroy"] == []


@pytest.mark.parametrize(
    ("env", "tier", "protected", "labels", "destroys"),
    [
        ("prod", "prod", False, (), 0),  # a prod-tier env marked unprotected in mlops.yaml
        ("staging", "staging", True, (), 3),  # a protected staging env needs the label
        ("staging", "staging", True, ("allow-destroy:staging",), 0),
        ("staging", "staging", True, ("allow-destroy:prod",), 3),  # the label names the env
    ],
)
def test_destroy_protection_follows_protected_not_the_name(
        env: str, tier: str, protected: bool, labels: tuple[str, ...], destroys: int) -> None:
    plan = load("destroy_fail")
    plan["variables"]["env"]["value"] = env
    found = [f for f in check(plan, env, labels, tier=tier, protected=protected)
             if f[0] == "destroy"]
    assert len(found) == destroys, found
    assert all(f"in {env} " in f[2] and f"allow-destroy:{env}" in f[2] for f in found), found


def test_create_before_destroy_replacement_counts() -> None:
    plan = load("destroy_fail")
    for rc in plan["resource_changes"]:
        if rc["address"] == "aws_s3_bucket.models":
            rc["change"]["actions"] = ["create", "delete"]
    assert (
        "destroy",
        "aws_s3_bucket.models",
        destroyed("aws_s3_bucket", "replaced", "replace_because_cannot_update"),
    ) in check(plan, "prod")


def test_env_and_tier_fall_back_to_the_plan_variables() -> None:
    # conftest without a context data file: env and tier come from var.env and var.tier
    # in the plan (the env roots declare both); protection from the tier.
    plan = load("destroy_fail")
    plan["variables"]["tier"] = {"value": "prod"}
    raw = rego.evaluate(POLICIES, dict(POLICIES.data), plan, policy.QUERY)
    assert [(v.rule, v.address) for v in policy.parse_violations(raw)] == [
        (rule, address) for rule, address, _ in DESTROYS
    ]


def test_unknown_env_is_a_violation() -> None:
    plan = load("tags_pass")
    del plan["variables"]
    raw = rego.evaluate(POLICIES, dict(POLICIES.data), plan, policy.QUERY)
    found = {v.rule: v.message for v in policy.parse_violations(raw)}
    assert list(found) == ["context"]
    messages = [v.message for v in policy.parse_violations(raw)]
    assert any("the environment of this plan is unknown" in m for m in messages), messages
    assert any("the tier of this plan is unknown" in m for m in messages), messages


def test_unknown_tier_is_a_violation() -> None:
    plan = load("tags_pass")  # var.env is set, var.tier is not (a root without tiers)
    raw = rego.evaluate(POLICIES, dict(POLICIES.data), plan, policy.QUERY)
    (violation,) = policy.parse_violations(raw)
    assert violation.rule == "context"
    assert "the tier of this plan is unknown" in violation.message


def test_empty_plan_passes() -> None:
    plan = {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "planned_values": {},
        "configuration": {"root_module": {}},
        "variables": {"env": {"value": "prod"}},
    }
    assert check(plan, "prod") == []


def test_only_deny_uses_conftest_rule_names() -> None:
    # conftest queries every rule of package main named deny*/warn*/violation*; a helper
    # with such a name (e.g. a `violation(...)` function) would break `conftest test`.
    reserved = re.compile(r"^(deny|warn|violation)(_[A-Za-z0-9]+)*\b")
    for path in sorted((ROOT / "policies").glob("*.rego")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if reserved.match(line):
                assert line.startswith("deny contains "), f"{path.name}:{number}: {line}"
        assert "package main" in path.read_text(), path.name
        assert "import rego.v1" in path.read_text(), path.name


FAULTY = (
    "model artifact is fault-injected (artifact_fault = {}) or has no mlops provenance; "
    "prod serves only artifacts built by `mlops train` without --fault and published with "
    "`mlops artifact push`"
)


def test_artifacts_fail_in_prod_only() -> None:
    assert check(load("artifacts_fail"), "prod") == [
        ("artifacts", "aws_sagemaker_model.canary", FAULTY.format("error-rate=0.5")),
        ("artifacts", "aws_sagemaker_model.handmade", FAULTY.format("unknown")),
    ]


def test_artifacts_rule_follows_the_tier_when_given() -> None:
    """data.context.tier (environments as data) decides, not the env's name."""
    plan = load("artifacts_fail")
    assert check(plan, "prod", tier="staging", protected=True) == []
    assert len(check(plan, "prod", tier="prod", protected=True)) == 2
