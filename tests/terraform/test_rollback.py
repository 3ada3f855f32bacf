"""`mlops rollback` with real Terraform, the embedded AWS, the embedded GitHub (seeded from
the project's real git repository) and real git history."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.localcloud.github import FakeGitHub

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]

REPO = "example-org/mlops-gitops"
MAIN = '''variable "generation" {
  type = string
}

resource "terraform_data" "model" {
  input = var.generation
}

output "generation" {
  value = var.generation
}
'''


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c",
                           "user.email=t@example.com", *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def commit(root: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def hub() -> Iterator[FakeGitHub]:
    with FakeGitHub(repos={REPO}, pulls=set()) as fake:
        yield fake


def latest(cloud: Any, bucket: str) -> dict[str, Any]:
    body = cloud.client("s3").get_object(Bucket=bucket, Key="deployments/dev/latest.json")
    data: dict[str, Any] = json.loads(body["Body"].read())
    return data


def test_rollback_applies_the_previous_deployment_and_realigns_git(
        bootstrapped: Any, project_env: Any, small_project: Any, run_mlops: Any, cloud: Any,
        hub: FakeGitHub, tmp_path: Path) -> None:
    root = small_project(tmp_path / "proj", {"dev": {"main.tf": MAIN}})
    (root / ".gitignore").write_text(".mlops/\n")
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("project\n")
    git(root, "add", "mlops.yaml", "README.md", ".gitignore")  # envs/dev comes later
    git(root, "commit", "-q", "-m", "before the env existed")
    before_env = git(root, "rev-parse", "HEAD")
    env = project_env(root)
    tfvars = "envs/dev/terraform.tfvars"
    a = commit(root, {tfvars: 'generation = "a"\n', "envs/dev/main.tf": MAIN}, "dev at a")
    run_mlops(env, "apply", "--env", "dev", "--allow-unreviewed", "--commit", a).check(0)
    b = commit(root, {tfvars: 'generation = "b"\n'}, "dev at b")
    run_mlops(env, "apply", "--env", "dev", "--allow-unreviewed", "--commit", b).check(0)
    docs = commit(root, {"README.md": "docs only\n"}, "docs")
    bucket = bootstrapped.state_bucket

    # Refusals first: each with its own reason, and nothing applied.
    git(root, "switch", "-q", "-c", "side", a)
    side = commit(root, {tfvars: 'generation = "side"\n'}, "never merged")
    git(root, "switch", "-q", "main")
    for ref, reason in ((before_env, "never touched dev"),
                        (side, "is not an ancestor of main"),
                        (docs, "has no deployment record of dev"),
                        ("no-such-ref", "is not a commit")):
        refused = run_mlops(env, "rollback", "--env", "dev", "--to", ref)
        assert refused.code == 2 and reason in " ".join(refused.stderr.split()), (
            refused.describe())
    assert latest(cloud, bucket)["commit"] == b

    # Default target: the deployment before the latest; Git realigned through a PR.
    hub.seed(REPO, root)
    rolled = run_mlops({**env, **hub.actions_env(REPO)}, "rollback", "--env", "dev").check(0)
    record = latest(cloud, bucket)
    expected = {"kind": "rollback", "outcome": "applied", "commit": a, "rolled_back_from": b,
                "outputs": {"generation": "a"}}
    assert {k: record[k] for k in expected} == expected, record
    [pull] = [p for p in hub.pull_requests.values() if p.head_ref == f"rollback/dev-to-{a[:12]}"]
    assert hub.file_at(REPO, pull.head_ref, tfvars) == 'generation = "a"\n'
    assert hub.file_at(REPO, "main", tfvars) == 'generation = "b"\n', "main itself is untouched"
    assert pull.title == f"Roll back dev to {a[:12]}" and pull.base_ref == "main"
    assert "next merge to main re-applies what was rolled back" in " ".join(
        rolled.stderr.split()), rolled.describe()
    assert "revert pull request: https://github.example/" in rolled.stdout

    # Without a token: the exact git commands, and the warning.
    c = commit(root, {tfvars: 'generation = "c"\n'}, "dev at c, not applied yet")
    manual = run_mlops(env, "rollback", "--env", "dev", "--to", b).check(0)
    assert latest(cloud, bucket)["outputs"] == {"generation": "b"}
    assert manual.stdout.strip().splitlines()[-4:] == [
        f"git switch -c rollback/dev-to-{b[:12]} main", f"git revert --no-edit {c}",
        f"git push origin rollback/dev-to-{b[:12]}",
        f"# then open a pull request from rollback/dev-to-{b[:12]} into main"], manual.stdout
    assert "no revert pull request was opened" in " ".join(manual.stderr.split())
