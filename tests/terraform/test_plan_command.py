"""`mlops plan` against the embedded AWS, its plan directories used as they are in a pull
request: rendered by `mlops comment render` (and read back by core.comment.parse_comment
the way the apply step does) and checked by `mlops policy check`.

Real plans of small temporary projects (a temporary MLOPS_ROOT whose env roots keep their
state in this worker's bootstrapped state bucket under keys of their own): small, large,
with replacements of stateful prod resources, with sensitive values, failed; and
`mlops plan --changed` in a git clone of the repository. The real env roots' drift and
replacement plans are in test_envs_apply.py (they need the applied env).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from mlops.core import comment, plansummary

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]


def read_json(path: Path) -> Any:
    assert path.is_file(), (
        f"expected {path.name} in {path.parent}; found "
        f"{sorted(p.name for p in path.parent.iterdir()) if path.parent.is_dir() else 'no dir'}")
    return json.loads(path.read_text())


def flat(text: str) -> str:
    """Whitespace collapsed: Terraform wraps long messages at 80 columns."""
    return " ".join(text.split())


def _short() -> str:
    return uuid.uuid4().hex[:8]


# -- (a) a small plan ------------------------------------------------------------------------


def small_roots(name: str) -> dict[str, dict[str, str]]:
    return {"dev": {"main.tf": f"""
resource "aws_sagemaker_model" "churn" {{
  name               = "{name}"
  execution_role_arn = "arn:aws:iam::123456789012:role/{name}"

  primary_container {{
    image          = "683313688378.dkr.ecr.us-east-1.amazonaws.com/serve:1.2-1"
    model_data_url = "s3://{name}/models/v1/model.tar.gz"
  }}
}}

resource "aws_sagemaker_endpoint_configuration" "churn" {{
  name = "{name}"

  production_variants {{
    variant_name           = "stable"
    model_name             = aws_sagemaker_model.churn.name
    instance_type          = "ml.t2.medium"
    initial_instance_count = 1
  }}
}}

resource "terraform_data" "release" {{
  input = "v1"
}}

output "config_name" {{
  value = aws_sagemaker_endpoint_configuration.churn.name
}}
"""}}


def test_small_plan_renders_counts_cost_and_the_plan_hash(
        small_project: Any, project_env: Any, run_mlops: Any, tmp_path: Path,
        bootstrapped: Any) -> None:
    name = f"small-{_short()}"
    env = project_env(small_project(tmp_path / "small", small_roots(name)))
    out = tmp_path / "plan"
    planned = run_mlops(env, "plan", "--env", "dev", "--out", str(out)).check(0)
    assert "aws_sagemaker_endpoint_configuration.churn will be created" in planned.stdout, (
        f"`mlops plan` prints the text plan on stdout; found:\n{planned.stdout[:2000]}")
    for name_ in ("plan.tfplan", "plan.json", "plan.txt", "summary.json"):
        assert (out / name_).is_file(), f"{name_} missing from the plan directory {out}"
    assert not (out / "error.txt").exists(), "error.txt written for a plan that succeeded"

    summary = read_json(out / "summary.json")
    plan = read_json(out / "plan.json")
    counts = {k: summary["counts"][k] for k in ("add", "change", "destroy", "replace", "outputs")}
    assert counts == {"add": 3, "change": 0, "destroy": 0, "replace": 0, "outputs": 1}, (
        f"summary.json counts: found {counts}, expected 3 adds and 1 output change")
    assert summary["plan_hash"] == plansummary.plan_hash(plan), (
        f"summary.json plan_hash {summary['plan_hash']} is not the hash of plan.json "
        f"{plansummary.plan_hash(plan)}")
    cost = [(c["instance_type"], c["count"], c["hourly_each"]) for c in summary["cost"]]
    assert cost == [("ml.t2.medium", 1, 0.056)], (
        f"summary.json cost lines: found {cost}, expected [('ml.t2.medium', 1, 0.056)] "
        "(the endpoint configuration's one variant at the price-table price)")

    rendered = run_mlops(env, "comment", "render", str(out)).check(0)
    body = rendered.stdout
    assert comment.is_plan_comment(body), f"the body must start with the marker:\n{body[:300]}"
    for wanted in ("### dev", "3 to add", "1 output change", "ml.t2.medium x1",
                   "+$0.06/h", "aws_sagemaker_endpoint_configuration.churn",
                   f"sha256:{summary['plan_hash'][:12]}"):
        assert wanted in body, f"comment for the small plan: {wanted!r} not found in:\n{body}"
    assert "[!WARNING]" not in body and "[!CAUTION]" not in body, (
        f"a plan that only creates should carry no warning; found:\n{body[:1500]}")
    parsed = comment.parse_comment(body)
    assert parsed == {"dev": plansummary.plan_hash(plan)}, (
        f"parse_comment read back {parsed}, expected dev -> the sha256 of plan.json "
        f"{plansummary.plan_hash(plan)}")


# -- (b) replacements: prod + stateful double warning, dev warning, policy gate ----------------


def replace_roots(name: str) -> dict[str, dict[str, str]]:
    prod = f"""
