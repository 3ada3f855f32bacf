"""Static checks of the root modules: bootstrap/ and every env root validate, and their
formatting is `terraform fmt` clean. (Modules: tests/terraform/test_modules_plan.py.)"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mlops.adapters.terraform import prepare
from mlops.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# bootstrap/ and every env root (any number of them).
ROOTS = ["bootstrap", *sorted(f"envs/{p.name}" for p in (ROOT / "envs").iterdir()
                              if p.is_dir() and not p.name.startswith("."))]


@pytest.fixture(scope="module")
def tf_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {**os.environ, "MLOPS_ROOT": str(ROOT),
           "MLOPS_STATE_DIR": str(tmp_path_factory.mktemp("state"))}
    return prepare(Settings.from_env(env), env)


def terraform(tf_env: dict[str, str], data_dir: Path,
              *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tf_env["TERRAFORM"], *args], capture_output=True, text=True,
                          env={**tf_env, "TF_DATA_DIR": str(data_dir)}, check=False)


@pytest.mark.terraform
@pytest.mark.parametrize("root", ROOTS)
def test_root_validates(root: str, tf_env: dict[str, str], tmp_path: Path) -> None:
    """init without a backend (no cloud needed), then validate. -lockfile=readonly: the
    committed .terraform.lock.hcl must already cover the providers."""
    init = terraform(tf_env, tmp_path, f"-chdir={ROOT / root}", "init", "-backend=false",
                     "-input=false", "-no-color", "-lockfile=readonly")
    assert init.returncode == 0, f"terraform init {root}:\n{init.stdout}{init.stderr}"
    out = terraform(tf_env, tmp_path, f"-chdir={ROOT / root}", "validate", "-no-color")
    assert out.returncode == 0 and "Success" in out.stdout, (
        f"terraform validate {root}:\n{out.stdout}{out.stderr}")


@pytest.mark.terraform
@pytest.mark.parametrize("root", ROOTS)
def test_root_is_formatted(root: str, tf_env: dict[str, str], tmp_path: Path) -> None:
    out = terraform(tf_env, tmp_path, "fmt", "-check", "-diff", str(ROOT / root))
    assert out.returncode == 0, (
        f"{root} is not `terraform fmt` formatted (run `make fmt`):\n{out.stdout}")


@pytest.mark.parametrize("root", ROOTS[1:])
def test_env_roots_pin_the_provider_exactly_and_commit_the_lock(root: str) -> None:
    versions = (ROOT / root / "versions.tf").read_text()
    assert 'version = "5.100.0"' in versions, f"{root}/versions.tf must pin hashicorp/aws"
    lock = ROOT / root / ".terraform.lock.hcl"
    assert lock.is_file() and 'version     = "5.100.0"' in lock.read_text(), (
        f"{lock} is missing or does not lock hashicorp/aws 5.100.0 (run terraform init)")
