"""`mlops env list|add` on copies of the repository (no cloud; `env add` runs
`terraform fmt` on the new root, so those tests are marked terraform)."""

from __future__ import annotations

import difflib
import io
import json
import os
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from mlops.cli import main
from mlops.core.config import load_yaml, parse_config

ROOT = Path(__file__).resolve().parents[2]
SHARED = ("main.tf", "variables.tf", "outputs.tf", "versions.tf", ".terraform.lock.hcl")


def copy_repo(dest: Path) -> Path:
    shutil.copytree(ROOT / "envs", dest / "envs",
                    ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    shutil.copy(ROOT / "mlops.yaml", dest / "mlops.yaml")
    return dest


def mlops(root: Path, *argv: str) -> tuple[int, str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MLOPS_ROOT": str(root),
           "MLOPS_STATE_DIR": str(root / ".mlops")}
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv), env)
    return code, out.getvalue(), err.getvalue()


def added_lines(before: str, after: str) -> list[str]:
    diff = difflib.ndiff(before.splitlines(), after.splitlines())
    changed = [line for line in diff if line[:2] in ("+ ", "- ")]
    assert all(line.startswith("+ ") for line in changed), f"lines were removed: {changed}"
    return [line[2:] for line in changed]


def test_env_list_json_is_the_matrix_input() -> None:
    code, out, err = mlops(ROOT, "env", "list", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "envs": [
            {"name": "dev", "tier": "dev", "region": "us-east-1", "account": None,
             "protected": False, "after": []},
            {"name": "staging", "tier": "staging", "region": "us-east-1", "account": None,
             "protected": False, "after": ["dev"]},
            {"name": "prod", "tier": "prod", "region": "us-east-1", "account": None,
             "protected": True, "after": ["staging"]},
        ],
        "waves": [["dev"], ["staging"], ["prod"]],
    }


def test_env_list_table() -> None:
    code, out, _ = mlops(ROOT, "env", "list")
    assert code == 0
    assert out.splitlines() == [
        "ENV      TIER     REGION     ACCOUNT    PROTECTED  AFTER",
        "dev      dev      us-east-1  (default)  no         -",
        "staging  staging  us-east-1  (default)  no         dev",
        "prod     prod     us-east-1  (default)  yes        staging",
        "promotion order: dev -> staging -> prod",
    ]


