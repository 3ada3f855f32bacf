"""No artifact and no log holds a sensitive value in clear.

A small env root plants two secrets: a variable declared sensitive (which also flows, in
clear, through `terraform_data.output` into an output Terraform prints at apply) and a
token only `mask_patterns` knows. The whole pull-request-to-destroy path runs through the
real CLI: plan, policy check, comment post (to a local GitHub stand-in, with the step
summary), apply of the saved plan, a re-plan and apply without --plan, destroy. Then every
file mlops wrote and everything it printed (Terraform's streamed logs included) is
searched. Only plan.tfplan and plan.json may hold them: Terraform writes them there, and
those two are never shown.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Pl4nted-DB-Passw0rd-e5d4c3"
TOKEN = "tok_Z9y8X7w6V5u4T3s2"
SECRETS = (PASSWORD, TOKEN, TOKEN[4:])
NEVER_SHOWN = {"plan.tfplan", "plan.json"}

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]

ROOT_FILES = {
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
  input = { user = "app", password = var.db_password }
}

resource "terraform_data" "client" {
  input = { token = var.api_token }
}

output "db_password" {
  value     = var.db_password
  sensitive = true
}

# Not marked: terraform_data.output carries the password in clear, and `terraform apply`
# prints it under "Outputs:".
output "connection" {
  value = terraform_data.database.output
}
""",
    "terraform.tfvars": f'db_password = "{PASSWORD}"\napi_token   = "{TOKEN}"\n',
}


def _fake_github() -> Any:
    spec = importlib.util.spec_from_file_location(
        "fakegithub_for_secrets", ROOT / "tests" / "github" / "fakegithub.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.FakeGitHub(repos={"acme/infra"}, pulls={("acme/infra", 3)}).start()


def test_no_file_or_log_holds_a_secret_in_clear(
        small_project: Any, project_env: Any, run_mlops: Any, tmp_path: Path,
        bootstrapped: Any) -> None:
    root = small_project(tmp_path / "proj", {"dev": ROOT_FILES},
                         mask_patterns=(r"tok_[A-Za-z0-9]{8,}",))
    github = _fake_github()
    step_summary = tmp_path / "step-summary.md"
    env = {**project_env(root), "GITHUB_API_URL": github.url, "GITHUB_TOKEN": github.token,
           "GITHUB_STEP_SUMMARY": str(step_summary)}
    out = tmp_path / "plans" / "dev"
    try:
        runs = [
            run_mlops(env, "plan", "--env", "dev", "--out", str(out)).check(0),
            run_mlops(env, "policy", "check", "--env", "dev", "--policy-dir",
                      str(ROOT / "policies"), str(out)),
            run_mlops(env, "comment", "post", "--repo", "acme/infra", "--pr", "3",
                      str(out)).check(0),
            # No merge commit here: applying directly is the unreviewed (dispatch) path,
            # which also writes a deployment record (to S3 and the step summary).
            run_mlops(env, "apply", "--env", "dev", "--plan", str(out),
                      "--allow-unreviewed").check(0),
        ]
        applied = runs[-1]
        runs += [run_mlops(env, "apply", "--env", "dev", "--allow-unreviewed").check(0),
                 run_mlops(env, "destroy", "--env", "dev", "--confirm", "dev").check(0)]
        comments = [c.body for c in github.comments_on("acme/infra", 3)]
    finally:
        github.stop()

    # The premise: Terraform really does put the secrets where we look.
    assert PASSWORD in (out / "plan.json").read_text()
    assert "connection = {" in applied.stderr, (
        f"apply should print the unmarked output:\n{applied.describe()}")
    assert len(comments) == 1 and step_summary.is_file()
    assert runs[1].code in (0, 1), runs[1].describe()  # the gate ran (pass or violations)

    places: dict[str, str] = {}
    for run in runs:
        places[f"`mlops {' '.join(run.argv)}` stdout"] = run.stdout
        places[f"`mlops {' '.join(run.argv)}` stderr"] = run.stderr
    assert len(places) == 2 * len(runs)
    written = [p for base in (out.parent, Path(env["MLOPS_STATE_DIR"]) / "plans")
               for p in base.rglob("*") if p.is_file() and p.name not in NEVER_SHOWN]
    assert {p.name for p in written} >= {"plan.txt", "summary.json", "policy.json"}, written
    for path in written:
        places[str(path)] = path.read_text(errors="replace")
    places["the step summary"] = step_summary.read_text()
    places["the PR comment"] = comments[0]
    errors = Path(env["MLOPS_STATE_DIR"]) / "errors"
    assert not errors.exists(), f"internal errors were logged: {list(errors.iterdir())}"

    leaks = [f"{secret!r} in {where}" for where, text in places.items()
             for secret in SECRETS if secret in text]
    assert not leaks, "secrets in clear:\n" + "\n".join(leaks)
    assert '"password" = "***"' in applied.stderr, (
        f"the apply log should show the output, masked:\n{applied.stderr[-2000:]}")
    destroy = json.loads((Path(env["MLOPS_STATE_DIR"]) / "plans" / "dev" / "destroy" /
                          "summary.json").read_text())
    assert destroy["mode"] == "destroy" and destroy["counts"]["destroy"] == 2
