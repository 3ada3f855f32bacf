"""`mlops drift` on the embedded AWS and the embedded GitHub: a small env root applied for
real, a change made with boto3 behind Terraform's back, and the one drift issue per env
that opens, updates, closes and reopens with it. Exit codes: 0 clean, 2 drift, 1 error.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.localcloud.github import FakeGitHub, FakeIssue

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]

REPO = "acme/ml-infra"


def drift_root(bucket: str) -> dict[str, dict[str, str]]:
    return {"dev": {"main.tf": f"""
resource "aws_s3_bucket" "probe" {{
  bucket        = "{bucket}"
  force_destroy = true
  tags          = {{ purpose = "drift-probe" }}
}}
"""}}


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(repos={REPO}, pulls=set()).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def project(small_project: Any, project_env: Any, tmp_path: Path, bootstrapped: Any,
            github: FakeGitHub) -> tuple[dict[str, str], str]:
    """A small project (its dev root: one bucket), as a workflow job would run mlops."""
    bucket = f"drift-{uuid.uuid4().hex[:10]}"
    env = project_env(small_project(tmp_path / "drift", drift_root(bucket)))
    env.update({"GITHUB_API_URL": github.url, "GITHUB_TOKEN": github.token,
                "GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": REPO,
                "GITHUB_RUN_ID": "77", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")})
    return env, bucket


@pytest.fixture
def applied(project: tuple[dict[str, str], str], run_mlops: Any) -> tuple[dict[str, str], str]:
    run_mlops(project[0], "apply", "--env", "dev", "--allow-unreviewed").check(0)
    return project


def drift_issues(github: FakeGitHub) -> list[FakeIssue]:
    return [i for (repo, _), i in sorted(github.issues.items()) if repo == REPO
            and {"drift", "env:dev"} <= set(github.issue_labels.get((REPO, i.number), []))]


def tamper(cloud: Any, bucket: str, owner: str) -> None:
    """A change behind Terraform's back: the bucket's tags replaced."""
    cloud.client("s3").put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [
        {"Key": "purpose", "Value": "drift-probe"}, {"Key": "owner", "Value": owner}]})


def test_drift_opens_updates_closes_and_reopens_one_issue(
        applied: tuple[dict[str, str], str], run_mlops: Any, cloud: Any,
        github: FakeGitHub, tmp_path: Path) -> None:
    env, bucket = applied
    clean = run_mlops(env, "drift", "--env", "dev", "--issue").check(0)
    assert "`dev` matches main" in clean.stdout
    assert drift_issues(github) == [], "a clean env opened an issue"

    tamper(cloud, bucket, "someone")
    first = run_mlops(env, "drift", "--env", "dev", "--issue").check(2)
    # Terraform lists nothing under "changed outside" here (no planned change reads the
    # bucket's tags); the plan puts them back: that is the drift.
    assert "| `aws_s3_bucket.probe` | update in place |" in first.stdout, first.stdout
    [issue] = drift_issues(github)
    assert issue.state == "open"
    assert issue.body.startswith("<!-- mlops:drift env=dev drift=")
    assert "| `aws_s3_bucket.probe` | update in place |" in issue.body
    assert "https://github.example/acme/ml-infra/actions/runs/77" in issue.body
    assert "gh workflow run main.yml --repo acme/ml-infra --ref main -f env=dev" in issue.body
    assert "someone" in issue.body  # the drift plan shows the tag Terraform would remove
    assert "Drift in `dev`" in (tmp_path / "summary.md").read_text()

    tamper(cloud, bucket, "someone-else")  # the drift changes: same issue, a comment
    run_mlops(env, "drift", "--env", "dev", "--issue").check(2)
    assert [i.number for i in drift_issues(github)] == [issue.number], "a second issue"
    [comment] = github.comments_on(REPO, issue.number)
    assert "changed" in comment.body and "someone-else" in drift_issues(github)[0].body

    run_mlops(env, "apply", "--env", "dev", "--allow-unreviewed").check(0)  # back to main
    run_mlops(env, "drift", "--env", "dev", "--issue").check(0)
    [closed] = drift_issues(github)
    assert (closed.number, closed.state, closed.state_reason) == (
        issue.number, "closed", "completed")
    assert "matches main again" in github.comments_on(REPO, issue.number)[-1].body


def test_drift_reopens_the_issue_it_finds_by_labels_not_title(
        applied: tuple[dict[str, str], str], run_mlops: Any, cloud: Any,
        github: FakeGitHub) -> None:
    env, bucket = applied
    renamed = github.add_issue(REPO, "someone renamed this", "", ("drift", "env:dev"),
                               state="closed")
    github.add_issue(REPO, "Drift in dev: it no longer matches main", "", ("env:dev",))
    tamper(cloud, bucket, "again")
    run_mlops(env, "drift", "--env", "dev", "--issue").check(2)
    [reopened] = drift_issues(github)
    assert (reopened.number, reopened.state) == (renamed.number, "open"), "not the same issue"
    assert reopened.body.startswith("<!-- mlops:drift env=dev")
    assert "is back" in github.comments_on(REPO, renamed.number)[-1].body


def test_a_failed_plan_is_exit_1_and_leaves_the_issue_alone(
        project: tuple[dict[str, str], str], run_mlops: Any, github: FakeGitHub) -> None:
    env, _ = project
    existing = github.add_issue(REPO, "drift", "old body", ("drift", "env:dev"))
    root = Path(env["MLOPS_ROOT"]) / "envs" / "dev"
    (root / "broken.tf").write_text('resource "aws_s3_bucket" "x" {\n')
    failed = run_mlops(env, "drift", "--env", "dev", "--issue").check(1)
    assert "error:" in failed.stderr and "terraform" in failed.stderr
    after = github.issue(REPO, existing.number)
    assert (after.state, after.body) == ("open", "old body")


@pytest.mark.parametrize(("drop", "message"), [
    ("GITHUB_TOKEN", "--issue needs GITHUB_TOKEN"),
    ("GITHUB_REPOSITORY", "--issue needs the repository"),
])
def test_issue_without_token_or_repository_is_exit_1(
        project: tuple[dict[str, str], str], run_mlops: Any, drop: str, message: str) -> None:
    env = {k: v for k, v in project[0].items() if k != drop}
    result = run_mlops(env, "drift", "--env", "dev", "--issue").check(1)
    assert f"error: {message}" in result.stderr and "fix:" in result.stderr


def test_unknown_env_is_exit_1(project: tuple[dict[str, str], str], run_mlops: Any) -> None:
    result = run_mlops(project[0], "drift", "--env", "qa").check(1)
    assert "unknown env 'qa'" in result.stderr
