"""The GitHub REST API through `requests`: the sticky PR comment and the plan labels, the
pull requests of a commit, change pull requests opened through the contents API (no clone,
no push), and issues.

Reliability: pagination (Link rel="next"); retries with backoff on 5xx and connection
errors; on rate limits (403/429) it waits as GitHub asks (`Retry-After`, else
`x-ratelimit-reset`, else at least a minute for secondary limits); a 401/403/404 becomes
an MlopsError naming the token permission the call needs. `sleep` and `clock` are passed
in so tests run without waiting.
"""

from __future__ import annotations

import base64
import json as json_module
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import requests

from mlops import __version__
from mlops.errors import MlopsError

DEFAULT_API_URL = "https://api.github.com"
RETRY_STATUSES = frozenset({500, 502, 503, 504})

NEED_READ = "pull-requests: read"
NEED_COMMENT = "pull-requests: write"
NEED_LABEL_EDIT = "pull-requests: write"
NEED_LABEL_CREATE = "issues: write"
NEED_PR_WRITE = "pull-requests: write"
NEED_CONTENTS_READ = "contents: read"
NEED_CONTENTS_WRITE = "contents: write"
NEED_ISSUES_READ = "issues: read"
NEED_ISSUES_WRITE = "issues: write"


class GitHubError(MlopsError):
    """The GitHub API refused or failed a request."""

    def __init__(self, what: str, why: str = "", fix: str = "", status: int = 0) -> None:
        super().__init__(what, why, fix)
        self.status = status


