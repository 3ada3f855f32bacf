"""Shared fixtures for the tests that drive the `mlops` CLI against the embedded AWS.
Helpers are fixtures too (test modules never import this file):

- `run_mlops(env, *argv)`: `mlops.cli.main` in-process, its exit code, stdout and stderr;
- `mlops_env`: the worker's embedded cloud (`cloud` in tests/conftest.py) with the repo as
  MLOPS_ROOT and a private MLOPS_STATE_DIR, so tests never share `.mlops/` with developers
  (each root runs with its own TF_DATA_DIR under it); the provider cache is the worker's;
- `bootstrapped`: `mlops bootstrap` once per worker (each xdist worker has its own cloud);
- `project_env(root)`: the same environment for a temporary MLOPS_ROOT with its own state dir;
- `repo_copy(dest)`: envs/, modules/ and mlops.yaml copied (state keys optionally unique);
- `small_project(dest, roots)`: a temporary MLOPS_ROOT with small env roots of its own (and
  an mlops.yaml listing exactly those envs).
"""

from __future__ import annotations

import io
import re
import shutil
import uuid
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops import context
from mlops.cli import main

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (f"`mlops {' '.join(self.argv)}` exited {self.code}\n--- stdout (tail) ---\n"
                f"{self.stdout[-3000:]}\n--- stderr (tail) ---\n{self.stderr[-6000:]}")

    def check(self, expected: int = 0) -> Run:
        assert self.code == expected, f"expected exit {expected}, found:\n{self.describe()}"
        return self


def _run_mlops(env: dict[str, str], *argv: str) -> Run:
    """The real CLI entry point, in-process; what it prints to stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv), env)
    return Run(tuple(argv), code, out.getvalue(), err.getvalue())


@dataclass(frozen=True)
class Bootstrap:
    env: dict[str, str]
    outputs: dict[str, Any]

    @property
    def state_bucket(self) -> str:
        return str(self.outputs["state_bucket"])


def _base_env(cloud: Any, state_dir: Path, root: Path) -> dict[str, str]:
    if not cloud.terraform_ready:
        pytest.fail("terraform is not usable (see `mlops toolchain`); these tests need it")
    env = {k: v for k, v in cloud.env.items() if k != "TF_LOG"}
    env.update({
        "MLOPS_ROOT": str(root),
        "MLOPS_STATE_DIR": str(state_dir),
        # The worker's provider cache (shared with the module plan tests), so a new state
        # dir does not copy the AWS provider again.
        "TF_PLUGIN_CACHE_DIR": str(Path(cloud.env["MLOPS_STATE_DIR"]) / "plugin-cache"),
    })
    return env


@pytest.fixture(scope="session")
def mlops_env(cloud: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return _base_env(cloud, tmp_path_factory.mktemp("mlops-cli-state"), ROOT)


@pytest.fixture(scope="session")
def bootstrapped(mlops_env: dict[str, str]) -> Bootstrap:
    """`mlops bootstrap` on this worker's cloud; its outputs read back through the adapter."""
    _run_mlops(mlops_env, "bootstrap").check(0)
    ctx = context.load(mlops_env)
    tf = ctx.terraform(ROOT / "bootstrap", "bootstrap")
    outputs = {name: out["value"] for name, out in tf.outputs().items()}
    return Bootstrap(env=mlops_env, outputs=outputs)


@pytest.fixture
def project_env(cloud: Any, tmp_path: Path) -> Callable[[Path], dict[str, str]]:
    """project_env(root) -> the environment for `mlops` on a temporary MLOPS_ROOT."""

    def make(root: Path) -> dict[str, str]:
        state = tmp_path / f"state-{root.name}"
        state.mkdir(exist_ok=True)
        return _base_env(cloud, state, root)

    return make


