"""Toolchain: the Terraform CLI config mlops writes, version checks, settings overrides."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from mlops.adapters.terraform import prepare
from mlops.core import toolchain
from mlops.errors import MlopsError
from mlops.settings import Settings


def make_mirror(root: Path) -> Path:
    provider = root / "registry.terraform.io" / "hashicorp" / "aws" / "5.100.0" / "linux_amd64"
    provider.mkdir(parents=True)
    return root


def test_cli_config_with_a_mirror_takes_its_providers_from_it(tmp_path: Path) -> None:
    mirror = make_mirror(tmp_path / "mirror")
    text = toolchain.render_cli_config(mirror, tmp_path / "cache")
    assert f'path    = "{mirror}"' in text
    assert 'include = ["registry.terraform.io/hashicorp/aws"]' in text
    # everything else still comes from the registry
    assert 'exclude = ["registry.terraform.io/hashicorp/aws"]' in text
    assert f'plugin_cache_dir = "{tmp_path / "cache"}"' in text


def test_cli_config_without_a_mirror_uses_the_registry(tmp_path: Path) -> None:
    text = toolchain.render_cli_config(None, tmp_path / "cache")
    assert "provider_installation" not in text
    assert "plugin_cache_dir" in text


@pytest.mark.parametrize(
    ("output", "expected"),
    [('{"terraform_version":"1.11.4"}', (1, 11, 4)),
     ('{"terraform_version":"1.5.0-beta1"}', (1, 5, 0))],
)
def test_parse_version(output: str, expected: tuple[int, int, int]) -> None:
    assert toolchain.parse_version(output) == expected


def test_parse_version_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="unrecognised terraform version"):
        toolchain.parse_version('{"terraform_version": "banana"}')


# 1.5 was accepted once, but the env roots need S3 native locking (use_lockfile, 1.10).
@pytest.mark.parametrize(("version", "ok"), [((1, 5, 0), False), ((1, 9, 8), False),
                                              ((1, 10, 0), True), ((1, 11, 4), True),
                                              ((2, 0, 0), True)])
def test_minimum_version(version: tuple[int, int, int], ok: bool) -> None:
    assert toolchain.version_ok(version) is ok


def test_minimum_version_is_what_the_env_roots_and_readme_require() -> None:
    root = Path(__file__).resolve().parents[2]
    wanted = ".".join(map(str, toolchain.MIN_TERRAFORM[:2]))
    for versions in sorted(root.glob("envs/*/versions.tf")):
        found = re.search(r'required_version\s*=\s*">=\s*([0-9.]+)"', versions.read_text())
        assert found and found.group(1) == wanted, (
            f"{versions}: required_version {found.group(1) if found else None} != "
            f"mlops' MIN_TERRAFORM {wanted}")
    readme = (root / "README.md").read_text()
    assert f"Terraform >= {wanted}" in readme, f"README.md must say Terraform >= {wanted}"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "mlops.yaml").write_text("project: x\n")
    return root


def test_settings_paths_are_overridable(repo: Path, tmp_path: Path) -> None:
    mirror = make_mirror(tmp_path / "m")
    settings = Settings.from_env({"MLOPS_ROOT": str(repo), "MLOPS_STATE_DIR": str(tmp_path / "s"),
                                  "TF_PROVIDER_MIRROR": str(mirror), "TERRAFORM": "/opt/tf",
                                  "TF_PLUGIN_CACHE_DIR": str(tmp_path / "c")})
    assert settings.root == repo
    assert settings.state_dir == tmp_path / "s"
    assert settings.mirror == mirror
    assert settings.terraform == "/opt/tf"
    assert settings.plugin_cache == tmp_path / "c"


def test_empty_mirror_variable_means_registry_only(repo: Path) -> None:
    assert Settings.from_env({"MLOPS_ROOT": str(repo), "TF_PROVIDER_MIRROR": ""}).mirror is None


def test_root_is_found_from_a_subdirectory(repo: Path) -> None:
    sub = repo / "envs" / "dev"
    sub.mkdir(parents=True)
    assert Settings.from_env({}, cwd=sub).root == repo


@pytest.mark.parametrize(
    ("env", "message"),
    [({"TF_PROVIDER_MIRROR": "/nonexistent/mirror"}, "is not a directory"),
     ({"MLOPS_ROOT": "/nonexistent/root"}, r"has no mlops\.yaml")],
)
def test_bad_paths_say_what_and_how_to_fix(repo: Path, env: dict[str, str],
                                           message: str) -> None:
    with pytest.raises(MlopsError, match=message) as excinfo:
        Settings.from_env({"MLOPS_ROOT": str(repo), **env})
    assert excinfo.value.fix


def test_outside_a_checkout_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MlopsError, match=r"no mlops\.yaml"):
        Settings.from_env({}, cwd=tmp_path)


def fake_terraform(path: Path, version: str) -> Path:
    """A stand-in terraform binary that only answers `version -json` (a real peer for the
    version check without downloading an old Terraform)."""
    path.write_text("#!/bin/sh\necho '" + json.dumps({"terraform_version": version}) + "'\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_prepare_writes_the_cli_config_and_environment(repo: Path, tmp_path: Path) -> None:
    mirror = make_mirror(tmp_path / "m")
    binary = fake_terraform(tmp_path / "terraform", "1.11.4")
    env = {"MLOPS_ROOT": str(repo), "MLOPS_STATE_DIR": str(tmp_path / "state"),
           "TF_PROVIDER_MIRROR": str(mirror), "TERRAFORM": str(binary),
           "PATH": os.environ.get("PATH", "")}
    out = prepare(Settings.from_env(env), env)
    rc = Path(out["TF_CLI_CONFIG_FILE"])
    assert rc == tmp_path / "state" / "terraformrc"
    assert str(mirror) in rc.read_text()
    assert (tmp_path / "state" / "plugin-cache").is_dir()
    assert out["TF_IN_AUTOMATION"] == "1" and out["TF_INPUT"] == "0"
    assert out["GOGC"] == toolchain.TERRAFORM_GOGC, "Terraform runs with mlops' GC target"
    assert prepare(Settings.from_env(env), {**env, "GOGC": "150"})["GOGC"] == "150", (
        "a GOGC the user set is kept")


def test_prepare_refuses_an_old_terraform(repo: Path, tmp_path: Path) -> None:
    binary = fake_terraform(tmp_path / "terraform", "1.3.9")
    env = {"MLOPS_ROOT": str(repo), "MLOPS_STATE_DIR": str(tmp_path / "s"),
           "TERRAFORM": str(binary), "TF_PROVIDER_MIRROR": "", "PATH": ""}
    with pytest.raises(MlopsError, match=r"terraform 1\.3\.9 .* is too old"):
        prepare(Settings.from_env(env), env)


def test_prepare_says_how_to_get_terraform_when_missing(repo: Path, tmp_path: Path) -> None:
    env = {"MLOPS_ROOT": str(repo), "MLOPS_STATE_DIR": str(tmp_path / "s"),
           "TF_PROVIDER_MIRROR": "", "PATH": str(tmp_path)}  # no terraform on this PATH
    with pytest.raises(MlopsError, match="terraform not found") as excinfo:
        prepare(Settings.from_env(env), env)
    assert "developer.hashicorp.com/terraform/install" in excinfo.value.fix


def test_the_version_is_asked_once_per_binary(repo: Path, tmp_path: Path) -> None:
    """`terraform version` costs every command a Terraform start: it is remembered for the
    very file (path, size, mtime), and asked again when the binary changes."""
    calls = tmp_path / "calls"
    binary = tmp_path / "terraform"

    def install(version: str) -> None:
        binary.write_text(f"#!/bin/sh\necho run >> {calls}\necho '"
                          + json.dumps({"terraform_version": version}) + "'\n")
        binary.chmod(binary.stat().st_mode | stat.S_IEXEC)

    install("1.11.4")
    env = {"MLOPS_ROOT": str(repo), "MLOPS_STATE_DIR": str(tmp_path / "s"),
           "TERRAFORM": str(binary), "TF_PROVIDER_MIRROR": "", "PATH": ""}
    prepare(Settings.from_env(env), env)
    prepare(Settings.from_env(env), env)
    assert calls.read_text().count("run") == 1
    install("1.3.9")  # another Terraform at the same path: asked again, and refused
    os.utime(binary, ns=(0, 1))
    with pytest.raises(MlopsError, match=r"1\.3\.9 .* is too old"):
        prepare(Settings.from_env(env), env)
    assert calls.read_text().count("run") == 2


# -- the plugin cache: which inits only read it (commands/plan.py CacheFill) --------------

ROOT = Path(__file__).resolve().parents[2]
TWO_PROVIDERS = '''# This file is maintained automatically by "terraform init".
# Manual edits may be lost in future updates.

provider "registry.terraform.io/hashicorp/aws" {
  version     = "5.100.0"
  constraints = ">= 5.0.0, 5.100.0"
  hashes = [
    "h1:edXOJWE4ORX8Fm+dpVpICzMZJat4AX0VRCAy/xkcOc0=",
  ]
}

provider "registry.terraform.io/hashicorp/random" {
  version = "3.6.3"
  hashes = [
    "h1:zG9uFP8l9u+yGZZvi5Te7PV62j50azpgwPunq2vTm1E=",
    "zh:04ceb65210251339f07cd4611885d242cd4d0c7306e86dda9785396807c00451",
  ]
}
'''


@pytest.mark.parametrize("lock", sorted(
    str(p.relative_to(ROOT)) for p in [*ROOT.glob("envs/*/.terraform.lock.hcl"),
                                       ROOT / "bootstrap" / ".terraform.lock.hcl"]))
def test_every_committed_lock_file_pins_the_aws_provider(lock: str) -> None:
    # The lock files terraform init wrote: the oracle for the format is Terraform's own.
    found = toolchain.locked_providers((ROOT / lock).read_text())
    assert found == {"registry.terraform.io/hashicorp/aws": "5.100.0"}, f"{lock}: {found}"


def test_a_lock_file_with_two_providers_pins_both() -> None:
    assert toolchain.locked_providers(TWO_PROVIDERS) == {
        "registry.terraform.io/hashicorp/aws": "5.100.0",
        "registry.terraform.io/hashicorp/random": "3.6.3"}
    assert toolchain.cache_entries(Path("/cache"), TWO_PROVIDERS, "linux_amd64") == [
        Path("/cache/registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64"),
        Path("/cache/registry.terraform.io/hashicorp/random/3.6.3/linux_amd64")]
    assert toolchain.locked_providers("# no provider yet\n") == {}


def _cache_with(root: Path, *providers: tuple[str, str], executable: bool = True) -> Path:
    from mlops.adapters.terraform import _platform

    for source, version in providers:
        entry = root / source / version / str(_platform())
        entry.mkdir(parents=True)
        binary = entry / f"terraform-provider-{source.rsplit('/', 1)[1]}_v{version}_x5"
        binary.write_text("")
        binary.chmod(0o755 if executable else 0o644)
    return root


AWS = ("registry.terraform.io/hashicorp/aws", "5.100.0")
RANDOM = ("registry.terraform.io/hashicorp/random", "3.6.3")


@pytest.mark.parametrize(("cached", "executable", "lock", "expected"), [
    ((AWS, RANDOM), True, TWO_PROVIDERS, True),
    ((AWS,), True, TWO_PROVIDERS, False),  # random would be installed: a write
    ((AWS, RANDOM), False, TWO_PROVIDERS, False),  # an entry without its executable
    ((), True, TWO_PROVIDERS, False),
    ((AWS,), True, None, False),  # no lock file: init picks versions and may write
    ((AWS,), True, "# empty\n", False),
], ids=["all-cached", "one-missing", "not-executable", "empty-cache", "no-lock", "no-provider"])
def test_an_init_only_reads_the_cache_when_every_locked_provider_is_in_it(
        tmp_path: Path, cached: tuple[tuple[str, str], ...], executable: bool,
        lock: str | None, expected: bool) -> None:
    from mlops.adapters.terraform import providers_cached

    cache = _cache_with(tmp_path / "cache", *cached, executable=executable)
    assert providers_cached(lock.encode() if lock is not None else None, cache) is expected