def check_api_url(url: str, source: str = "GITHUB_API_URL") -> str:
    """The REST API base URL, if it is one: http(s)://host[/path], no query or fragment."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
        problem = ("it has no http:// or https:// scheme"
                   if parts.scheme not in ("http", "https")
                   else "it has no host" if not parts.hostname
                   else "it has a query or fragment" if parts.query or parts.fragment
                   else "")
    except ValueError as err:
        problem = str(err) or "it is not a URL"
    if problem:
        raise GitHubError(f"{source}={url!r} is not a URL mlops can call",
                          problem, "unset it (https://api.github.com is the default) or set it "
                          "to your GitHub Enterprise Server API, e.g. https://HOST/api/v3")
    return url


def _reply_object(data: Any, call: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
    """A reply that must be a JSON object with `keys`, else a clear error."""
    if not isinstance(data, Mapping) or any(k not in data for k in keys):
        shown = json_module.dumps(data)[:200] if data is not None else "null"
        raise GitHubError(f"GitHub answered {call} with an unexpected reply: {shown}",
                          f"a JSON object with {', '.join(keys)} was expected",
                          "check GITHUB_API_URL points at the GitHub REST API")
    return data


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    html_url: str = ""

    @classmethod
    def from_api(cls, data: Any, call: str = "a comment request") -> Comment:
        obj = _reply_object(data, call, ("id",))
        try:
            return cls(id=int(obj["id"]), body=str(obj.get("body") or ""),
                       html_url=str(obj.get("html_url") or ""))
        except (TypeError, ValueError) as err:
            raise GitHubError(f"GitHub answered {call} with a comment id {obj['id']!r}",
                              str(err), "check GITHUB_API_URL points at the GitHub REST API"
                              ) from err


@dataclass(frozen=True)
class PullRequest:
    """The fields of a pull request mlops reads. `merged` comes from `merged` when the API
    gives it (GET pulls/{n}) and from `merged_at` otherwise (list endpoints return the
    pull-request-simple schema, which has no `merged`)."""

    number: int
    state: str
    title: str
    html_url: str
    head_ref: str
    head_sha: str
    base_ref: str
    merged: bool
    merge_commit_sha: str | None
    body: str = ""

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> PullRequest:
        head, base = data.get("head") or {}, data.get("base") or {}
        merged = data.get("merged")
        return cls(number=int(data["number"]), state=str(data.get("state") or ""),
                   title=str(data.get("title") or ""), html_url=str(data.get("html_url") or ""),
                   head_ref=str(head.get("ref") or ""), head_sha=str(head.get("sha") or ""),
                   base_ref=str(base.get("ref") or ""),
                   merged=bool(merged) if merged is not None else bool(data.get("merged_at")),
                   merge_commit_sha=data.get("merge_commit_sha") or None,
                   body=str(data.get("body") or ""))


@dataclass(frozen=True)
class RepoFile:
    path: str
    text: str
    sha: str  # the git blob sha: what a PUT replacing this file must name


@dataclass(frozen=True)
class ChangePR:
    pull: PullRequest
    created: bool  # False: an open pull request from the branch already existed
    changed: tuple[str, ...]  # paths committed by this call


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    body: str
    state: str
    labels: tuple[str, ...]
    html_url: str

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Issue:
        return cls(number=int(data["number"]), title=str(data.get("title") or ""),
                   body=str(data.get("body") or ""), state=str(data.get("state") or ""),
                   labels=tuple(str(lbl["name"]) if isinstance(lbl, Mapping) else str(lbl)
                                for lbl in data.get("labels") or []),
                   html_url=str(data.get("html_url") or ""))


@dataclass(frozen=True)
class StickyResult:
    comment_id: int
    action: Literal["created", "updated"]
    deleted: tuple[int, ...]
    url: str


@dataclass(frozen=True)
class LabelResult:
    added: tuple[str, ...]
    removed: tuple[str, ...]


def _message(resp: requests.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return resp.text[:300]
    if isinstance(data, dict):
        msg = str(data.get("message", ""))
        errors = data.get("errors")
        if errors:
            msg += f" {errors}"
        return msg[:500]
    return str(data)[:300]


class GitHub:
    def __init__(
        self,
        base_url: str,
        token: str,
        session: requests.Session,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_attempts: int = 6,
        max_wait: float = 900.0,
        per_page: int = 100,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.sleep = sleep
        self.clock = clock
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.per_page = per_page
        self.timeout = timeout
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": f"mlops/{__version__}",
        }

    # ------------------------------------------------------------------ transport

    def _backoff(self, attempt: int) -> float:
        return float(min(2 ** (attempt - 1), 30))

    def _retry_wait(self, resp: requests.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when retrying cannot help."""
        if resp.status_code in RETRY_STATUSES:
            return self._backoff(attempt)
        if resp.status_code not in (403, 429):
            return None
        retry_after = resp.headers.get("Retry-After")
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                pass
        reset = resp.headers.get("x-ratelimit-reset")
        if resp.headers.get("x-ratelimit-remaining") == "0" and reset is not None:
            try:
                return max(0.0, float(reset) - self.clock()) + 1.0
            except ValueError:
                pass
        if resp.status_code == 429 or "secondary rate limit" in _message(resp).lower():
            return max(60.0, self._backoff(attempt))  # GitHub: wait at least a minute
        return None

    def _error(self, method: str, path: str, resp: requests.Response, need: str) -> GitHubError:
        status = resp.status_code
        msg = _message(resp)
        call = f"{method} {path}"
        if status == 401:
            return GitHubError(
                f"GitHub rejected the token for {call} (401: {msg})",
                "GITHUB_TOKEN is missing, expired or not a token",
                "pass the workflow's token: env: GITHUB_TOKEN: ${{ github.token }}", status)
        if status == 403:
            return GitHubError(
                f"GitHub refused {call} (403: {msg})",
                f"the token lacks the `{need}` permission (pull requests from forks only "
                "ever get a read-only token)",
                f"add `permissions: {{{need}}}` to the job; for fork PRs post from a "
                "separate `workflow_run` job", status)
        if status == 404:
            return GitHubError(
                f"GitHub answered 404 Not Found for {call}",
                "the repository or pull request does not exist, or the token cannot see it: "
                f"GitHub hides what a token may not access, so a missing `{need}` "
                "permission also looks like this",
                f"check --repo and --pr, and give the job `permissions: {{{need}}}`", status)
        if status == 422:
            return GitHubError(
                f"GitHub rejected {call} as invalid (422: {msg})",
                "the request failed GitHub's validation",
                "this is a bug in mlops if it persists: report it with this message", status)
        return GitHubError(
            f"GitHub failed {call} ({status}: {msg})",
            "the API returned an error mlops does not retry",
            "re-run the job; check https://www.githubstatus.com if it persists", status)

    def request(self, method: str, path: str, *, need: str, json: Any = None,
                params: Mapping[str, Any] | None = None,
                missing_ok: bool = False) -> requests.Response | None:
        """One API call with retries. `path` is relative to the base URL, or a full URL from
        a Link header. Returns None for a 404 when `missing_ok`."""
        url = path if path.startswith(self.base_url + "/") else self.base_url + path
        shown = path if not path.startswith(self.base_url) else path[len(self.base_url):]
        for attempt in range(1, self.max_attempts + 1):
            try:
                resp = self.session.request(method, url, headers=self._headers, json=json,
                                            params=params, timeout=self.timeout)
            except requests.exceptions.InvalidURL as err:  # and MissingSchema, InvalidSchema
                raise GitHubError(f"cannot call the GitHub API at {self.base_url}", str(err),
                                  "check GITHUB_API_URL (e.g. https://api.github.com)") from err
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as err:
                if attempt == self.max_attempts:
                    raise GitHubError(
                        f"could not reach the GitHub API at {self.base_url} for "
                        f"{method} {shown}",
                        f"{type(err).__name__} after {attempt} attempts",
                        "check GITHUB_API_URL and the runner's network; re-run the job",
                    ) from err
                self.sleep(self._backoff(attempt))
                continue
            except requests.RequestException as err:  # e.g. too many redirects: not transient
                raise GitHubError(f"the request {method} {shown} to {self.base_url} failed",
                                  f"{type(err).__name__}: {err}",
                                  "check GITHUB_API_URL and the runner's network") from err
            if resp.status_code < 400:
                return resp
            if resp.status_code == 404 and missing_ok:
                return None
            wait = self._retry_wait(resp, attempt)
            if wait is None or attempt == self.max_attempts:
                raise self._error(method, shown, resp, need)
            if wait > self.max_wait:
                raise GitHubError(
                    f"GitHub rate-limited {method} {shown} for {wait:.0f}s",
                    f"that is longer than mlops waits ({self.max_wait:.0f}s)",
                    "re-run the job later, or spread out the workflows using this token",
                    resp.status_code)
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, method: str, path: str, *, need: str, json: Any = None) -> Any:
        resp = self.request(method, path, need=need, json=json)
        assert resp is not None
        return self._decode(resp, f"{method} {path}")

    @staticmethod
    def _decode(resp: requests.Response, call: str) -> Any:
        """The JSON of a successful reply; a proxy's HTML page or an empty body is an error
        that names what came back instead."""
        try:
            return resp.json()
        except ValueError as err:  # requests' JSONDecodeError, also for a non-UTF-8 body
            kind = resp.headers.get("Content-Type") or "no Content-Type"
            raise GitHubError(
                f"GitHub answered {call} with HTTP {resp.status_code} but not JSON ({kind}, "
                f"{len(resp.content):,} bytes)",
                "the GitHub REST API always answers with JSON: this URL is something else "
                "(a web page, a proxy's login or error page)",
                "check GITHUB_API_URL: https://api.github.com, or https://HOST/api/v3 for "
                "GitHub Enterprise Server") from err

    def paginate(self, path: str, *, need: str) -> Iterator[Any]:
        """Every item of a list endpoint, following Link rel="next" on our host only."""
        next_path: str | None = path
        params: Mapping[str, Any] | None = {"per_page": self.per_page}
        while next_path:
            resp = self.request("GET", next_path, need=need, params=params)
            assert resp is not None
            page = self._decode(resp, f"GET {path}")
            if not isinstance(page, list):
                raise GitHubError(f"GitHub returned a {type(page).__name__} for GET {path}",
                                  "a list endpoint must return a JSON array",
                                  "check GITHUB_API_URL points at the GitHub REST API")
            yield from page
            link = resp.links.get("next", {}).get("url")
            next_path = link if link and link.startswith(self.base_url + "/") else None
            params = None  # the next link carries its own query

    # ------------------------------------------------------------------ comments

    @staticmethod
    def _repo(repo: str) -> str:
        owner, _, name = repo.partition("/")
        return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"

    def list_comments(self, repo: str, pr: int) -> list[Comment]:
        path = f"{self._repo(repo)}/issues/{pr}/comments"
        return [Comment.from_api(c, f"GET {path}") for c in self.paginate(path, need=NEED_READ)]

    def create_comment(self, repo: str, pr: int, body: str) -> Comment:
        return Comment.from_api(self._json("POST", f"{self._repo(repo)}/issues/{pr}/comments",
                                           need=NEED_COMMENT, json={"body": body}))

    def update_comment(self, repo: str, comment_id: int, body: str) -> Comment:
        return Comment.from_api(self._json(
            "PATCH", f"{self._repo(repo)}/issues/comments/{comment_id}",
            need=NEED_COMMENT, json={"body": body}))

    def delete_comment(self, repo: str, comment_id: int) -> None:
        """Deleting a comment that is already gone (a racing run deleted it) is fine."""
        self.request("DELETE", f"{self._repo(repo)}/issues/comments/{comment_id}",
                     need=NEED_COMMENT, missing_ok=True)

    def upsert_sticky(self, repo: str, pr: int, body: str,
                      is_ours: Callable[[str], bool]) -> StickyResult:
        """Create or update the one comment `is_ours` recognises; converge to exactly one.

        Two runs racing on a PR may both create a comment. After creating we list again
        and, whoever we are, keep the oldest of ours (lowest id), give it our body and
        delete the rest, so every interleaving ends with one comment.
        """

        def ours() -> list[Comment]:
            return sorted((c for c in self.list_comments(repo, pr) if is_ours(c.body)),
                          key=lambda c: c.id)

        existing = ours()
        action: Literal["created", "updated"]
        if existing:
            keep = self.update_comment(repo, existing[0].id, body)
            extras = existing[1:]
            action = "updated"
        else:
            created = self.create_comment(repo, pr, body)
            action = "created"
            after = ours()
            if not after or after[0].id == created.id:
                keep = created
            else:
                keep = self.update_comment(repo, after[0].id, body)
            extras = [c for c in after if c.id != keep.id]
            if created.id != keep.id and all(c.id != created.id for c in extras):
                extras.append(created)
        for extra in extras:
            self.delete_comment(repo, extra.id)
        return StickyResult(keep.id, action, tuple(c.id for c in extras), keep.html_url)

    # ------------------------------------------------------------------ labels

    def issue_labels(self, repo: str, pr: int) -> list[str]:
        path = f"{self._repo(repo)}/issues/{pr}/labels"
        return [str(_reply_object(label, f"GET {path}", ("name",))["name"])
                for label in self.paginate(path, need=NEED_READ)]

    def ensure_label(self, repo: str, name: str, color: str, description: str) -> None:
        path = f"{self._repo(repo)}/labels/{quote(name, safe='')}"
        if self.request("GET", path, need=NEED_READ, missing_ok=True) is not None:
            return
        try:
            self.request("POST", f"{self._repo(repo)}/labels", need=NEED_LABEL_CREATE,
                         json={"name": name, "color": color, "description": description})
        except GitHubError as err:
            if err.status != 422:  # 422 already_exists: a racing run created it
                raise

    def set_labels(self, repo: str, pr: int, wanted: str | None, ours: Collection[str],
                   definitions: Mapping[str, tuple[str, str]]) -> LabelResult:
        """Make `wanted` the only one of `ours` on the PR; other labels are left alone."""
        current = set(self.issue_labels(repo, pr))
        added: list[str] = []
        if wanted is not None and wanted not in current:
            color, description = definitions.get(wanted, ("ededed", ""))
            self.ensure_label(repo, wanted, color, description)
            self.request("POST", f"{self._repo(repo)}/issues/{pr}/labels",
                         need=NEED_LABEL_EDIT, json={"labels": [wanted]})
            added.append(wanted)
        removed = []
        for name in sorted(current & set(ours)):
            if name != wanted:
                self.request("DELETE",
                             f"{self._repo(repo)}/issues/{pr}/labels/{quote(name, safe='')}",
                             need=NEED_LABEL_EDIT, missing_ok=True)
                removed.append(name)
        return LabelResult(tuple(added), tuple(removed))

    # ------------------------------------------------------------------ pull requests

    def pulls_for_commit(self, repo: str, sha: str) -> list[PullRequest]:
        """The pull requests associated with a commit: the merged one that introduced it to
        the default branch, else the open ones that have it as head (GitHub's documented
        behaviour of GET /repos/{o}/{r}/commits/{sha}/pulls)."""
        path = f"{self._repo(repo)}/commits/{quote(sha, safe='')}/pulls"
        return [PullRequest.from_api(p) for p in self.paginate(path, need=NEED_READ)]

    def get_pull(self, repo: str, number: int) -> PullRequest:
        return PullRequest.from_api(self._json("GET", f"{self._repo(repo)}/pulls/{number}",
                                               need=NEED_READ))

    def find_pulls(self, repo: str, *, head_branch: str, base: str | None = None,
                   state: Literal["open", "closed", "all"] = "open") -> list[PullRequest]:
        owner = repo.split("/")[0]
        query = f"state={state}&head={quote(owner + ':' + head_branch, safe='')}"
        if base:
            query += f"&base={quote(base, safe='')}"
        path = f"{self._repo(repo)}/pulls?{query}"
        return [PullRequest.from_api(p) for p in self._paginate_query(path, NEED_READ)]

    def create_pull(self, repo: str, *, head: str, base: str, title: str,
                    body: str) -> PullRequest:
        return PullRequest.from_api(self._json(
            "POST", f"{self._repo(repo)}/pulls", need=NEED_PR_WRITE,
            json={"title": title, "head": head, "base": base, "body": body}))

    def _paginate_query(self, path_with_query: str, need: str) -> Iterator[Any]:
        """paginate() for a path that already carries a query string."""
        sep = "&" if "?" in path_with_query else "?"
        first = f"{path_with_query}{sep}per_page={self.per_page}"
        next_path: str | None = first
        while next_path:
            resp = self.request("GET", next_path, need=need)
            assert resp is not None
            page = resp.json()
            if not isinstance(page, list):
                raise GitHubError(f"GitHub returned a {type(page).__name__} for GET "
                                  f"{path_with_query}", "a list endpoint must return an array",
                                  "check GITHUB_API_URL points at the GitHub REST API")
            yield from page
            link = resp.links.get("next", {}).get("url")
            next_path = link if link and link.startswith(self.base_url + "/") else None

    # ------------------------------------------------------------------ branches, files

    def default_branch(self, repo: str) -> str:
        return str(self._json("GET", self._repo(repo), need=NEED_CONTENTS_READ)["default_branch"])

    def branch_sha(self, repo: str, branch: str) -> str | None:
        """The commit a branch points at, or None when there is no such branch."""
        resp = self.request("GET", f"{self._repo(repo)}/git/ref/heads/{quote(branch)}",
                            need=NEED_CONTENTS_READ, missing_ok=True)
        return None if resp is None else str(resp.json()["object"]["sha"])

    def create_branch(self, repo: str, branch: str, sha: str) -> None:
        self.request("POST", f"{self._repo(repo)}/git/refs", need=NEED_CONTENTS_WRITE,
                     json={"ref": f"refs/heads/{branch}", "sha": sha})

    def get_file(self, repo: str, path: str, ref: str) -> RepoFile | None:
        """A file's text and blob sha at `ref`; None when it does not exist there."""
        resp = self.request("GET", f"{self._repo(repo)}/contents/{quote(path)}",
                            need=NEED_CONTENTS_READ, params={"ref": ref}, missing_ok=True)
        if resp is None:
            return None
        data = resp.json()
        if not isinstance(data, dict) or data.get("type") != "file":
            raise GitHubError(f"{path} at {ref} in {repo} is not a file",
                              "the contents API returned a directory listing",
                              "pass the path of a file")
        text = base64.b64decode(str(data.get("content") or "")).decode("utf-8")
        return RepoFile(path=path, text=text, sha=str(data["sha"]))

    def put_file(self, repo: str, path: str, text: str, *, branch: str, message: str,
                 sha: str | None = None) -> str:
        """Create or replace a file on a branch (one commit); returns the commit sha.
        `sha` is the blob being replaced (required by GitHub when the file exists)."""
        payload: dict[str, Any] = {
            "message": message, "branch": branch,
            "content": base64.b64encode(text.encode("utf-8")).decode()}
        if sha:
            payload["sha"] = sha
        data = self._json("PUT", f"{self._repo(repo)}/contents/{quote(path)}",
                          need=NEED_CONTENTS_WRITE, json=payload)
        return str(data["commit"]["sha"])

    def delete_file(self, repo: str, path: str, *, branch: str, message: str,
                    sha: str) -> str:
        data = self._json("DELETE", f"{self._repo(repo)}/contents/{quote(path)}",
                          need=NEED_CONTENTS_WRITE,
                          json={"message": message, "branch": branch, "sha": sha})
        return str(data["commit"]["sha"])

    def open_change_pr(self, repo: str, base: str, branch: str,
                       files: Mapping[str, str | None], title: str, body: str) -> ChangePR:
        """Propose `files` ({path: text, or None to delete}) as a pull request from `branch`
        into `base`, through the API only (no clone, no push).

        Idempotent, so a re-run after a failure converges: an existing `branch` is reused
        (files already as wanted are not committed again) and an open pull request from it
        is returned rather than a second one opened."""
        base_sha = self.branch_sha(repo, base)
        if base_sha is None:
            raise GitHubError(f"branch {base} does not exist in {repo}",
                              "the change pull request is opened against it",
                              "pass the repository's default branch (usually main)")
        if self.branch_sha(repo, branch) is None:
            self.create_branch(repo, branch, base_sha)
        changed: list[str] = []
        for path in sorted(files):
            text = files[path]
            current = self.get_file(repo, path, branch)
            message = f"{title}\n\n{'delete' if text is None else 'update'} {path}"
            if text is None:
                if current is not None:
                    self.delete_file(repo, path, branch=branch, message=message,
                                     sha=current.sha)
                    changed.append(path)
            elif current is None or current.text != text:
                self.put_file(repo, path, text, branch=branch, message=message,
                              sha=current.sha if current else None)
                changed.append(path)
        existing = self.find_pulls(repo, head_branch=branch, base=base, state="open")
        if existing:
            return ChangePR(existing[0], created=False, changed=tuple(changed))
        if self.branch_sha(repo, branch) == base_sha:
            raise GitHubError(f"nothing to propose: {base} already has these files",
                              f"the branch {branch} has no commit that {base} lacks",
                              "nothing to do; the change is already on the base branch")
        pull = self.create_pull(repo, head=branch, base=base, title=title, body=body)
        return ChangePR(pull, created=True, changed=tuple(changed))

    # ------------------------------------------------------------------ issues

    def create_issue(self, repo: str, title: str, body: str,
                     labels: Sequence[str] = ()) -> Issue:
        return Issue.from_api(self._json("POST", f"{self._repo(repo)}/issues",
                                         need=NEED_ISSUES_WRITE,
                                         json={"title": title, "body": body,
                                               "labels": list(labels)}))

    def get_issue(self, repo: str, number: int) -> Issue:
        return Issue.from_api(self._json("GET", f"{self._repo(repo)}/issues/{number}",
                                         need=NEED_ISSUES_READ))

    def list_issues(self, repo: str, *, labels: Sequence[str] = (),
                    state: Literal["open", "closed", "all"] = "open") -> list[Issue]:
        """Issues (never pull requests, which the API lists too) carrying every label."""
        query = f"state={state}"
        if labels:
            query += f"&labels={quote(','.join(labels), safe='')}"
        items = self._paginate_query(f"{self._repo(repo)}/issues?{query}", NEED_ISSUES_READ)
        return [Issue.from_api(i) for i in items if "pull_request" not in i]

    def update_issue(self, repo: str, number: int, *, title: str | None = None,
                     body: str | None = None,
                     state: Literal["open", "closed"] | None = None,
                     state_reason: str | None = None,
                     labels: Sequence[str] | None = None) -> Issue:
        payload: dict[str, Any] = {}
        for key, value in (("title", title), ("body", body), ("state", state),
                           ("state_reason", state_reason)):
            if value is not None:
                payload[key] = value
        if labels is not None:
            payload["labels"] = list(labels)
        return Issue.from_api(self._json("PATCH", f"{self._repo(repo)}/issues/{number}",
                                         need=NEED_ISSUES_WRITE, json=payload))

    def close_issue(self, repo: str, number: int, reason: str = "completed") -> Issue:
        return self.update_issue(repo, number, state="closed", state_reason=reason)

    def reopen_issue(self, repo: str, number: int) -> Issue:
        return self.update_issue(repo, number, state="open")

    def comment_issue(self, repo: str, number: int, body: str) -> Comment:
        """A comment on an issue (or a pull request: the same API)."""
        return Comment.from_api(self._json("POST", f"{self._repo(repo)}/issues/{number}/comments",
                                           need=NEED_ISSUES_WRITE, json={"body": body}))


def from_env(env: Mapping[str, str], session: requests.Session) -> GitHub:
    """A client for GITHUB_API_URL (default api.github.com) with GITHUB_TOKEN."""
    token = env.get("GITHUB_TOKEN", "")
    if not token:
        raise MlopsError("GITHUB_TOKEN is not set",
                         "this command calls the GitHub API, which needs a token",
                         "in the workflow step add env: GITHUB_TOKEN: ${{ github.token }}")
    return GitHub(env.get("GITHUB_API_URL") or DEFAULT_API_URL, token, session)
