"""mlops.yaml parsing: what is accepted, and the messages for what is not."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops.core.config import ProjectConfig, load_yaml, parse_config
from mlops.errors import MlopsError

GOOD: dict[str, Any] = {"project": "mlops-demo", "region": "us-east-1", "owner": "ml",
                        "github_repo": "acme/infra",
                        "envs": {"dev": {"tier": "dev"},
                                 "staging": {"tier": "staging", "after": ["dev"]},
                                 "prod": {"tier": "prod", "after": ["staging"]}}}


def test_repository_mlops_yaml_is_valid() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "mlops.yaml").read_text()
    config = parse_config(load_yaml(text))
    assert config.envs == ("dev", "staging", "prod")
    assert config.waves == (("dev",), ("staging",), ("prod",))
    assert [(s.tier, s.region, s.account, s.protected) for s in config.specs] == [
        ("dev", "us-east-1", None, False), ("staging", "us-east-1", None, False),
        ("prod", "us-east-1", None, True)]
    assert config.bucket_for("123456789012") == f"{config.project}-tfstate-123456789012"


def test_the_old_list_form_means_the_same_three_envs() -> None:
    """Forks of the first layout (`envs: [dev, staging, prod]`) keep working: tier = name,
    each promoted after the one before it."""
    old = parse_config({**GOOD, "envs": ["dev", "staging", "prod"]})
    assert old == parse_config(GOOD)


def test_backend_config_passes_bucket_and_state_region() -> None:
    config = parse_config({**GOOD, "envs": {"dev": {"tier": "dev", "region": "eu-west-1"}}})
    # The state bucket is in the account's bootstrap region (top level), not the env's.
    assert config.backend_config("1", local_cloud=False) == {
        "bucket": "mlops-demo-tfstate-1", "region": "us-east-1"}
    assert config.backend_config("1", local_cloud=True)["use_path_style"] == "true"


def test_envs_in_account() -> None:
    config = parse_config({**GOOD, "envs": {
        "dev": {"tier": "dev"}, "staging": {"tier": "staging", "after": ["dev"]},
        "prod": {"tier": "prod", "after": ["staging"], "account": "222222222222"},
        "prod-eu": {"tier": "prod", "after": ["staging"], "account": "222222222222",
                    "region": "eu-west-1"}}})
    names = lambda account: [s.name for s in config.envs_in_account(account)]  # noqa: E731
    assert names("222222222222") == ["prod", "prod-eu"]
    assert names("111111111111") == ["dev", "staging"]  # the default account: any other


@pytest.mark.parametrize(
    ("change", "message"),
    [({"project": "Bad_Name"}, "not 3-30 lowercase"),
     ({"github_repo": "no-slash"}, "owner/name"),
     ({"envs": []}, "envs is empty"),
     ({"envs": ["dev", "qa"]}, "'qa' is not a tier name"),
     ({"envs": {"qa": {"tier": "test"}}}, "unknown tier 'test'"),
     ({"region": "Europe"}, "not an AWS region name"),
     ({"mask_patterns": ["("]}, "not a valid regular expression"),
     ({"mask_patterns": 5}, "must be a list of regular expressions, not int"),
     # A string is not a list of one: iterated, it would mask every single character.
     ({"mask_patterns": "token"}, "must be a list of regular expressions, not str"),
     ({"mask_patterns": [5]}, r"mask_patterns\[0\].* not a regular expression"),
     ({"mask_patterns": ["ok", ""]}, r"mask_patterns\[1\]"),
     ({"state": "bucket"}, "state must be a mapping"),
     ({"state": {"bucket": "{project}-{acount_id}"}}, r"unknown placeholder \{acount_id\}"),
     ({"state": {"bucket": "{project}-tfstate-{"}}, "not a valid template"),
     ({"state": {"bucket": "{project!r}-x"}}, "no format spec or conversion"),
     ({"state": {"bucket": "{project}_TFSTATE"}}, "not a valid S3 bucket name"),
     ({"state": {"bucket": 5}}, "not a string")],
)
def test_bad_values_are_explained(change: dict[str, Any], message: str) -> None:
    with pytest.raises(MlopsError, match=message) as excinfo:
        parse_config({**GOOD, **change})
    assert excinfo.value.fix


@pytest.mark.parametrize("missing", ["project", "region", "owner", "github_repo", "envs"])
def test_missing_keys_are_named(missing: str) -> None:
    data = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(MlopsError, match=f"missing key '{missing}'"):
        parse_config(data)


def test_unknown_env_is_refused_with_the_known_ones() -> None:
    with pytest.raises(MlopsError, match="unknown env 'qa'") as excinfo:
        parse_config(GOOD).env("qa")
    assert "dev, staging, prod" in excinfo.value.fix
    assert "mlops env add qa" in excinfo.value.fix


DUPLICATE_ENV = """project: mlops-demo
region: us-east-1
owner: ml
github_repo: acme/infra
envs:
  dev: {tier: dev}
  prod: {tier: prod, after: [dev]}
  prod: {tier: prod, after: [dev], region: eu-west-1}
"""


@pytest.mark.parametrize(("text", "line"), [
    (DUPLICATE_ENV, "found the key 'prod' again (first on line 7)"),
    (DUPLICATE_ENV.replace("region: us-east-1\n", "region: us-east-1\nregion: eu-west-1\n"),
     "found the key 'region' again (first on line 2)"),
    ("envs: {dev: {tier: dev, tier: prod}}", "found the key 'tier' again"),
], ids=["env", "top-level", "inside-an-env"])
def test_duplicate_keys_are_refused_not_silently_overwritten(text: str, line: str) -> None:
    """PyYAML keeps the last of two equal keys without a word: mlops refuses them."""
    with pytest.raises(MlopsError) as excinfo:
        load_yaml(text)
    assert line in excinfo.value.why, excinfo.value.why
    assert "one entry per key" in excinfo.value.fix


def test_state_bucket_without_placeholders_is_taken_as_is() -> None:
    config = parse_config({**GOOD, "state": {"bucket": "acme-terraform-state"}})
    assert config.bucket_for("123456789012") == "acme-terraform-state"


# ---------------------------------------------------------------- any YAML at all

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=20), st.sampled_from(["{", "{x}", "(", "", "dev"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
KEYS = st.sampled_from([*GOOD, "state", "mask_patterns"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.dictionaries(KEYS, VALUES, max_size=4),
       state=st.dictionaries(st.sampled_from(["bucket", "key"]), VALUES, max_size=2),
       drop=st.lists(KEYS, max_size=2))
def test_any_config_is_accepted_or_explained(changes: dict[str, Any], state: dict[str, Any],
                                             drop: list[str]) -> None:
    """Whatever mlops.yaml holds, parsing gives a config or an MlopsError: never another
    exception (which the CLI would show as an internal error)."""
    data: dict[str, Any] = {**GOOD, "state": state, **changes}
    for key in drop:
        data.pop(key, None)
    try:
        config = parse_config(data)
    except MlopsError as err:
        assert err.what.startswith("mlops.yaml:") or "mask_patterns" in err.what, err.what
        assert err.fix, err.what
        return
    assert isinstance(config, ProjectConfig)
    config.bucket_for("123456789012")  # a template that parsed always renders


@settings(max_examples=100, deadline=None)
@given(top=VALUES)
def test_any_top_level_document_is_accepted_or_explained(top: Any) -> None:
    try:
        config = parse_config(top)
    except MlopsError as err:
        assert err.fix, err.what
        return
    assert isinstance(config, ProjectConfig)
