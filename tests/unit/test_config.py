"""mlops.yaml parsing: what is accepted, and the messages for what is not."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mlops.core.config import parse_config
from mlops.errors import MlopsError

GOOD: dict[str, Any] = {"project": "mlops-demo", "region": "us-east-1", "owner": "ml",
                        "github_repo": "acme/infra", "envs": ["dev", "staging", "prod"]}


def test_repository_mlops_yaml_is_valid() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "mlops.yaml").read_text()
    config = parse_config(yaml.safe_load(text))
    assert config.envs == ("dev", "staging", "prod")
    assert config.bucket_for("123456789012") == f"{config.project}-tfstate-123456789012"


def test_backend_config_uses_path_style_only_for_the_embedded_cloud() -> None:
    config = parse_config(GOOD)
    assert config.backend_config("1", local_cloud=False) == {"bucket": "mlops-demo-tfstate-1"}
    assert config.backend_config("1", local_cloud=True)["use_path_style"] == "true"


@pytest.mark.parametrize(
    ("change", "message"),
    [({"project": "Bad_Name"}, "not 3-30 lowercase"),
     ({"github_repo": "no-slash"}, "owner/name"),
     ({"envs": []}, "non-empty list"),
     ({"envs": ["dev", "qa"]}, "unknown env"),
     ({"mask_patterns": ["("]}, "not a valid regular expression"),
     ({"state": "bucket"}, "state must be a mapping")],
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
        parse_config(GOOD).require_env("qa")
    assert "dev, staging, prod" in excinfo.value.fix