@pytest.mark.terraform
def test_env_add_in_the_same_region(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    # dev as it is after its first release: serving enabled (the checked-in tfvars start
    # disabled). A new env must not inherit that: its artifact bucket is empty.
    dev_tfvars = root / "envs" / "dev" / "terraform.tfvars"
    dev_tfvars.write_text(dev_tfvars.read_text().replace(
        "  enabled                 = false", "  enabled                 = true"))
    before = (root / "mlops.yaml").read_text()
    code, out, err = mlops(root, "env", "add", "qa", "--like", "dev")
    assert code == 0, err
    assert json.loads(out) == {"name": "qa", "tier": "dev", "region": "us-east-1",
                               "account": None, "protected": False, "after": []}
    after = (root / "mlops.yaml").read_text()
    assert added_lines(before, after) == ["  qa: {tier: dev}"]  # comments and layout kept
    qa, dev = root / "envs" / "qa", root / "envs" / "dev"
    assert sorted(p.name for p in qa.iterdir()) == sorted(
        [*SHARED, "backend.tf", "terraform.tfvars"])
    for name in SHARED:
        assert (qa / name).read_bytes() == (dev / name).read_bytes(), name
    assert (qa / "backend.tf").read_text() == (dev / "backend.tf").read_text().replace(
        '"envs/dev/terraform.tfstate"', '"envs/qa/terraform.tfstate"')
    tfvars = (qa / "terraform.tfvars").read_text()
    expected = (dev / "terraform.tfvars").read_text().replace(
        'env     = "dev"', 'env     = "qa"').replace(
        "mlops-demo-dev-artifacts", "mlops-demo-qa-artifacts").replace(
        "  enabled                 = true", "  enabled                 = false")
    assert tfvars == expected
    assert "serving is disabled until the env's first model is released" in err
    assert not [p for p in (root / "envs").iterdir() if p.name.startswith(".")]

    code, out, _ = mlops(root, "env", "list", "--json")
    assert json.loads(out)["waves"] == [["dev", "qa"], ["staging"], ["prod"]]


@pytest.mark.terraform
def test_env_add_in_another_region_and_account(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    # prod as it is after a release: a model image in its region's registry.
    prod_tfvars = root / "envs" / "prod" / "terraform.tfvars"
    prod_tfvars.write_text(prod_tfvars.read_text().replace(
        '  name                    = "churn"\n',
        '  name                    = "churn"\n  releases = { v1 = { stable = {\n'
        '    image          = "683313688378.dkr.ecr.us-east-1.amazonaws.com/model:1"\n'
        '    model_data_url = "s3://mlops-demo-prod-artifacts/models/ab/model.tar.gz" } } }\n'))
    before = (root / "mlops.yaml").read_text()
    code, _, err = mlops(root, "env", "add", "prod-eu", "--like", "prod", "--region",
                         "eu-west-1", "--account", "022222222222")
    assert code == 0, err
    assert added_lines(before, (root / "mlops.yaml").read_text()) == [
        '  prod-eu: {tier: prod, after: [staging], region: eu-west-1, '
        'account: "022222222222"}']
    config = parse_config(load_yaml((root / "mlops.yaml").read_text()))
    assert config.waves == (("dev",), ("staging",), ("prod", "prod-eu"))
    spec = config.env("prod-eu")
    assert (spec.tier, spec.region, spec.account, spec.protected) == (
        "prod", "eu-west-1", "022222222222", True)
    tfvars = (root / "envs" / "prod-eu" / "terraform.tfvars").read_text()
    assert 'env     = "prod-eu"\ntier    = "prod"\n' in tfvars
    assert 'region  = "eu-west-1"' in tfvars
    flat = " ".join(err.split())
    assert "looks specific to us-east-1" in flat and "dkr.ecr.us-east-1" in flat, err
    assert "with credentials of account 022222222222" in flat


@pytest.mark.terraform
def test_env_add_converts_the_old_list_form(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    text = (root / "mlops.yaml").read_text()
    start, end = text.index("envs:\n"), text.index("state:\n")
    (root / "mlops.yaml").write_text(text[:start] + "envs: [dev, staging, prod]\n" + text[end:])
    old = parse_config(load_yaml((root / "mlops.yaml").read_text()))
    code, _, err = mlops(root, "env", "add", "qa", "--like", "dev", "--tier", "staging",
                         "--after", "dev", "--protected")
    assert code == 0, err
    new = parse_config(load_yaml((root / "mlops.yaml").read_text()))
    assert tuple(s for s in new.specs if s.name != "qa") == old.specs  # the same three
    qa = new.env("qa")
    assert (qa.tier, qa.after, qa.protected) == ("staging", ("dev",), True)
    assert new.waves == (("dev",), ("staging", "qa"), ("prod",))
    assert "the tier is staging, dev's is dev" in " ".join(err.split())


@pytest.mark.parametrize(("argv", "message"), [
    (["prod", "--like", "dev"], "env prod already exists in mlops.yaml"),
    (["Prod_EU", "--like", "prod"], "env name 'Prod_EU' is not lowercase"),
    (["qa", "--like", "test"], "unknown env 'test'"),
    (["qa", "--like", "dev", "--region", "mars-1"], "region 'mars-1' is not an AWS region"),
    (["qa", "--like", "dev", "--account", "12345"], "not a 12-digit AWS account id"),
    (["qa", "--like", "dev", "--after", "stage"], "after names unknown env(s) stage"),
    (["qa", "--like", "dev", "--after", "qa"], "the promotion order has a cycle: qa after qa"),
], ids=["existing", "bad-name", "unknown-like", "bad-region", "bad-account", "unknown-after",
        "cycle"])
def test_env_add_refuses_and_writes_nothing(argv: list[str], message: str,
                                            tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    before = (root / "mlops.yaml").read_text()
    folders = sorted(p.name for p in (root / "envs").iterdir())
    code, out, err = mlops(root, "env", "add", *argv)
    assert code == 2, err
    assert message in " ".join(err.split()), err
    assert err.startswith("error: ") and "\n  fix: " in err, err
    assert out == ""
    assert (root / "mlops.yaml").read_text() == before
    assert sorted(p.name for p in (root / "envs").iterdir()) == folders


def test_env_add_refuses_an_existing_folder(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    (root / "envs" / "qa").mkdir()
    code, _, err = mlops(root, "env", "add", "qa", "--like", "dev")
    # The unlisted folder is refused before anything else, by the same check as every command.
    assert code == 2 and "envs/qa/ is not an env listed in" in err, err


@pytest.mark.terraform
def test_env_add_leaves_nothing_when_the_like_root_is_broken(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    backend = root / "envs" / "dev" / "backend.tf"
    backend.write_text(backend.read_text().replace("envs/dev/terraform.tfstate", "dev.tfstate"))
    before = (root / "mlops.yaml").read_text()
    code, _, err = mlops(root, "env", "add", "qa", "--like", "dev")
    assert code == 2 and "does not hold the state key" in err, err
    assert (root / "mlops.yaml").read_text() == before
    assert sorted(p.name for p in (root / "envs").iterdir()) == ["dev", "prod", "staging"]
