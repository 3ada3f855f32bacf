"""core.plantext: the text plan from plan's stdout equals what `terraform show` prints."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mlops.adapters.terraform import prepare
from mlops.core.plantext import from_plan_stdout
from mlops.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

PLAN_STDOUT = """\
module.a.aws_s3_bucket.this: Refreshing state... [id=b]
data.aws_iam_policy_document.p: Reading...
data.aws_iam_policy_document.p: Read complete after 0s [id=123]
data.aws_caller_identity.c: Still reading... [10s elapsed]

Terraform used the selected providers to generate the following execution
plan. Resource actions are indicated with the following symbols:
  + create

Plan: 1 to add, 0 to change, 0 to destroy.

─────────────────────────────────────────────────────────────────────────────

Saved the plan to: p.tfplan

To perform exactly these actions, run the following command to apply:
    terraform apply "p.tfplan"
"""


def test_progress_and_trailer_are_dropped() -> None:
    assert from_plan_stdout(PLAN_STDOUT) == (
        "Terraform used the selected providers to generate the following execution\n"
        "plan. Resource actions are indicated with the following symbols:\n"
        "  + create\n\nPlan: 1 to add, 0 to change, 0 to destroy.\n")


def test_no_changes_and_empty() -> None:
    text = "x: Refreshing state... [id=1]\n\nNo changes. Your infrastructure matches.\n"
    assert from_plan_stdout(text) == "No changes. Your infrastructure matches.\n"
    assert from_plan_stdout("") == ""


def test_a_resource_named_like_progress_inside_the_plan_is_kept() -> None:
    text = "Terraform will perform the following actions:\n  # x: Reading... is a name\n"
    assert from_plan_stdout(text) == text


@pytest.mark.terraform
@pytest.mark.parametrize("automation", ["1", ""])
def test_matches_terraform_show_on_a_real_plan(tmp_path: Path, automation: str) -> None:
    env = {**os.environ, "MLOPS_ROOT": str(ROOT), "MLOPS_STATE_DIR": str(tmp_path / "s")}
    env = prepare(Settings.from_env(env), env)
    env["TF_IN_AUTOMATION"] = automation
    env["TF_DATA_DIR"] = str(tmp_path / "data")
    work = tmp_path / "root"
    work.mkdir()
    main = work / "main.tf"
    main.write_text('resource "terraform_data" "a" {\n  input = "x"\n}\n'
                    'resource "terraform_data" "b" {\n  input = "y"\n}\n'
                    'output "o" {\n  value = terraform_data.a.output\n}\n')

    def tf(*args: str) -> str:
        proc = subprocess.run([env["TERRAFORM"], f"-chdir={work}", *args, "-no-color"],
                              capture_output=True, text=True, env=env, check=True)
        return proc.stdout

    tf("init")
    tf("apply", "-auto-approve")
    main.write_text(main.read_text().replace('"x"', '"z"'))  # an update, with refreshes
    stdout = tf("plan", "-out=p.tfplan")
    assert "Refreshing state" in stdout
    # `show` starts with a blank line; the text plan starts at its first line of text.
    assert from_plan_stdout(stdout) == tf("show", "p.tfplan").lstrip("\n")