def _repo_copy(dest: Path, *, key_prefix: str | None = None,
              config: Callable[[str], str] | None = None) -> Path:
    """envs/, modules/ and mlops.yaml under `dest`. With key_prefix, each env's state key
    becomes `<key_prefix>/envs/<env>/terraform.tfstate` so its state is its own."""
    ignore = shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan")
    for name in ("envs", "modules"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    text = (ROOT / "mlops.yaml").read_text()
    (dest / "mlops.yaml").write_text(config(text) if config else text)
    if key_prefix:
        for backend in (dest / "envs").glob("*/backend.tf"):
            backend.write_text(re.sub(r'key(\s*)= "envs/',
                                      f'key\\1= "{key_prefix}/envs/', backend.read_text()))
    return dest


PROVIDER_TF = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}

provider "aws" {
  region            = "us-east-1"
  s3_use_path_style = true

  default_tags {
    tags = { env = "%(env)s", owner = "ml-platform", cost = "tests" }
  }
}
"""


def _small_project(dest: Path, roots: dict[str, dict[str, str]], *,
                  mask_patterns: tuple[str, ...] = ()) -> Path:
    """A temporary MLOPS_ROOT: the repo's mlops.yaml (plus mask patterns) and small env
    roots, `roots[env][filename] = text`. Each root keeps its state in the bootstrapped
    state bucket under a key of its own; with the AWS provider it gets the repo's lock
    file, so `terraform init` links the cached provider instead of copying it."""
    dest.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((ROOT / "mlops.yaml").read_text())
    # Exactly the envs it has roots for (mlops refuses a listed env without its folder);
    # dev, staging and prod keep their tiers, any other name is of the dev tier.
    tiers = ("dev", "staging", "prod")  # in this order, then other names, of the dev tier
    names = [n for n in tiers if n in roots] + [n for n in roots if n not in tiers]
    config["envs"] = {name: {"tier": name if name in tiers else "dev"} for name in names}
    if mask_patterns:
        config["mask_patterns"] = list(mask_patterns)
    (dest / "mlops.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    for env_name, files in roots.items():
        root = dest / "envs" / env_name
        root.mkdir(parents=True)
        key = f"tests/{dest.name}-{uuid.uuid4().hex[:8]}/{env_name}/terraform.tfstate"
        (root / "backend.tf").write_text(
            'terraform {\n  backend "s3" {\n'
            f'    key          = "{key}"\n'
            '    region       = "us-east-1"\n    use_lockfile = true\n  }\n}\n')
        for name, body in files.items():
            (root / name).write_text(body)
        if any("aws_" in body for body in files.values()):
            (root / "providers.tf").write_text(PROVIDER_TF % {"env": env_name})
            shutil.copy(ROOT / "envs" / "dev" / ".terraform.lock.hcl", root)
    return dest


@pytest.fixture(name="run_mlops", scope="session")
def run_mlops_fixture() -> Callable[..., Run]:
    return _run_mlops


@pytest.fixture(name="repo_copy", scope="session")
def repo_copy_fixture() -> Callable[..., Path]:
    return _repo_copy


@pytest.fixture(name="small_project", scope="session")
def small_project_fixture() -> Callable[..., Path]:
    return _small_project


# A root whose `terraform apply` holds the state lock until a file exists (-var
# release_file=PATH; without it, no wait): how the lock tests make Terraform hold the lock
# while mlops is refused, or the other way round (test_statelock_terraform.py,
# canary/test_canary_refusals.py).
WAITING_ROOT = {"main.tf": '''
variable "release_file" {
  type    = string
  default = ""
}

resource "terraform_data" "wait" {
  input = "v1"

  provisioner "local-exec" {
    command     = "while [ ! -e \\"$RELEASE\\" ]; do sleep 0.1; done"
    environment = { RELEASE = var.release_file == "" ? "/" : var.release_file }
  }
}
'''}


@pytest.fixture(name="waiting_root", scope="session")
def waiting_root_fixture() -> dict[str, str]:
    return WAITING_ROOT
