"""adapters.git and `mlops changed` against real throwaway git repositories."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from mlops.adapters.git import Git, GitError, parse_name_status
from mlops.commands import changed
from mlops.errors import MlopsError

GIT_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=GIT_ENV, check=True
    )
    return out.stdout.strip()


def write(repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """envs/dev -> modules/trainer -> modules/bucket; envs/prod -> modules/bucket; staging: none."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(
        repo,
        {
            "mlops.yaml": (
                "project: t-proj\nregion: us-east-1\nowner: t\ngithub_repo: o/r\n"
                "envs: [dev, staging, prod]\n"
            ),
            "README.md": "# t\n",
            "envs/dev/main.tf": 'module "trainer" {\n  source = "../../modules/trainer"\n}\n',
            "envs/staging/main.tf": 'resource "null_resource" "x" {}\n',
            "envs/prod/main.tf": 'module "data" {\n  source = "../../modules/bucket"\n}\n',
            "modules/trainer/main.tf": 'module "artifacts" {\n  source = "../bucket"\n}\n',
            "modules/bucket/main.tf": 'resource "aws_s3_bucket" "this" {}\n',
            "modules/bucket/README.md": "# bucket\n",
        },
    )
    commit(repo, "base")
    return repo


def run_changed(repo: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    changed.register(parser.add_subparsers())
    args = parser.parse_args(["changed", *argv])
    env = {**GIT_ENV, "MLOPS_ROOT": str(repo)}
    rc: int = args.func(args, env)
    return rc


def changed_envs(repo: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    rc = run_changed(repo, *argv)
    assert rc == 0
    out: dict[str, list[str]] = json.loads(capsys.readouterr().out)
    return out["envs"]


def test_nested_module_change_reaches_every_user(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "checkout", "-q", "-b", "change")
    write(repo, {"modules/bucket/main.tf": 'resource "aws_s3_bucket" "this" { bucket = "x" }\n'})
    commit(repo, "change bucket")
    assert changed_envs(repo, capsys, "--base", "main") == ["dev", "prod"]


def test_env_change_and_why(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(repo, "checkout", "-q", "-b", "change")
    write(repo, {"envs/staging/main.tf": "# tweak\n", "modules/bucket/README.md": "# more\n"})
    commit(repo, "tweak staging")
    rc = run_changed(repo, "--base", "main", "--head", "change", "--why")
    captured = capsys.readouterr()
    assert rc == 0
    assert json.loads(captured.out) == {"envs": ["staging"], "k8s": [], "modules": [],
                                        "waves": [["staging"]], "releases": []}
    assert "envs/staging/main.tf: staging (inside the staging env root)" in captured.err
    assert "modules/bucket/README.md: no env (documentation only)" in captured.err


def test_docs_only_change_affects_nothing(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(repo, "checkout", "-q", "-b", "docs")
    write(repo, {"README.md": "# better\n", "docs/guide.md": "hi\n"})
    commit(repo, "docs")
    assert changed_envs(repo, capsys, "--base", "main") == []


def test_rename_counts_both_paths(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(repo, "checkout", "-q", "-b", "rename")
    git(repo, "mv", "envs/staging/main.tf", "envs/prod/staging_moved.tf")
    commit(repo, "move")
    g = Git(repo, env=GIT_ENV)
    assert sorted(g.changed_paths("main", "rename")) == [
        "envs/prod/staging_moved.tf",
        "envs/staging/main.tf",
    ]
    assert changed_envs(repo, capsys, "--base", "main") == ["staging", "prod"]


def test_module_call_removed_on_head_still_counts(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # head stops calling modules/trainer from dev and edits trainer: the base graph still
    # links dev to it, so dev is planned (its plan shows the trainer being destroyed).
    git(repo, "checkout", "-q", "-b", "drop")
    write(repo, {"envs/dev/main.tf": "\n", "modules/trainer/variables.tf": "\n"})
    commit(repo, "drop trainer")
    assert changed_envs(repo, capsys, "--base", "main") == ["dev"]


def test_diff_is_against_the_merge_base(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, {"envs/dev/extra.tf": "\n"})
    commit(repo, "feature")
    git(repo, "checkout", "-q", "main")
    write(repo, {"envs/prod/other.tf": "\n"})  # main moved on: not part of the feature
    commit(repo, "main moves")
    assert changed_envs(repo, capsys, "--base", "main", "--head", "feature") == ["dev"]


def test_unknown_ref_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(GitError) as info:
        run_changed(repo, "--base", "origin/nope")
    assert "unknown git ref 'origin/nope'" in info.value.render()
    assert "fetch-depth: 0" in info.value.render()


def test_option_like_ref_is_rejected(repo: Path) -> None:
    with pytest.raises(GitError, match="is not a git ref"):
        Git(repo, env=GIT_ENV).resolve("--all")


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="is not a git repository"):
        Git(tmp_path, env=GIT_ENV).resolve("HEAD")


def test_unrelated_histories(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "--orphan", "other")
    write(repo, {"x.txt": "x\n"})
    commit(repo, "unrelated")
    with pytest.raises(GitError, match="no common ancestor"):
        Git(repo, env=GIT_ENV).changed_paths("main", "other")


def test_read_files_at_ref(repo: Path) -> None:
    g = Git(repo, env=GIT_ENV)
    tf = g.list_files("main", ".tf")
    assert "modules/trainer/main.tf" in tf
    files = g.read_files("main", [*tf, "missing.tf"])
    assert files["modules/bucket/main.tf"] == 'resource "aws_s3_bucket" "this" {}\n'
    assert "missing.tf" not in files


MANY_ENVS = """project: t-proj
region: us-east-1
owner: t
github_repo: o/r
envs:
  prod-eu: {tier: prod, after: [staging], region: eu-west-1}
  prod: {tier: prod, after: [staging]}
  staging: {tier: staging, after: [dev, qa]}
  qa: {tier: dev}
  dev: {tier: dev}
  perf: {tier: staging, after: [qa]}
"""


def test_changed_lists_any_number_of_envs_in_promotion_order(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Six envs listed in no particular order: a change to every root comes out in the
    promotion order (waves qa+dev, staging+perf, prod-eu+prod; file order within a wave)."""
    write(repo, {"mlops.yaml": MANY_ENVS,
                 **{f"envs/{e}/main.tf": 'resource "null_resource" "x" {}\n'
                    for e in ("prod-eu", "qa", "perf")}})
    commit(repo, "six envs")
    git(repo, "checkout", "-q", "-b", "all")
    write(repo, {f"envs/{e}/main.tf": "# touched\n"
                 for e in ("dev", "staging", "prod", "prod-eu", "qa", "perf")})
    commit(repo, "touch every root")
    assert changed_envs(repo, capsys, "--base", "main") == [
        "qa", "dev", "staging", "perf", "prod-eu", "prod"]


@pytest.mark.parametrize(("files", "message"), [
    ({"envs/qa/main.tf": "\n"}, "envs/qa/ is not an env listed in"),
    ({"mlops.yaml": MANY_ENVS}, "lists env(s) qa, perf, prod-eu but envs/qa/ is missing"),
], ids=["folder-not-listed", "listed-env-without-folder"])
def test_changed_refuses_envs_and_folders_that_disagree(
        repo: Path, files: dict[str, str], message: str) -> None:
    write(repo, files)
    with pytest.raises(MlopsError, match=re.escape(message)):
        run_changed(repo, "--base", "main")


def test_missing_envs_in_mlops_yaml(repo: Path) -> None:
    (repo / "mlops.yaml").write_text("project: t-proj\n")
    with pytest.raises(MlopsError, match="missing key"):
        run_changed(repo, "--base", "main")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", []),
        ("M\0a.tf\0", ["a.tf"]),
        ("R100\0old/a.tf\0new/a.tf\0M\0b.tf\0", ["old/a.tf", "new/a.tf", "b.tf"]),
        ("C075\0a\0b\0D\0c\0A\0d e.tf\0", ["a", "b", "c", "d e.tf"]),
    ],
)
def test_parse_name_status(raw: str, expected: list[str]) -> None:
    assert parse_name_status(raw) == expected
