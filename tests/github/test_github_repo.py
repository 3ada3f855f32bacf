"""adapters/github.py: pull requests of a commit, change pull requests through the
contents API, issues, against the embedded GitHub (real HTTP), seeded from a real git
repository. The oracle for blob shas is git itself (`git hash-object`)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from fakegithub import FakeGitHub

from mlops.adapters.github import GitHub, GitHubError

REPO = "acme/ml-infra"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A real repository: main with two commits."""
    repo = tmp_path / "origin"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    (repo / "envs" / "dev").mkdir(parents=True)
    (repo / "envs" / "dev" / "terraform.tfvars").write_text('model = "v1"\n')
    (repo / "README.md").write_text("hello\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    (repo / "envs" / "dev" / "terraform.tfvars").write_text('model = "v2"\n')
    git(repo, "commit", "-q", "-am", "second")
    return repo


@pytest.fixture
def hub(origin: Path) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(pulls=set()).start()
    fake.seed(REPO, origin)
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def gh(hub: FakeGitHub) -> Iterator[GitHub]:
    with requests.Session() as session:
        yield GitHub(hub.url, hub.token, session, sleep=lambda _: None)


# ---------------------------------------------------------------- pull requests


def test_merged_pull_request_is_found_from_its_merge_commit(hub: FakeGitHub, gh: GitHub,
                                                            origin: Path) -> None:
    head = git(origin, "rev-parse", "HEAD")
    first = git(origin, "rev-parse", "HEAD~1")
    hub.add_pull(REPO, head_ref="feature", head_sha=first, number=41)
    merged = hub.add_pull(REPO, head_ref="model-v2", head_sha="a" * 40, number=42,
                          title="Model v2", merged=True, merge_commit_sha=head)
    found = gh.pulls_for_commit(REPO, head)
    assert [p.number for p in found] == [42], f"pulls of {head}: found {found}"
    pull = found[0]
    assert (pull.merged, pull.merge_commit_sha, pull.head_sha, pull.base_ref) == (
        True, head, "a" * 40, "main"), f"merged PR fields: found {pull}"
    assert gh.pulls_for_commit(REPO, first)[0].number == 41, "open PR with the commit as head"
    assert gh.pulls_for_commit(REPO, "b" * 40) == [], "a direct push has no pull request"
    full = gh.get_pull(REPO, 42)
    assert full.merged and full.html_url.endswith("/acme/ml-infra/pull/42")
    assert merged.merge_commit_sha == head


def test_list_endpoints_have_no_merged_field_but_merged_at(hub: FakeGitHub, gh: GitHub,
                                                           origin: Path) -> None:
    """pull-request-simple (lists) has merged_at but not merged: the adapter reads both."""
    head = git(origin, "rev-parse", "HEAD")
    hub.add_pull(REPO, head_ref="x", head_sha="c" * 40, merged=True, merge_commit_sha=head)
    raw = requests.get(f"{hub.url}/repos/{REPO}/commits/{head}/pulls",
                       headers={"Authorization": f"Bearer {hub.token}"}, timeout=5).json()
    assert "merged" not in raw[0] and raw[0]["merged_at"], f"list item: {raw[0]}"
    assert gh.pulls_for_commit(REPO, head)[0].merged


def test_pulls_of_a_commit_are_paginated(hub: FakeGitHub, gh: GitHub) -> None:
    hub.page_size = 2
    for n in range(5):
        hub.add_pull(REPO, head_ref=f"b{n}", head_sha="d" * 40)
    assert len(gh.pulls_for_commit(REPO, "d" * 40)) == 5
    pages = [r.query.get("page", ["1"])[0] for r in hub.calls("GET", "/pulls")]
    assert pages == ["1", "2", "3"], f"pages requested: {pages}"


# ---------------------------------------------------------------- change pull requests


def test_open_change_pr_commits_files_and_opens_one_pull_request(
        hub: FakeGitHub, gh: GitHub, origin: Path) -> None:
    files: dict[str, str | None] = {"envs/dev/terraform.tfvars": 'model = "v1"\n',
                                    "envs/dev/NEW.md": "new\n", "README.md": None}
    result = gh.open_change_pr(REPO, "main", "rollback-dev", files, "Roll back dev", "why")
    assert result.created and result.pull.base_ref == "main"
    assert result.pull.head_ref == "rollback-dev"
    assert sorted(result.changed) == sorted(files)
    for path, text in files.items():
        assert hub.file_at(REPO, "rollback-dev", path) == text, f"{path} on the branch"
    assert hub.file_at(REPO, "main", "envs/dev/terraform.tfvars") == 'model = "v2"\n', (
        "the base branch must not change")
    head = hub.branch_sha(REPO, "rollback-dev")
    assert result.pull.head_sha == head

    again = gh.open_change_pr(REPO, "main", "rollback-dev", files, "Roll back dev", "why")
    assert (again.created, again.changed, again.pull.number) == (False, (), result.pull.number), (
        "a re-run reuses the branch and the open pull request")
    assert len([p for p in hub.pull_requests.values() if p.head_ref == "rollback-dev"]) == 1


def test_open_change_pr_with_nothing_to_change_says_so(gh: GitHub) -> None:
    with pytest.raises(GitHubError, match="nothing to propose"):
        gh.open_change_pr(REPO, "main", "noop", {"README.md": "hello\n"}, "t", "b")


def test_put_file_needs_the_current_blob_sha(hub: FakeGitHub, gh: GitHub, origin: Path) -> None:
    current = gh.get_file(REPO, "README.md", "main")
    assert current is not None and current.text == "hello\n"
    assert current.sha == git(origin, "hash-object", "README.md"), (
        "the contents API's sha is the git blob id")
    with pytest.raises(GitHubError, match="422"):
        gh.put_file(REPO, "README.md", "x\n", branch="main", message="m")  # no sha
    with pytest.raises(GitHubError, match="409"):
        gh.put_file(REPO, "README.md", "x\n", branch="main", message="m", sha="0" * 40)
    commit = gh.put_file(REPO, "README.md", "x\n", branch="main", message="m", sha=current.sha)
    assert hub.branch_sha(REPO, "main") == commit
    replaced = gh.get_file(REPO, "README.md", "main")
    expected_sha = subprocess.run(["git", "hash-object", "--stdin"], input="x\n", text=True,
                                  capture_output=True, check=True).stdout.strip()
    assert replaced is not None and (replaced.text, replaced.sha) == ("x\n", expected_sha)
    assert gh.get_file(REPO, "README.md", commit) is not None
    assert gh.get_file(REPO, "missing.txt", "main") is None


def test_missing_base_branch_is_a_clear_error(gh: GitHub) -> None:
    with pytest.raises(GitHubError, match="branch release does not exist"):
        gh.open_change_pr(REPO, "release", "x", {"a": "b"}, "t", "b")


def test_branch_creation_refuses_an_existing_ref(hub: FakeGitHub, gh: GitHub) -> None:
    sha = hub.branch_sha(REPO, "main")
    assert sha is not None
    gh.create_branch(REPO, "topic", sha)
    assert gh.branch_sha(REPO, "topic") == sha
    with pytest.raises(GitHubError, match="422"):
        gh.create_branch(REPO, "topic", sha)
    assert gh.branch_sha(REPO, "nope") is None


# ---------------------------------------------------------------- issues


def test_issues_by_label_update_close_reopen_and_comment(hub: FakeGitHub, gh: GitHub) -> None:
    hub.add_pull(REPO, head_ref="p", head_sha="e" * 40)  # PRs are listed by the API too
    drift = gh.create_issue(REPO, "Drift in prod", "found", ["drift", "env:prod"])
    gh.create_issue(REPO, "Drift in dev", "found", ["drift", "env:dev"])
    other = gh.create_issue(REPO, "Unrelated", "")
    assert [i.title for i in gh.list_issues(REPO, labels=["drift", "env:prod"])] == [
        "Drift in prod"]
    assert {i.title for i in gh.list_issues(REPO, labels=["drift"])} == {
        "Drift in prod", "Drift in dev"}
    assert all(i.number != 1 for i in gh.list_issues(REPO)), "pull requests are not issues"
    assert other.labels == ()

    closed = gh.close_issue(REPO, drift.number)
    assert closed.state == "closed"
    assert gh.list_issues(REPO, labels=["env:prod"]) == []
    assert [i.number for i in gh.list_issues(REPO, labels=["env:prod"], state="closed")] == [
        drift.number]
    reopened = gh.reopen_issue(REPO, drift.number)
    assert reopened.state == "open"
    assert hub.issue(REPO, drift.number).state_reason == "reopened"
    updated = gh.update_issue(REPO, drift.number, body="still drifting", labels=["drift"])
    assert (updated.body, updated.labels) == ("still drifting", ("drift",))
    comment = gh.comment_issue(REPO, drift.number, "seen again")
    assert [c.body for c in hub.comments_on(REPO, drift.number)] == ["seen again"]
    assert comment.html_url.endswith(f"/issues/{drift.number}#issuecomment-{comment.id}")


def test_issue_list_is_paginated(hub: FakeGitHub, gh: GitHub) -> None:
    hub.page_size = 3
    for n in range(7):
        gh.create_issue(REPO, f"i{n}", "", ["drift"])
    assert len(gh.list_issues(REPO, labels=["drift"])) == 7
    assert len(hub.calls("GET", "/issues")) == 3


def test_issue_permission_errors_name_the_permission(hub: FakeGitHub, gh: GitHub) -> None:
    hub.inject("POST", r"/issues$", 403, "Resource not accessible by integration")
    with pytest.raises(GitHubError) as caught:
        gh.create_issue(REPO, "t", "b")
    assert "issues: write" in caught.value.why and "issues: write" in caught.value.fix