variable "generation" {{
  type = string
}}

resource "aws_ecr_repository" "images" {{
  name         = "{name}-${{var.generation}}"
  force_delete = true
}}

resource "aws_s3_bucket" "data" {{
  bucket        = "{name}-${{var.generation}}"
  force_destroy = true
}}

resource "terraform_data" "unchanged" {{
  input = "same"
}}
"""
    dev = """
variable "generation" {
  type = string
}

resource "terraform_data" "worker" {
  input            = "worker"
  triggers_replace = [var.generation]
}
"""
    return {"prod": {"main.tf": prod, "terraform.tfvars": 'generation = "a"\n'},
            "dev": {"main.tf": dev, "terraform.tfvars": 'generation = "a"\n'}}


def test_replacements_are_counted_and_warned_about_first(
        small_project: Any, project_env: Any, run_mlops: Any, tmp_path: Path,
        bootstrapped: Any) -> None:
    name = f"repl-{_short()}"
    root = small_project(tmp_path / "repl", replace_roots(name))
    env = project_env(root)
    try:
        for env_name in ("prod", "dev"):  # plan + apply of the saved plan, in one command
            run_mlops(env, "apply", "--env", env_name, "--allow-unreviewed").check(0)
            (root / "envs" / env_name / "terraform.tfvars").write_text('generation = "b"\n')
        plans = {e: tmp_path / f"plan-{e}" for e in ("dev", "prod")}
        for env_name, out in plans.items():
            run_mlops(env, "plan", "--env", env_name, "--out", str(out)).check(0)

        prod = read_json(plans["prod"] / "summary.json")
        found = {k: prod["counts"][k] for k in ("add", "change", "destroy", "replace")}
        assert found == {"add": 0, "change": 0, "destroy": 0, "replace": 2}, (
            f"prod counts after renaming the repository and bucket: found {found}, "
            "expected 2 replacements (never add + destroy)")
        rows = {r["address"]: (r["action"], r["critical"]) for r in prod["resources"]}
        expected_rows = {"aws_ecr_repository.images": ("replace", "data"),
                         "aws_s3_bucket.data": ("replace", "data")}
        assert rows == expected_rows, f"prod rows: found {rows}, expected {expected_rows}"
        dev = read_json(plans["dev"] / "summary.json")
        assert (dev["counts"]["replace"], dev["counts"]["destroy"]) == (1, 0), (
            f"dev counts: found {dev['counts']}, expected 1 replacement")

        body = run_mlops(env, "comment", "render", str(plans["prod"]),
                         str(plans["dev"])).check(0).stdout
        first_section = body.find("### ")
        head = body[:first_section]
        assert "## 🛑 Terraform plan" in head, f"headline icon should be 🛑:\n{head}"
        alerts = {kind: flat(block) for block in head.split("\n\n")
                  for kind in ("[!CAUTION]", "[!WARNING]") if block.startswith(f"> {kind}")}
        assert sorted(alerts) == ["[!CAUTION]", "[!WARNING]"], (
            f"expected a caution (prod) and a warning (dev) above the sections; found:\n{head}")
        caution = alerts["[!CAUTION]"]
        for wanted in ("**prod** replaces 2 resources", "in **production**",
                       "2 stateful resources whose data will be lost",
                       "aws_ecr_repository.images` — holds data",
                       "aws_s3_bucket.data` — holds data"):
            assert wanted in caution, f"prod caution: {wanted!r} not in:\n{caution}"
        warning = alerts["[!WARNING]"]
        assert "**dev** replaces 1 resource" in warning and "terraform_data.worker" in warning, (
            f"dev warning: expected '**dev** replaces 1 resource' and terraform_data.worker; "
            f"found:\n{warning}")
        assert body.find("### dev") < body.find("### prod"), "sections must be dev, then prod"

        # The policy gate on the same real plan: a stateful replacement in prod needs the label.
        gate = run_mlops(env, "policy", "check", "--env", "prod", "--policy-dir", str(POLICIES),
                         "--labels", "", str(plans["prod"]))
        report = flat(gate.stdout + gate.stderr)
        assert gate.code == 1, f"policy check should fail (exit 1); found:\n{gate.describe()}"
        for address in ("aws_ecr_repository.images", "aws_s3_bucket.data"):
            assert address in report and "allow-destroy:prod" in report, (
                f"policy report should name {address} and the label allow-destroy:prod; "
                f"found:\n{report}")
        allowed = run_mlops(env, "policy", "check", "--env", "prod", "--policy-dir",
                            str(POLICIES), "--labels", "allow-destroy:prod", str(plans["prod"]))
        assert "would be replaced in prod" not in allowed.stdout + allowed.stderr, (
            f"with allow-destroy:prod the destroy policy must pass; found:\n{allowed.describe()}")
    finally:
        for env_name in ("prod", "dev"):
            run_mlops(env, "destroy", "--env", env_name, "--confirm", env_name,
                      "--allow-protected")


# -- (c) sensitive values --------------------------------------------------------------------

DB_PASSWORD = "Hunter2-Sensitive-Pa55word-9f8e7d"
API_TOKEN = "tok_A1b2C3d4E5f6G7h8J9k0"
SENSITIVE_ROOT = {
    "main.tf": """
