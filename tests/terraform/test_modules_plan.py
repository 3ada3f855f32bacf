"""Static checks and plan tests for every module under modules/.

- `terraform fmt -check` and `terraform validate` on each module;
- each fixture root under fixtures/<module>/ is planned against the embedded AWS and
  compared with inventories/<module>.yaml (resource counts by type, a subset of planned
  values per resource address, outputs);
- bad inputs (an open SSH CIDR, a missing required tag, a malformed env name, an unknown
  tier, what a tier forbids, a malformed tfvars file, ...) fail the plan with a message
  that says what is wrong.

Terraform runs in a per-session copy of modules/ and fixtures/ so the checkout stays clean,
with the CLI config from `mlops.adapters.terraform.prepare` (provider mirror + shared
plugin cache). Each fixture root is initialised once.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tftest
import yaml

from mlops.adapters.terraform import prepare
from mlops.settings import Settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FIXTURES = HERE / "fixtures"
INVENTORIES = HERE / "inventories"
MODULES = sorted(p.name for p in (ROOT / "modules").iterdir() if (p / "versions.tf").is_file())
UNKNOWN = "(known after apply)"  # inventory value: must be unknown at plan time
MISSING = object()

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]  # plans run against the embedded AWS


# -- environment ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tf_env(cloud: Any) -> dict[str, str]:
    """Terraform's environment: the embedded AWS (`cloud` in tests/conftest.py) with the
    mlops CLI config (provider mirror + plugin cache)."""
    env = {k: v for k, v in cloud.env.items() if k != "TF_LOG"}
    return prepare(Settings.from_env(env, cwd=ROOT), env)


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of modules/ and the fixture roots, laid out like the repository so the
    fixtures' relative module sources resolve."""
    work = tmp_path_factory.mktemp("tf")
    ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*")
    shutil.copytree(ROOT / "modules", work / "modules", ignore=ignore)
    shutil.copytree(FIXTURES, work / "tests" / "terraform" / "fixtures", ignore=ignore)
    return work


# Objects a fixture root reads at plan time (data sources), put into the worker's embedded
# S3 before it is planned: module -> bucket -> key -> S3 user metadata.
FIXTURE_OBJECTS: dict[str, dict[str, dict[str, dict[str, str]]]] = {
    "sagemaker_endpoint": {"mlops-demo-fixture-artifacts": {
        "models/v1/model.tar.gz": {"mlops-fault": "none", "mlops-sha256": "1" * 64},
        "models/v2/model.tar.gz": {"mlops-fault": "error-rate=0.5", "mlops-sha256": "2" * 64},
    }},
}


def _put_fixture_objects(cloud: Any, module: str) -> None:
    s3 = cloud.client("s3")
    for bucket, objects in FIXTURE_OBJECTS.get(module, {}).items():
        s3.create_bucket(Bucket=bucket)
        for key, metadata in objects.items():
            s3.put_object(Bucket=bucket, Key=key, Body=b"a model.tar.gz", Metadata=metadata)


@pytest.fixture(scope="module")
def root(workspace: Path, tf_env: dict[str, str],
         cloud: Any) -> Callable[[str], tftest.TerraformTest]:
    """root(module) -> the initialised fixture root for that module (init once)."""
    cache: dict[str, tftest.TerraformTest] = {}

    def get(module: str) -> tftest.TerraformTest:
        if module not in cache:
            _put_fixture_objects(cloud, module)
            tf = tftest.TerraformTest(workspace / "tests" / "terraform" / "fixtures" / module,
                                      binary=tf_env["TERRAFORM"], env=tf_env)
            tf.setup()
            cache[module] = tf
        return cache[module]

    return get


def _plan_error(tf: tftest.TerraformTest, **kwargs: Any) -> str:
    with pytest.raises(tftest.TerraformTestError) as info:
        tf.plan(output=True, **kwargs)
    stderr = info.value.cmd_error or info.value.args[0]  # terraform's error text
    return " ".join(str(stderr).split())  # terraform wraps long messages


# -- static checks -------------------------------------------------------------------------


def test_every_module_has_a_fixture_and_an_inventory() -> None:
    missing = [f"{m}: {p.relative_to(ROOT)}" for m in MODULES
               for p in (FIXTURES / m / "main.tf", INVENTORIES / f"{m}.yaml") if not p.is_file()]
    assert not missing, f"modules without plan test material: {missing}"


