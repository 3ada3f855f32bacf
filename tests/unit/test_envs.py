"""core/envs.py (environments as data), core/hcl.py (tfvars attributes) and
core/bootstrap.py: table tests on literal inputs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops.core import bootstrap, envs, hcl
from mlops.core.config import parse_config
from mlops.core.envs import TIERS, EnvSpec
from mlops.errors import MlopsError

BASE: dict[str, Any] = {"project": "mlops-demo", "region": "us-east-1", "owner": "ml",
                        "github_repo": "acme/infra"}


def spec(name: str, tier: str = "dev", after: tuple[str, ...] = (), **kw: Any) -> EnvSpec:
    return EnvSpec(name=name, tier=tier, region=kw.pop("region", "us-east-1"), after=after,
                   **kw)


# -- names -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dev", "qa", "prod-eu", "prod-eu2", "a", "abcdefghijkl",
                                  "dr-us-west"])
def test_good_env_names(name: str) -> None:
    assert envs.env_name_problem(name) is None
    assert envs.check_env_name(name) == name


@pytest.mark.parametrize(("name", "problem"), [
    ("", "not a non-empty string"),
    (3, "not a non-empty string"),
    ("Prod", "lowercase"),
    ("2prod", "lowercase"),
    ("prod_eu", "lowercase"),
    ("prod--eu", "single hyphens"),
    ("prod-", "single hyphens"),
    ("-prod", "starting with a letter"),
    ("abcdefghijklm", "longer than 12"),
])
def test_bad_env_names(name: Any, problem: str) -> None:
    found = envs.env_name_problem(name)
    assert found is not None and problem in found, found
    with pytest.raises(MlopsError) as excinfo:
        envs.check_env_name(name)
    assert "at most 12 characters" in excinfo.value.fix


# -- the tier table ----------------------------------------------------------------------


def test_tier_policy_table() -> None:
    found = {t.name: (t.instance_allowlist, t.protected_by_default, t.reapable,
                      t.max_endpoint_hours, t.endpoint_needs_ttl) for t in TIERS.values()}
    assert found == {
        "dev": ("dev", False, True, 12, True),        # an endpoint alive overnight is a failure
        "staging": ("staging", False, True, 72, False),
        "prod": ("prod", True, False, None, False),   # never reaped unless named
    }


@pytest.mark.parametrize(("tier", "protected", "by_age"), [
    ("dev", False, True), ("staging", False, True), ("prod", True, False),
    ("dev", True, False),  # a protected dev env is reaped only when named
    ("prod", False, False),  # prod is never swept by age, protected or not
])
def test_reaped_by_age(tier: str, protected: bool, by_age: bool) -> None:
    assert spec("x", tier, protected=protected).reaped_by_age is by_age


# -- parsing -----------------------------------------------------------------------------


def test_full_entry_and_defaults() -> None:
    config = parse_config({**BASE, "envs": {
        "dev": {"tier": "dev"},
        "qa": {"tier": "dev", "after": "dev"},
        "prod": {"tier": "prod", "after": ["qa"], "protected": False},
        "prod-eu": {"tier": "prod", "after": ["qa"], "region": "eu-west-1",
                    "account": "022222222222"},
    }})
    assert [s.as_dict() for s in config.specs] == [
        {"name": "dev", "tier": "dev", "region": "us-east-1", "account": None,
         "protected": False, "after": []},
        {"name": "qa", "tier": "dev", "region": "us-east-1", "account": None,
         "protected": False, "after": ["dev"]},
        {"name": "prod", "tier": "prod", "region": "us-east-1", "account": None,
         "protected": False, "after": ["qa"]},
        {"name": "prod-eu", "tier": "prod", "region": "eu-west-1", "account": "022222222222",
         "protected": True, "after": ["qa"]},
    ]
    assert config.waves == (("dev",), ("qa",), ("prod", "prod-eu"))
    assert config.env("prod-eu").policy is TIERS["prod"]


BAD_ENVS = [
    ({"qa": {"tier": "test"}}, "envs.qa: unknown tier 'test'", "one of dev, staging, prod"),
    ({"qa": {}}, "envs.qa has no tier", "add tier"),
    ({"qa": "dev"}, "envs.qa must be a mapping", "{tier: dev}"),
    ({"qa": None}, "envs.qa must be a mapping", "{tier: dev}"),
    ({"qa": {"tier": "dev", "teir": "x"}}, "unknown key(s) teir", "tier, after, region"),
    ({"QA": {"tier": "dev"}}, "env name 'QA'", "rename it"),
    ({"qa": {"tier": "dev", "region": "Frankfurt"}}, "region 'Frankfurt'", "eu-west-1"),
    ({"qa": {"tier": "dev", "account": 222222222222}}, "account 222222222222 is a number",
     'account: "222222222222"'),
    ({"qa": {"tier": "dev", "account": "2222"}}, "not a 12-digit AWS account id", "quoted"),
    ({"qa": {"tier": "dev", "protected": "yes please"}}, "protected must be true or false",
     "default for tier dev: false"),
    ({"qa": {"tier": "dev", "after": [1]}}, "after must be a list of env names", "after:"),
    ({"qa": {"tier": "dev", "after": ["stage"]}}, "envs.qa: after names unknown env(s) stage",
     "(qa)"),
    ({"a": {"tier": "dev", "after": ["a"]}}, "cycle: a after a", "remove one"),
    ({"dev": {"tier": "dev"}, "b": {"tier": "dev", "after": ["c", "dev"]},
      "c": {"tier": "dev", "after": ["d"]}, "d": {"tier": "dev", "after": ["b"]},
      "e": {"tier": "prod", "after": ["d"]}},
     "the promotion order has a cycle: b after c after d after b", "remove one"),
    ({}, "envs must be a mapping", "envs: {dev:"),
    ("dev", "envs must be a mapping", "envs: {dev:"),
    ([], "envs is empty", "list at least one"),
    (["dev", "qa"], "'qa' is not a tier name", "mapping form"),
    (["dev", "dev"], "env 'dev' is listed twice", "once"),
]


@pytest.mark.parametrize(("raw", "what", "fix"), BAD_ENVS,
                         ids=[str(i) for i in range(len(BAD_ENVS))])
def test_bad_envs_are_explained(raw: Any, what: str, fix: str) -> None:
    with pytest.raises(MlopsError) as excinfo:
        parse_config({**BASE, "envs": raw})
    err = excinfo.value
    assert what in err.what, err.render()
    assert fix in err.fix, err.render()
    assert err.why


# -- promotion waves ---------------------------------------------------------------------


@pytest.mark.parametrize(("specs", "waves"), [
    ([spec("dev")], [["dev"]]),
    ([spec("dev"), spec("staging", "staging", ("dev",)), spec("prod", "prod", ("staging",)),
      spec("prod-eu", "prod", ("staging",))],
     [["dev"], ["staging"], ["prod", "prod-eu"]]),
    # File order does not matter for the waves; within a wave the file order is kept.
    ([spec("prod", "prod", ("staging",)), spec("staging", "staging", ("dev", "qa")),
      spec("qa"), spec("dev")],
     [["qa", "dev"], ["staging"], ["prod"]]),
    # An env after two others waits for the later one.
    ([spec("a"), spec("b", after=("a",)), spec("c", after=("a", "b")), spec("d")],
     [["a", "d"], ["b"], ["c"]]),
    # Independent envs with no `after` are all first.
    ([spec(f"e{i}") for i in range(12)], [[f"e{i}" for i in range(12)]]),
])
def test_promotion_waves(specs: list[EnvSpec], waves: list[list[str]]) -> None:
    assert envs.promotion_waves(specs) == waves
    assert [s.name for s in envs.promotion_order(specs)] == [n for w in waves for n in w]


@pytest.mark.parametrize(("after", "cycle"), [
    ({"a": ["a"]}, ["a", "a"]),
    ({"a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
    ({"a": ["b"], "b": ["c"], "c": ["b"]}, ["b", "c", "b"]),  # a only leads to the cycle
])
def test_find_cycle(after: dict[str, list[str]], cycle: list[str]) -> None:
    assert envs.find_cycle(after) == cycle


# -- folders ---------------------------------------------------------------------------


@pytest.mark.parametrize(("listed", "folders", "what", "fix"), [
    (["dev", "qa"], ["dev"], "lists env(s) qa but envs/qa/ is missing",
     "mlops env add qa --like dev"),
    (["dev"], ["dev", "qa"], "envs/qa/ is not an env listed in mlops.yaml",
     "add it under envs in mlops.yaml"),
    (["dev"], ["dev", "qa", "perf"], "envs/perf/ is not an env listed in mlops.yaml (nor are "
     "qa)", "delete envs/perf/"),
])
def test_env_folders_must_match_the_list(listed: list[str], folders: list[str], what: str,
                                         fix: str) -> None:
    with pytest.raises(MlopsError) as excinfo:
        envs.check_env_folders(listed, folders)
    assert what in excinfo.value.what
    assert fix in excinfo.value.fix
    assert excinfo.value.why


def test_env_folders_that_match_pass() -> None:
    envs.check_env_folders(["dev", "prod"], ["prod", "dev"])


# -- tfvars agreement and accounts --------------------------------------------------------


@pytest.mark.parametrize(("values", "wrong"), [
    ({"env": "qa", "tier": "dev", "region": "eu-west-1"}, []),
    ({}, []),  # a root without these variables: nothing to compare
    ({"env": "dev", "tier": "dev", "region": "eu-west-1"}, [("env", "dev", "qa")]),
    ({"env": "qa", "tier": "prod", "region": "us-east-1"},
     [("tier", "prod", "dev"), ("region", "us-east-1", "eu-west-1")]),
])
def test_tfvars_mismatches(values: dict[str, str], wrong: list[tuple[str, str, str]]) -> None:
    assert envs.tfvars_mismatches(spec("qa", region="eu-west-1"), values) == wrong


SPECS = (spec("dev"), spec("prod", "prod", account="222222222222"),
         spec("prod-eu", "prod", account="333333333333"))


@pytest.mark.parametrize(("name", "caller", "problem"), [
    ("dev", "111111111111", None),
    ("prod", "222222222222", None),
    ("prod", "111111111111",
     "env prod lives in AWS account 222222222222 (mlops.yaml), but the credentials are for "
     "account 111111111111"),
    ("dev", "222222222222",
     "env dev lives in the default account (no `account` in mlops.yaml), but the credentials "
     "are for account 222222222222, which mlops.yaml names as the account of prod"),
])
def test_account_problem(name: str, caller: str, problem: str | None) -> None:
    assert envs.account_problem(SPECS, name, caller) == problem


# -- tfvars text -------------------------------------------------------------------------

TFVARS = '''env     = "dev" # the env
project = "mlops-demo"
region  = "us-east-1"
computed = "${var.x}"
trainer = {
  env = "nested"
}
tags = { env = "inline" }
# region = "commented"
heredoc = <<EOT
env = "in a heredoc"
EOT
'''


def test_string_attributes_reads_top_level_literals_only() -> None:
    found = {k: t.value for k, t in hcl.string_attributes(TFVARS).items()}
    assert found == {"env": "dev", "project": "mlops-demo", "region": "us-east-1"}


def test_set_string_attribute_keeps_everything_else() -> None:
    text = hcl.set_string_attribute(TFVARS, "env", "qa")
    assert text == TFVARS.replace('env     = "dev"', 'env     = "qa"', 1)
    text = hcl.set_string_attribute(text, "tier", "dev", after="env")
    assert text.splitlines()[:2] == ['env     = "qa" # the env', 'tier = "dev"']
    assert hcl.set_string_attribute("a = 1\n", "tier", "prod") == 'tier = "prod"\na = 1\n'
    assert hcl.string_attributes(hcl.set_string_attribute(TFVARS, "env", 'q"${x}'))[
        "env"].value == 'q"${x}'


# -- bootstrap ---------------------------------------------------------------------------


def test_bootstrap_variables_name_only_the_envs_of_the_account() -> None:
    config = parse_config({**BASE, "envs": {
        "dev": {"tier": "dev"},
        "staging": {"tier": "staging", "after": ["dev"], "protected": True},
        "prod": {"tier": "prod", "after": ["dev"], "account": "222222222222"},
        "prod-eu": {"tier": "prod", "after": ["dev"], "account": "222222222222",
                    "region": "eu-west-1", "protected": False}}})
    home = bootstrap.variables(config, "111111111111", local_cloud=True)
    assert json.loads(home["envs"]) == {"dev": {"region": "us-east-1", "protected": False},
                                        "staging": {"region": "us-east-1", "protected": True}}
    assert home["state_bucket_force_destroy"] == "true"
    other = bootstrap.variables(config, "222222222222", local_cloud=False)
    assert json.loads(other["envs"]) == {"prod": {"region": "us-east-1", "protected": True},
                                         "prod-eu": {"region": "eu-west-1",
                                                     "protected": False}}
    assert (other["region"], other["state_bucket_force_destroy"]) == ("us-east-1", "false")


def test_bootstrap_refuses_an_account_without_envs() -> None:
    config = parse_config({**BASE, "envs": {
        "prod": {"tier": "prod", "account": "222222222222"}}})
    with pytest.raises(MlopsError, match=r"no env of mlops\.yaml lives in account 111111111111"):
        bootstrap.variables(config, "111111111111", local_cloud=False)


STATE = {"resources": [{"type": "aws_s3_bucket", "instances": [{"attributes": {}}]},
                       {"mode": "data", "type": "aws_caller_identity",
                        "instances": [{"attributes": {"account_id": "111111111111"}}]}]}


@pytest.mark.parametrize(("state", "account"), [
    (STATE, "111111111111"), ({"resources": []}, None), ([], None), ({}, None)])
def test_state_account(state: Any, account: str | None) -> None:
    assert bootstrap.state_account(state) == account


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"per_account_exists": False, "legacy_account": None, "legacy_exists": False},
     "terraform-111111111111.tfstate"),
    # A repository bootstrapped before: its state file stays in use for its account.
    ({"per_account_exists": False, "legacy_account": "111111111111", "legacy_exists": True},
     "terraform.tfstate"),
    ({"per_account_exists": False, "legacy_account": "222222222222", "legacy_exists": True},
     "terraform-111111111111.tfstate"),
    ({"per_account_exists": True, "legacy_account": "111111111111", "legacy_exists": True},
     "terraform-111111111111.tfstate"),
])
def test_state_file(kwargs: dict[str, Any], name: str) -> None:
    assert bootstrap.state_file("111111111111", **kwargs) == name


def test_policy_context_carries_the_tier_its_protection_and_allowlist() -> None:
    from mlops.core import policy

    data = policy.build_data({"instance_types": {}}, "prod-eu", ["allow-destroy:prod-eu"],
                             tier="prod", protected=True)
    assert data["context"] == {"env": "prod-eu", "tier": "prod", "protected": True,
                               "allowlist": TIERS["prod"].instance_allowlist,
                               "labels": ["allow-destroy:prod-eu"]}