variable "db_password" {
  type      = string
  sensitive = true
}

variable "api_token" {
  description = "Not marked sensitive: only the mask pattern in mlops.yaml catches it."
  type        = string
}

resource "terraform_data" "database" {
  input = { url = "postgres://app:${var.db_password}@db.internal:5432/app" }
}

resource "terraform_data" "client" {
  input = { token = var.api_token, endpoint = "https://api.example.com" }
}

output "db_password" {
  value     = var.db_password
  sensitive = true
}

output "token_in_clear" {
  value = var.api_token
}
""",
    "terraform.tfvars": f'db_password = "{DB_PASSWORD}"\napi_token   = "{API_TOKEN}"\n',
}


def test_sensitive_values_never_reach_plan_text_summary_comment_or_output(
        small_project: Any, project_env: Any, run_mlops: Any, tmp_path: Path,
        bootstrapped: Any) -> None:
    root = small_project(tmp_path / "secret", {"dev": SENSITIVE_ROOT},
                         mask_patterns=(r"tok_[A-Za-z0-9]{8,}",))
    env = project_env(root)
    out = tmp_path / "plan"
    planned = run_mlops(env, "plan", "--env", "dev", "--out", str(out)).check(0)
    rendered = run_mlops(env, "comment", "render", str(out)).check(0)
    places = {
        "plan.txt": (out / "plan.txt").read_text(),
        "summary.json": (out / "summary.json").read_text(),
        "the rendered comment": rendered.stdout,
        "`mlops plan` stdout": planned.stdout,
        "`mlops plan` stderr": planned.stderr,
        "`mlops comment render` stderr": rendered.stderr,
    }
    leaks = [f"{secret!r} in {where}" for where, text in places.items()
             for secret in (DB_PASSWORD, API_TOKEN, API_TOKEN[4:]) if secret in text]
    assert not leaks, f"secrets leaked: {leaks}"
    plan_json = (out / "plan.json").read_text()
    assert DB_PASSWORD in plan_json, (
        "the test's premise: Terraform writes sensitive values into plan.json (which is why "
        "plan.json is an artifact, never shown); found it missing")
    summary = read_json(out / "summary.json")
    outputs = {o["name"]: o for o in summary["outputs"]}
    assert outputs["db_password"]["after"] == "***" and outputs["db_password"]["sensitive"], (
        f"sensitive output row: found {outputs['db_password']}, expected after '***'")
    assert outputs["token_in_clear"]["after"] == "***", (
        f"output matching a mask pattern: found {outputs['token_in_clear']}, expected '***'")
    body = rendered.stdout
    assert "terraform_data.client" in body and "***" in body, (
        f"the comment should still show the resources, with secrets as ***:\n{body[:3000]}")


def test_secret_in_a_failed_plan_error_is_masked(
        small_project: Any, project_env: Any, run_mlops: Any, tmp_path: Path,
        bootstrapped: Any) -> None:
    """Terraform quotes the offending value in a validation error: error.txt, summary.json,
    the comment and stderr must still not show it."""
    main = SENSITIVE_ROOT["main.tf"].replace(
        'description = "Not marked sensitive: only the mask pattern in mlops.yaml catches it."',
        'validation {\n    condition     = startswith(var.api_token, "ghp_")\n'
        '    error_message = "api_token ${var.api_token} is not a GitHub token."\n  }')
    root = small_project(tmp_path / "secret-fail",
                         {"dev": {**SENSITIVE_ROOT, "main.tf": main}},
                         mask_patterns=(r"tok_[A-Za-z0-9]{8,}",))
    env = project_env(root)
    out = tmp_path / "plan"
    failed = run_mlops(env, "plan", "--env", "dev", "--out", str(out))
    assert failed.code != 0, f"the plan should fail validation; found:\n{failed.describe()}"
    rendered = run_mlops(env, "comment", "render", str(out)).check(0)
    assert "is not a GitHub token" in flat(rendered.stdout), (
        f"the comment should show why the plan failed; found:\n{rendered.stdout[:3000]}")
    places = {"error.txt": (out / "error.txt").read_text(),
              "summary.json": (out / "summary.json").read_text(),
              "the rendered comment": rendered.stdout, "`mlops plan` stderr": failed.stderr,
              "`mlops plan` stdout": failed.stdout}
    leaks = [where for where, text in places.items() if API_TOKEN in text]
    assert not leaks, f"the token {API_TOKEN!r} leaked into {leaks}"


# -- (d) a large plan ------------------------------------------------------------------------

# `count`, not for_each: Terraform 1.11 plans for_each over thousands of keys in quadratic
# time (1,000 keys: ~2 min); 3,000 counted instances plan in seconds.
LARGE_ROOT = {"main.tf": """
resource "terraform_data" "shard" {
  count = 3000
  input = { name = format("training-dataset-shard-%04d", count.index), owner = "ml-platform" }
}
"""}


def test_large_plan_fits_the_comment_limit_and_says_what_was_cut(
        small_project: Any, project_env: Any, run_mlops: Any, tmp_path: Path,
        bootstrapped: Any) -> None:
    env = project_env(small_project(tmp_path / "large", {"staging": LARGE_ROOT}))
    out = tmp_path / "plan"
    run_mlops(env, "plan", "--env", "staging", "--out", str(out)).check(0)
    summary = read_json(out / "summary.json")
    assert summary["counts"]["add"] == 3000, (
        f"summary.json adds: found {summary['counts']['add']}, expected 3000")
    text_size = (out / "plan.txt").stat().st_size
    assert text_size > 4 * comment.MAX_BODY, (
        f"premise: plan.txt should be far over the limit; found {text_size} bytes")
    body = run_mlops(env, "comment", "render", str(out)).check(0).stdout
    size = len(body.encode("utf-8"))
    assert size <= comment.MAX_BODY, (
        f"rendered comment: found {size} bytes, expected <= {comment.MAX_BODY}")
    assert "3,000 to add" in body, f"the counts are never cut; found:\n{body[:1500]}"
    assert "cut to fit GitHub's comment size limit" in body, (
        f"the comment should say what was cut; found the end:\n{body[-3000:]}")
    assert "resource rows cut" in body or "lines of the text plan omitted" in body, (
        f"the comment should say which part was cut; found the end:\n{body[-3000:]}")
    parsed = comment.parse_comment(body)
    assert parsed == {"staging": summary["plan_hash"]}, (
        f"parse_comment of the cut comment: found {parsed}, "
        f"expected staging -> {summary['plan_hash']}")


# -- (e) a failed plan -----------------------------------------------------------------------


def test_failed_plan_leaves_error_and_summary_and_the_comment_says_why(
        repo_copy: Any, project_env: Any, run_mlops: Any, tmp_path: Path,
        bootstrapped: Any) -> None:
    root = repo_copy(tmp_path / "repo", key_prefix=f"tests/failed-{_short()}")
    tfvars = root / "envs" / "dev" / "terraform.tfvars"
    cidr = 'ssh_cidrs     = { office = "203.0.113.7/32" }'
    assert cidr in tfvars.read_text(), f"{tfvars} no longer holds {cidr}; update this test"
    tfvars.write_text(tfvars.read_text().replace(cidr, 'ssh_cidrs = { anyone = "0.0.0.0/0" }'))
    env = project_env(root)
    out = tmp_path / "plan"
    why = "ssh_cidrs must not open SSH to the whole internet (0.0.0.0/0 or ::/0)"

    failed = run_mlops(env, "plan", "--env", "dev", "--out", str(out))
    assert failed.code == 2, f"expected exit 2 for a failed plan; found:\n{failed.describe()}"
    assert why in flat(failed.stderr), f"stderr should say {why!r}; found:\n{failed.stderr}"
    present = sorted(p.name for p in out.iterdir())
    assert present == ["error.txt", "summary.json"], (
        f"failed plan directory: found {present}, expected only error.txt and summary.json")
    assert why in flat((out / "error.txt").read_text()), (
        f"error.txt should say {why!r}; found:\n{(out / 'error.txt').read_text()}")
    summary = read_json(out / "summary.json")
    assert summary["status"] == "failed" and why in flat(summary["error"]), (
        f"summary.json: found status {summary['status']!r}, error {summary['error'][:800]!r}")

    body = run_mlops(env, "comment", "render", str(out)).check(0).stdout
    for wanted in ("### dev · ❌ plan failed", "❌ 1 failed (dev)", why):
        assert wanted in flat(body), f"comment for a failed plan: {wanted!r} not in:\n{body}"
    plans = comment.parse_comment_plans(body)
    assert plans == {"dev": {"hash": "", "status": "failed"}}, (
        f"comment header: found {plans}, expected dev failed with no hash")
    assert comment.parse_comment(body) == {}, "a failed plan must give the apply step no hash"


# -- (f) plan --changed in a git clone -------------------------------------------------------


def _git(clone: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(clone), "-c", "user.name=mlops-tests",
                           "-c", "user.email=tests@example.com", *args],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"git {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}"
    return proc.stdout.strip()


def test_plan_changed_plans_affected_envs_in_parallel(
        project_env: Any, run_mlops: Any, tmp_path: Path, bootstrapped: Any) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True,
                   capture_output=True)
    env = project_env(clone)

    base = _git(clone, "rev-parse", "HEAD")
    module = clone / "modules" / "ecr_repository" / "main.tf"
    module.write_text(module.read_text() + "\n# touched by test_plan_command\n")
    _git(clone, "commit", "--quiet", "-am", "touch the ecr_repository module")
    out = tmp_path / "plans"
    run = run_mlops(env, "plan", "--changed", "--base", base, "--out", str(out)).check(0)
    envs = ["dev", "staging", "prod"]
    decision = read_json(out / "changed.json")
    assert decision == {"envs": envs, "k8s": []}, (
        f"changed.json for a change to modules/ecr_repository: found {decision}, "
        f"expected {{'envs': {envs}, 'k8s': []}}")
    assert f"planning {', '.join(envs)} in parallel" in run.stderr, (
        f"expected the parallel plan of {envs}; found:\n{run.stderr[-3000:]}")
    # The worker's plugin cache holds the AWS provider (bootstrap filled it): every env's
    # init only reads it, so none waits for the others (plan.CacheFill).
    assert "inits alone" not in run.stderr, (
        f"with a warm plugin cache no init should run alone:\n{run.stderr[-3000:]}")
    for env_name in envs:
        summary = read_json(out / env_name / "summary.json")
        assert summary["status"] == "ok" and summary["env"] == env_name, (
            f"{env_name}: found status {summary['status']!r} env {summary['env']!r}")
        assert (out / env_name / "plan.tfplan").is_file(), f"no plan.tfplan for {env_name}"
        plan = read_json(out / env_name / "plan.json")
        assert summary["plan_hash"] == plansummary.plan_hash(plan), (
            f"{env_name}: summary hash is not the hash of its plan.json")
    body = run_mlops(env, "comment", "render", *(str(out / e) for e in envs)).check(0).stdout
    order = [body.find(f"### {e}") for e in envs]
    assert -1 not in order and order == sorted(order), (
        f"comment sections: found at {order}, expected dev, staging, prod in order")

    docs = clone / "README.md"
    docs.write_text(docs.read_text() + "\nA docs-only change.\n")
    _git(clone, "commit", "--quiet", "-am", "docs only")
    out_docs = tmp_path / "plans-docs"
    quiet = run_mlops(env, "plan", "--changed", "--base", "HEAD~1", "--out",
                      str(out_docs)).check(0)
    assert read_json(out_docs / "changed.json") == {"envs": [], "k8s": []}, (
        f"changed.json for a docs-only change: found {read_json(out_docs / 'changed.json')}, "
        "expected no envs")
    planned_dirs = sorted(p.name for p in out_docs.iterdir() if p.is_dir())
    assert planned_dirs == [], f"a docs-only change planned {planned_dirs}, expected nothing"
    assert "nothing to plan" in quiet.stderr, (
        f"expected 'nothing to plan' on stderr; found:\n{quiet.stderr}")