@pytest.mark.parametrize("module", MODULES)
def test_fmt(module: str, tf_env: dict[str, str]) -> None:
    proc = subprocess.run([tf_env["TERRAFORM"], "fmt", "-check", "-diff", "-recursive",
                           str(ROOT / "modules" / module)],
                          capture_output=True, text=True, env=tf_env, check=False)
    assert proc.returncode == 0, (
        f"modules/{module} is not `terraform fmt` formatted "
        f"(run `terraform fmt -recursive modules/{module}`):\n{proc.stdout}{proc.stderr}")


@pytest.mark.parametrize("module", MODULES)
def test_validate(module: str, workspace: Path, tf_env: dict[str, str]) -> None:
    tf = tftest.TerraformTest(workspace / "modules" / module, binary=tf_env["TERRAFORM"],
                              env=tf_env)
    tf.setup(backend=False)
    out = tf.execute_command("validate", "-no-color")
    assert "Success" in out.out, f"terraform validate modules/{module}:\n{out.out}{out.err}"


# -- plans against the inventories ---------------------------------------------------------


def _compare(expected: Any, found: Any, unknown: Any, path: str) -> list[str]:
    """Differences between an inventory value and a planned value (`unknown` is the
    matching part of after_unknown). Maps are compared key by key (a subset), lists
    element by element (same length)."""
    if expected == UNKNOWN:
        return [] if unknown is True else [f"{path}: found {found!r}, expected {UNKNOWN}"]
    if unknown is True:
        return [f"{path}: found {UNKNOWN}, expected {expected!r}"]
    if isinstance(expected, dict):
        if not isinstance(found, dict):
            return [f"{path}: found {found!r}, expected a map with {expected!r}"]
        sub = unknown if isinstance(unknown, dict) else {}
        return [d for key, value in expected.items()
                for d in _compare(value, found.get(key, MISSING), sub.get(key), f"{path}.{key}")]
    if isinstance(expected, list):
        if not isinstance(found, list) or len(found) != len(expected):
            return [f"{path}: found {found!r}, expected {expected!r}"]
        subs = unknown if isinstance(unknown, list) else [None] * len(found)
        return [d for i, (e, f, u) in enumerate(zip(expected, found, subs, strict=False))
                for d in _compare(e, f, u, f"{path}[{i}]")]
    if found is MISSING:
        return [f"{path}: not in the plan, expected {expected!r}"]
    if found != expected or isinstance(found, bool) != isinstance(expected, bool):
        return [f"{path}: found {found!r}, expected {expected!r}"]
    return []


@pytest.mark.parametrize("module", MODULES)
def test_plan_matches_inventory(module: str,
                                root: Callable[[str], tftest.TerraformTest]) -> None:
    inventory_path = INVENTORIES / f"{module}.yaml"
    inventory = yaml.safe_load(inventory_path.read_text())
    name = inventory_path.relative_to(ROOT)
    plan = root(module).plan(output=True)
    changes = {address: rc for address, rc in plan.resource_changes.items()
               if rc["mode"] == "managed"}
    problems: list[str] = []

    not_created = [a for a, rc in changes.items() if rc["change"]["actions"] != ["create"]]
    if not_created:
        problems.append(f"a fresh plan should only create; found other actions on {not_created}")

    counts: dict[str, int] = {}
    for rc in changes.values():
        counts[rc["type"]] = counts.get(rc["type"], 0) + 1
    for rtype in sorted(set(counts) | set(inventory.get("counts", {}))):
        found, expected = counts.get(rtype, 0), inventory.get("counts", {}).get(rtype, 0)
        if found != expected:
            problems.append(f"count of {rtype}: found {found}, expected {expected}")

    for address, values in (inventory.get("values") or {}).items():
        if address not in changes:
            problems.append(f"{address}: not in the plan (planned: {sorted(changes)})")
            continue
        change = changes[address]["change"]
        problems += _compare(values, change["after"], change["after_unknown"], address)

    output_changes = plan.get("output_changes", {})
    expected_outputs = inventory.get("outputs") or {}
    if sorted(output_changes) != sorted(expected_outputs):
        problems.append(f"outputs: found {sorted(output_changes)}, "
                        f"expected {sorted(expected_outputs)}")
    for output, value in expected_outputs.items():
        if output in output_changes:
            oc = output_changes[output]
            problems += _compare(value, oc.get("after"), oc.get("after_unknown"),
                                 f"output.{output}")

    if problems:
        pytest.fail(f"{name}: the plan differs from the inventory:\n  " + "\n  ".join(problems),
                    pytrace=False)


# -- bad inputs ----------------------------------------------------------------------------

