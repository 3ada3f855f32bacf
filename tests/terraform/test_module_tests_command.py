"""`mlops test modules`: the modules a git change touches, and a real pytest run of their
tests whose exit code is the command's (in a clone of the repository, so a deliberately
broken module never touches the checkout)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]

ROOT = Path(__file__).resolve().parents[2]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), "-c", "user.email=t@example.com",
                           "-c", "user.name=t", *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The checkout's files committed in a fresh repository."""
    dest = tmp_path / "repo"
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "-co",
                             "--exclude-standard"], capture_output=True, check=True)
    for rel in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / rel
        if source.is_file() and not source.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(source.read_bytes())
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "base")
    return dest


def _env(cloud: Any, root: Path) -> dict[str, str]:
    env = {k: v for k, v in cloud.env.items() if not k.startswith(("MLOPS_", "AWS_"))}
    return {**env, "MLOPS_ROOT": str(root), "MLOPS_STATE_DIR": str(root / ".mlops")}


def test_changed_lists_the_module_and_its_callers_only(clone: Path, cloud: Any,
                                                       run_mlops: Any) -> None:
    variables = clone / "modules" / "sagemaker_endpoint" / "variables.tf"
    variables.write_text(variables.read_text() + "\n# a change\n")
    (clone / "docs" / "note.md").write_text("docs only\n")
    _git(clone, "commit", "-qam", "change the endpoint module")
    _git(clone, "add", "-A")
    _git(clone, "commit", "-qm", "and a doc")
    result = run_mlops(_env(cloud, clone), "test", "modules", "--changed", "--base", "HEAD~2",
                       "--list").check(0)
    assert json.loads(result.stdout) == {"modules": ["sagemaker_endpoint"]}
    assert "docs/note.md: no module" in result.stderr


def test_a_docs_only_change_runs_nothing(clone: Path, cloud: Any, run_mlops: Any) -> None:
    (clone / "docs" / "note.md").write_text("docs only\n")
    _git(clone, "add", "-A")
    _git(clone, "commit", "-qm", "a doc")
    result = run_mlops(_env(cloud, clone), "test", "modules", "--changed", "--base",
                       "HEAD~1").check(0)
    assert "no module is affected" in result.stderr


def test_runs_pytest_on_the_modules_tests_and_returns_its_exit_code(clone: Path,
                                                                   cloud: Any) -> None:
    def mlops(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ROOT / ".venv" / "bin" / "mlops"), *argv], cwd=clone,
                              env=_env(cloud, clone), capture_output=True, text=True,
                              timeout=900, check=False)

    # the selection, as pytest makes it (collecting only: the tests themselves run in
    # test_modules_plan.py and test_modules_apply.py)
    listed = mlops("test", "modules", "ecr_repository", "--pytest-args=--collect-only -q")
    assert listed.returncode == 0, listed.stdout[-3000:] + listed.stderr[-3000:]
    selected = {line.split("::")[1] for line in listed.stdout.splitlines() if "::" in line}
    assert {"test_fmt[ecr_repository]", "test_validate[ecr_repository]",
            "test_plan_matches_inventory[ecr_repository]",
            "test_ecr_repository_applies"} <= selected, selected
    assert not any("ml_bucket" in t or "gpu_trainer" in t for t in selected), selected

    main_tf = clone / "modules" / "ecr_repository" / "main.tf"
    main_tf.write_text(main_tf.read_text().replace("  ", "      ", 1))  # not `terraform fmt`ed
    failed = mlops("test", "modules", "ecr_repository", "--plan-only", "--pytest-args=-x -q")
    assert failed.returncode == 1, failed.stdout[-3000:] + failed.stderr[-3000:]
    assert "test_fmt[ecr_repository]" in failed.stdout
