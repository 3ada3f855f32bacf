"""adapters/github.py against a local fake of the GitHub REST API (real HTTP)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests
from fakegithub import FakeGitHub

from mlops.adapters.github import GitHub, GitHubError
from mlops.core.comment import LABEL_CHANGES, LABEL_DESTROY, LABEL_NO_CHANGES, LABELS, MARKER
from mlops.core.comment import is_plan_comment as ours

REPO, PR = "acme/ml-infra", 7


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.fixture
def gh(fake_github: FakeGitHub, session: requests.Session, sleeps: Sleeps) -> GitHub:
    return GitHub(fake_github.url, fake_github.token, session, sleep=sleeps,
                  clock=lambda: 1_000_000.0)


def body(text: str = "plans") -> str:
    return f"{MARKER}\n{text}"


# ---------------------------------------------------------------- sticky comment


def test_creates_the_comment_when_there_is_none(fake_github: FakeGitHub, gh: GitHub) -> None:
    fake_github.add_comment(REPO, PR, "LGTM")
    result = gh.upsert_sticky(REPO, PR, body("v1"), ours)
    assert result.action == "created"
    comments = fake_github.comments_on(REPO, PR)
    assert [c.body for c in comments] == ["LGTM", body("v1")]
    assert result.comment_id == comments[1].id
    post = fake_github.calls("POST")[0]
    assert post.headers["Authorization"] == "Bearer test-token"
    assert post.headers["Accept"] == "application/vnd.github+json"


def test_updates_our_comment_in_place(fake_github: FakeGitHub, gh: GitHub) -> None:
    cid = fake_github.add_comment(REPO, PR, body("old"), user="github-actions[bot]")
    result = gh.upsert_sticky(REPO, PR, body("new"), ours)
    assert (result.action, result.comment_id, result.deleted) == ("updated", cid, ())
    assert [c.body for c in fake_github.comments_on(REPO, PR)] == [body("new")]
    assert not fake_github.calls("POST")


def test_a_human_quoting_our_comment_is_not_ours(fake_github: FakeGitHub, gh: GitHub) -> None:
    quoted = "> " + body("old") + "\n\nwhy is prod destroyed?"
    fake_github.add_comment(REPO, PR, quoted)
    gh.upsert_sticky(REPO, PR, body("new"), ours)
    assert [c.body for c in fake_github.comments_on(REPO, PR)] == [quoted, body("new")]


def test_finds_our_comment_on_a_later_page(fake_github: FakeGitHub, gh: GitHub) -> None:
    fake_github.page_size = 10
    for i in range(57):
        fake_github.add_comment(REPO, PR, f"comment {i}")
    cid = fake_github.add_comment(REPO, PR, body("old"))
    result = gh.upsert_sticky(REPO, PR, body("new"), ours)
    assert (result.action, result.comment_id) == ("updated", cid)
    pages = [r.query.get("page", ["1"])[0] for r in fake_github.calls("GET", "/comments")]
    assert pages == ["1", "2", "3", "4", "5", "6"]
    assert len(fake_github.comments_on(REPO, PR)) == 58


def test_duplicates_collapse_to_the_oldest(fake_github: FakeGitHub, gh: GitHub) -> None:
    first = fake_github.add_comment(REPO, PR, body("a"))
    fake_github.add_comment(REPO, PR, "human")
    second = fake_github.add_comment(REPO, PR, body("b"))
    result = gh.upsert_sticky(REPO, PR, body("c"), ours)
    assert (result.comment_id, result.deleted) == (first, (second,))
    assert [c.body for c in fake_github.comments_on(REPO, PR)] == [body("c"), "human"]


def test_two_racing_runs_converge_on_one_comment(fake_github: FakeGitHub,
                                                  session: requests.Session) -> None:
    # Both runs list (nothing there), then both create: the barrier holds every creation
    # until both runs are creating, so each run's first listing saw no comment.
    fake_github.create_barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(text: str) -> None:
        try:
            with requests.Session() as s:
                GitHub(fake_github.url, fake_github.token, s, sleep=lambda _: None
                       ).upsert_sticky(REPO, PR, body(text), ours)
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(t,)) for t in ("run-a", "run-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert len(fake_github.calls("POST", "/comments")) == 2
    remaining = fake_github.comments_on(REPO, PR)
    assert len(remaining) == 1
    assert remaining[0].body in (body("run-a"), body("run-b"))
    created_ids = sorted(c.id for c in remaining)
    assert created_ids == [min(created_ids)]
    # And a later run updates that one comment rather than adding another.
    fake_github.create_barrier = None
    GitHub(fake_github.url, fake_github.token, session).upsert_sticky(REPO, PR, body("x"), ours)
    assert [c.body for c in fake_github.comments_on(REPO, PR)] == [body("x")]


# ---------------------------------------------------------------- retries


def test_retries_server_errors_with_backoff(fake_github: FakeGitHub, gh: GitHub,
                                            sleeps: Sleeps) -> None:
    fake_github.inject("POST", r"/comments$", 502, times=2)
    fake_github.inject("GET", r"/comments$", 503, times=1)
    gh.upsert_sticky(REPO, PR, body(), ours)
    assert len(fake_github.comments_on(REPO, PR)) == 1
    assert sleeps == [1.0, 1.0, 2.0]


@pytest.mark.parametrize(("status", "message", "headers", "expected"), [
    (403, "You have exceeded a secondary rate limit.", {"Retry-After": "7"}, 7.0),
    (429, "Too many requests", {"Retry-After": "3"}, 3.0),
    (403, "You have exceeded a secondary rate limit. Please wait.", {}, 60.0),
    (403, "API rate limit exceeded",
     {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1000030"}, 31.0),
])
def test_waits_as_rate_limits_ask(fake_github: FakeGitHub, gh: GitHub, sleeps: Sleeps,
                                  status: int, message: str, headers: dict[str, str],
                                  expected: float) -> None:
    fake_github.inject("POST", r"/comments$", status, message, headers)
    gh.upsert_sticky(REPO, PR, body(), ours)
    assert sleeps == [expected]
    assert len(fake_github.comments_on(REPO, PR)) == 1


def test_gives_up_after_the_last_attempt(fake_github: FakeGitHub, gh: GitHub,
                                         sleeps: Sleeps) -> None:
    fake_github.inject("GET", r"/comments$", 500, "boom", times=None)
    with pytest.raises(GitHubError) as err:
        gh.upsert_sticky(REPO, PR, body(), ours)
    assert "500" in err.value.what and err.value.fix
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_refuses_to_wait_for_an_hour(fake_github: FakeGitHub, gh: GitHub,
                                     sleeps: Sleeps) -> None:
    fake_github.inject("GET", r"/comments$", 403, "API rate limit exceeded",
                       {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1003600"})
    with pytest.raises(GitHubError, match="rate-limited"):
        gh.upsert_sticky(REPO, PR, body(), ours)
    assert sleeps == []


def test_retries_a_refused_connection(session: requests.Session, sleeps: Sleeps) -> None:
    fake = FakeGitHub().start()
    url = fake.url
    fake.stop()  # nothing listens on that port any more
    gh = GitHub(url, "t", session, sleep=sleeps, max_attempts=3)
    with pytest.raises(GitHubError, match="could not reach the GitHub API") as err:
        gh.list_comments(REPO, PR)
    assert "GITHUB_API_URL" in err.value.fix
    assert sleeps == [1.0, 2.0]


# ---------------------------------------------------------------- replies that are not the API


@pytest.mark.parametrize(("method", "path", "raw", "content_type", "message"), [
    ("GET", r"/issues/7/comments$", b"<html><body>Sign in</body></html>",
     "text/html; charset=utf-8", "but not JSON (text/html"),
    ("GET", r"/issues/7/comments$", b"", "application/json", "but not JSON"),
    ("GET", r"/issues/7/comments$", b"\xff\xfe{", "application/json", "but not JSON"),
    ("GET", r"/issues/7/comments$", b'{"message": "ok"}', "application/json",
     "a list endpoint must return a JSON array"),
    ("GET", r"/issues/7/comments$", b'[{"body": "no id"}]', "application/json",
     "unexpected reply"),
    ("GET", r"/issues/7/comments$", b'[{"id": "seven", "body": "x"}]', "application/json",
     "comment id 'seven'"),
    ("POST", r"/issues/7/comments$", b"[]", "application/json", "unexpected reply: []"),
])
def test_a_200_that_is_not_the_github_api_is_a_clear_error(
        fake_github: FakeGitHub, gh: GitHub, method: str, path: str, raw: bytes,
        content_type: str, message: str) -> None:
    fake_github.inject(method, path, 200, raw=raw, content_type=content_type, times=None)
    with pytest.raises(GitHubError) as err:
        gh.upsert_sticky(REPO, PR, body(), ours)
    assert message in err.value.what + err.value.why
    assert "GITHUB_API_URL" in err.value.fix


@pytest.mark.parametrize(("url", "problem"), [
    ("api.github.com", "no http:// or https:// scheme"),
    ("ftp://api.github.com", "no http:// or https:// scheme"),
    ("https://", "no host"),
    ("https://api.github.com?x=1", "query or fragment"),
    ("https://api.github.com:port", "Port could not be cast"),
])
def test_check_api_url(url: str, problem: str) -> None:
    from mlops.adapters.github import check_api_url

    with pytest.raises(GitHubError) as err:
        check_api_url(url)
    assert problem in err.value.why and "GITHUB_API_URL" in err.value.what
    assert check_api_url("https://ghe.example.com/api/v3") == "https://ghe.example.com/api/v3"


def test_an_invalid_url_is_not_retried(session: requests.Session, sleeps: Sleeps) -> None:
    gh = GitHub("http://bad host", "t", session, sleep=sleeps)
    with pytest.raises(GitHubError, match="cannot call the GitHub API"):
        gh.list_comments(REPO, PR)
    assert sleeps == []


# ---------------------------------------------------------------- permission errors


@pytest.mark.parametrize(("method", "path", "status", "need"), [
    ("POST", r"/issues/7/comments$", 403, "pull-requests: write"),
    ("PATCH", r"/issues/comments/", 403, "pull-requests: write"),
    ("GET", r"/issues/7/comments$", 404, "pull-requests: read"),
])
def test_permission_errors_name_the_permission(fake_github: FakeGitHub, gh: GitHub,
                                               sleeps: Sleeps, method: str, path: str,
                                               status: int, need: str) -> None:
    if method == "PATCH":
        fake_github.add_comment(REPO, PR, body("old"))
    fake_github.inject(method, path, status, "Resource not accessible by integration",
                       times=None)
    with pytest.raises(GitHubError) as err:
        gh.upsert_sticky(REPO, PR, body(), ours)
    e = err.value
    assert e.status == status
    assert need in e.why and f"permissions: {{{need}}}" in e.fix
    assert sleeps == []  # a permission error is not retried


def test_label_creation_needs_issues_write(fake_github: FakeGitHub, gh: GitHub) -> None:
    fake_github.inject("POST", r"/labels$", 403, "Resource not accessible by integration")
    with pytest.raises(GitHubError) as err:
        gh.set_labels(REPO, PR, LABEL_CHANGES, LABELS, LABELS)
    assert "issues: write" in err.value.why


def test_unknown_pull_request_is_a_clear_404(fake_github: FakeGitHub, gh: GitHub) -> None:
    with pytest.raises(GitHubError) as err:
        gh.upsert_sticky(REPO, 999, body(), ours)
    assert "404" in err.value.what and "--pr" in err.value.fix


def test_bad_token_is_a_clear_401(fake_github: FakeGitHub, session: requests.Session) -> None:
    gh = GitHub(fake_github.url, "wrong", session, sleep=lambda _: None)
    with pytest.raises(GitHubError) as err:
        gh.list_comments(REPO, PR)
    assert err.value.status == 401 and "GITHUB_TOKEN" in err.value.why


# ---------------------------------------------------------------- labels


def test_labels_created_set_and_ours_swapped(fake_github: FakeGitHub, gh: GitHub) -> None:
    fake_github.issue_labels[(REPO, PR)] = ["team:ml", LABEL_CHANGES, LABEL_NO_CHANGES]
    result = gh.set_labels(REPO, PR, LABEL_DESTROY, LABELS, LABELS)
    assert result.added == (LABEL_DESTROY,)
    assert set(result.removed) == {LABEL_CHANGES, LABEL_NO_CHANGES}
    assert fake_github.issue_labels[(REPO, PR)] == ["team:ml", LABEL_DESTROY]
    created = fake_github.repo_labels[REPO][LABEL_DESTROY]
    assert created["color"] == LABELS[LABEL_DESTROY][0]
    # Second run: nothing to do, and the existing repo label is not re-created.
    posts = len(fake_github.calls("POST"))
    again = gh.set_labels(REPO, PR, LABEL_DESTROY, LABELS, LABELS)
    assert (again.added, again.removed) == ((), ())
    assert len(fake_github.calls("POST")) == posts


def test_no_label_when_a_plan_failed_removes_ours(fake_github: FakeGitHub, gh: GitHub) -> None:
    fake_github.issue_labels[(REPO, PR)] = [LABEL_CHANGES, "bug"]
    result = gh.set_labels(REPO, PR, None, LABELS, LABELS)
    assert result.removed == (LABEL_CHANGES,)
    assert fake_github.issue_labels[(REPO, PR)] == ["bug"]


def test_label_created_by_a_racing_run_is_fine(fake_github: FakeGitHub, gh: GitHub) -> None:
    # GET says missing, POST says already_exists (the other run won): carry on.
    fake_github.repo_labels[REPO][LABEL_CHANGES] = {"name": LABEL_CHANGES}
    fake_github.inject("GET", r"/labels/plan", 404, "Not Found")
    gh.set_labels(REPO, PR, LABEL_CHANGES, LABELS, LABELS)
    assert fake_github.issue_labels[(REPO, PR)] == [LABEL_CHANGES]