GOOD_TAGS = {"env": "dev", "owner": "ml-platform", "cost": "ml"}

BAD_INPUTS = [
    pytest.param("gpu_trainer", {"ssh_cidrs": {"anyone": "0.0.0.0/0"}},
                 "ssh_cidrs must not open SSH to the whole internet (0.0.0.0/0 or ::/0)",
                 id="gpu_trainer-ssh-open-ipv4"),
    pytest.param("gpu_trainer", {"ssh_cidrs": {"anyone": "::/0"}},
                 "ssh_cidrs must not open SSH to the whole internet (0.0.0.0/0 or ::/0)",
                 id="gpu_trainer-ssh-open-ipv6"),
    pytest.param("gpu_trainer", {"ssh_cidrs": {"typo": "10.0.0.300/32"}},
                 "ssh_cidrs values must be valid CIDR blocks like 203.0.113.7/32; "
                 "got: 10.0.0.300/32.",
                 id="gpu_trainer-ssh-malformed-cidr"),
    pytest.param("cost_guardrails", {"notifications": {"thresholds": [80]}},
                 "notifications need at least one subscriber",
                 id="cost_guardrails-no-subscriber"),
    *[pytest.param(m, {"tags": {"env": "dev", "owner": "ml-platform"}},
                   "tags must contain non-empty env, owner and cost keys; missing: cost.",
                   id=f"{m}-missing-cost-tag") for m in MODULES],
    *[pytest.param(m, {"env": name, "tags": {**GOOD_TAGS, "env": name}},
                   "env must be at most 12 lowercase letters and digits, starting with a "
                   "letter, in words joined by single hyphens (e.g. dev, qa, prod-eu).",
                   id=f"{m}-bad-env-name-{name}")
      # The pattern in every module; the length (13 characters) once: the same condition.
      for m in MODULES for name in ("Prod_EU", *(["prod-europe-1"] if m == "ml_bucket" else []))],
    *[pytest.param(m, {"tier": "qa"}, "tier must be one of dev, staging, prod.",
                   id=f"{m}-unknown-tier")
      for m in ("ml_bucket", "ecr_repository", "sagemaker_endpoint")],
    # What the tier means inside the modules.
    pytest.param("ml_bucket", {"tier": "prod", "force_destroy": "true"},
                 "force_destroy must be false in a prod-tier env: production artifacts are "
                 "never deleted with their bucket.", id="ml_bucket-prod-force-destroy"),
    pytest.param("ecr_repository", {"tier": "prod", "force_delete": "true"},
                 "force_delete must be false in a prod-tier env", id="ecr_repository-prod-force"),
    pytest.param("sagemaker_endpoint", {"ttl": "null"},
                 "a dev-tier endpoint must have a ttl (hours and/or expires_at)",
                 id="sagemaker_endpoint-dev-without-ttl"),
    *[pytest.param(m, {"tags": {**GOOD_TAGS, "env": "prod"}},
                   "tags.env (prod) must equal env (dev).",
                   id=f"{m}-tags-env-mismatch") for m in MODULES],
]


@pytest.mark.parametrize(("module", "tf_vars", "message"), BAD_INPUTS)
def test_bad_input_fails_with_a_clear_message(
        module: str, tf_vars: dict[str, Any], message: str,
        root: Callable[[str], tftest.TerraformTest]) -> None:
    error = _plan_error(root(module), tf_vars=tf_vars)
    assert message in error, (
        f"fixtures/{module} with {tf_vars}: expected the plan to fail with {message!r}, "
        f"found:\n{error[-2000:]}")


@pytest.mark.parametrize("text", [
    'ssh_cidrs = {\n  office = "203.0.113.7/32"\n',  # unclosed brace
    'ssh_cidrs = { office = "203.0.113.7/32" }\ntags = \n',  # missing value
    "ssh_cidrs: {office: 203.0.113.7/32}\n",  # YAML, not HCL
], ids=["unclosed-brace", "missing-value", "yaml-not-hcl"])
def test_malformed_tfvars_fails_naming_the_file(
        text: str, tmp_path: Path, root: Callable[[str], tftest.TerraformTest]) -> None:
    tfvars = tmp_path / "broken.tfvars"
    tfvars.write_text(text)
    error = _plan_error(root("gpu_trainer"), tf_var_file=str(tfvars))
    assert "Error:" in error and "broken.tfvars" in error, (
        f"a malformed {tfvars.name} should fail the plan naming the file, found:\n"
        f"{error[-2000:]}")
