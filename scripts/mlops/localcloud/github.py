"""The embedded GitHub: a real HTTP server on a free local port standing in for the parts
of the GitHub REST API (and the Actions OIDC token endpoint) that mlops calls.

Like the embedded AWS, it lets the demo and the tests run the real client code (requests,
pagination, retries, error handling) against real HTTP, with no network. Each route
answers as GitHub's REST API reference documents it: status codes, the fields mlops reads,
pagination through `Link: <...>; rel="next"`. State lives in memory; nothing persists.

Routes (all under /repos/{owner}/{repo} unless absolute):
  GET                       the repository (default_branch)
  GET/POST                  /issues                 list (state, labels; PRs included, as
                                                    GitHub does: "GitHub's REST API considers
                                                    every pull request an issue") / create
  GET/PATCH                 /issues/{n}             read / update (title, body, state,
                                                    state_reason, labels)
  GET/POST                  /issues/{n}/comments    comments of an issue or pull request
  PATCH/DELETE              /issues/comments/{id}
  GET/POST                  /issues/{n}/labels, DELETE /issues/{n}/labels/{name}
  GET /labels/{name}, POST /labels
  GET/POST                  /pulls                  list (state, head=owner:branch, base) /
                                                    open a pull request
  GET                       /pulls/{n}              head.sha, base.ref, merged,
                                                    merge_commit_sha, ...
  GET                       /commits/{sha}/pulls    "Lists the merged pull request that
                                                    introduced the commit to the repository.
                                                    If the commit is not present in the
                                                    default branch, will return open pull
                                                    requests associated with the commit."
  GET /git/refs, GET /git/matching-refs/{prefix}, GET /git/ref/{ref}, POST /git/refs,
  PATCH/DELETE /git/refs/{ref}
  GET/PUT/DELETE            /contents/{path}?ref=   base64 content and the git blob sha; PUT
                                                    needs `sha` of the file it replaces (422
                                                    without it, 409 when it is not current)
  GET  /_services/token?audience=...   the Actions OIDC token endpoint (the path GHES uses),
                                       bearer ACTIONS_ID_TOKEN_REQUEST_TOKEN -> {"value": JWT};
                                       a job in a GitHub environment has its own request
                                       token (`environment_request_token(name)`), whose
                                       tokens carry that environment
  GET  /_services/token/.well-known/openid-configuration, .../jwks

Branches and files need no git push: a repository can be seeded from a real git directory
(`seed(repo, git_dir)`); its commits are read with `git cat-file`, and commits made through
the contents API are kept in memory as overlays on their parent.

Test knobs: `page_size` (force small pages), `inject(...)` (answer matching requests with an
error, for a number of times), `create_barrier` (every comment creation waits on it, to force
races), `requests` (everything received), `token_requests` (audience and bearer of each OIDC
token request), `oidc` (the claims the next tokens carry).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

OIDC_ISSUER = "https://token.actions.githubusercontent.com"
TOKEN_PATH = "/_services/token"
HTML_BASE = "https://github.example"  # html_url host: never a real GitHub page

Reply = tuple[int, Any, dict[str, str]]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


@dataclass
class Injection:
    method: str
    pattern: re.Pattern[str]
    status: int
    message: str
    headers: dict[str, str]
    times: int | None  # None: forever
    raw: bytes | None = None  # sent as is (with `content_type`) instead of a JSON message
    content_type: str = "text/html; charset=utf-8"


@dataclass
class FakeComment:
    id: int
    repo: str
    issue: int
    body: str
    user: str = "github-actions[bot]"


@dataclass
class FakeIssue:
    number: int
    repo: str
    title: str
    body: str = ""
    state: str = "open"
    state_reason: str | None = None
    user: str = "github-actions[bot]"
    created_at: str = ""
    updated_at: str = ""
    closed_at: str | None = None


@dataclass
class FakePull:
    number: int
    repo: str
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str = ""
    title: str = ""
    body: str = ""
    state: str = "open"
    merged: bool = False
    merged_at: str | None = None
    merge_commit_sha: str | None = None
    user: str = "octocat"


@dataclass
class TokenRequest:
    audience: str | None
    bearer: str
    claims: dict[str, Any]
    token: str = ""  # the JWT issued ("" when refused), so tests can check it is never shown


@dataclass
class OidcSettings:
    """What the next OIDC tokens say. `subject()` follows GitHub's documented formats:
    `repo:ORG/REPO:environment:NAME` for a job in an environment, else
    `repo:ORG/REPO:pull_request` for pull_request events, else `repo:ORG/REPO:ref:REF`."""

    repository: str = "acme/ml-infra"
    ref: str = "refs/heads/main"
    event_name: str = "push"
    environment: str | None = None
    sha: str = "0" * 40
    actor: str = "octocat"
    run_id: str = "4242"
    run_attempt: str = "1"
    workflow: str = "apply"
    lifetime: int = 300  # seconds from iat to exp
    sub: str | None = None  # overrides the derived subject
    extra: dict[str, Any] = field(default_factory=dict)  # merged last (overrides anything)

    def subject(self) -> str:
        if self.sub is not None:
            return self.sub
        if self.environment:
            return f"repo:{self.repository}:environment:{self.environment}"
        if self.event_name in ("pull_request", "pull_request_target"):
            return f"repo:{self.repository}:pull_request"
        return f"repo:{self.repository}:ref:{self.ref}"

    def claims(self, audience: str, now: int) -> dict[str, Any]:
        owner = self.repository.split("/")[0]
        workflow_ref = (f"{self.repository}/.github/workflows/{self.workflow}.yml@{self.ref}")
        claims: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "sub": self.subject(),
            "aud": audience,
            "ref": self.ref,
            "sha": self.sha,
            "repository": self.repository,
            "repository_owner": owner,
            "repository_visibility": "private",
            "run_id": self.run_id,
            "run_number": "1",
            "run_attempt": self.run_attempt,
            "runner_environment": "github-hosted",
            "actor": self.actor,
            "workflow": self.workflow,
            "head_ref": "",
            "base_ref": "",
            "event_name": self.event_name,
            "ref_type": "branch" if self.ref.startswith("refs/heads/") else "tag",
            "ref_protected": self.ref == "refs/heads/main",
            "workflow_ref": workflow_ref,
            "workflow_sha": self.sha,
            "job_workflow_ref": workflow_ref,
            "job_workflow_sha": self.sha,
            "iss": OIDC_ISSUER,
            "nbf": now - 5,
            "iat": now,
            "exp": now + self.lifetime,
        }
        if self.environment:
            claims["environment"] = self.environment
        claims.update(self.extra)
        return claims


# ---------------------------------------------------------------- git-backed contents


def blob_sha(data: bytes) -> str:
    """The git blob id of `data` (what GitHub's contents API calls the file's sha)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass
class _Commit:
    parent: str
    changes: dict[str, bytes | None]  # path -> content, None: deleted
    message: str


class _Store:
    """Files per commit. Real commits come from a git directory (read-only); commits made
    through the API are overlays on their parent."""

    def __init__(self, git_dir: Path | None) -> None:
        self.git_dir = git_dir
        self.commits: dict[str, _Commit] = {}

    def _git(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        assert self.git_dir is not None
        return subprocess.run(["git", "-C", str(self.git_dir), *args], input=stdin,
                              capture_output=True, check=False)

    def resolve(self, rev: str) -> str | None:
        """A 40-hex commit id for a commit we know (ours, or one in the git dir)."""
        if rev in self.commits:
            return rev
        if self.git_dir is None:
            return None
        out = self._git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        return out.stdout.decode().strip() if out.returncode == 0 else None

    def read(self, commit: str, path: str) -> bytes | None:
        while commit in self.commits:
            entry = self.commits[commit]
            if path in entry.changes:
                return entry.changes[path]
            commit = entry.parent
        if self.git_dir is None or not commit:
            return None
        out = self._git("cat-file", "blob", f"{commit}:{path}")
        return out.stdout if out.returncode == 0 else None

    def paths(self, commit: str) -> set[str]:
        overlays: list[dict[str, bytes | None]] = []
        while commit in self.commits:
            overlays.append(self.commits[commit].changes)
            commit = self.commits[commit].parent
        found: set[str] = set()
        if self.git_dir is not None and commit:
            out = self._git("ls-tree", "-r", "-z", "--name-only", commit)
            if out.returncode == 0:
                found = {p for p in out.stdout.decode().split("\0") if p}
        for changes in reversed(overlays):
            for path, data in changes.items():
                if data is None:
                    found.discard(path)
                else:
                    found.add(path)
        return found

    def commit(self, parent: str, changes: dict[str, bytes | None], message: str) -> str:
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(parent.encode() + uuid.uuid4().bytes + message.encode())
        sha = digest.hexdigest()
        self.commits[sha] = _Commit(parent, changes, message)
        return sha


@dataclass
class FakeRepo:
    name: str
    default_branch: str = "main"
    refs: dict[str, str] = field(default_factory=dict)  # "refs/heads/x" -> commit sha
    store: _Store = field(default_factory=lambda: _Store(None))
    next_number: int = 1


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Signer:
    """RS256 signing of the OIDC tokens with a key made at start (`cryptography`, which the
    embedded AWS's moto already depends on). The public key is served as JWKS."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:16]

    def sign(self, claims: Mapping[str, Any]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid, "x5t": self.kid}
        signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                         + _b64url(json.dumps(dict(claims), separators=(",", ":")).encode()))
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()

        def encode(n: int) -> str:
            return _b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

        return {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                          "n": encode(numbers.n), "e": encode(numbers.e)}]}


@dataclass
class FakeGitHub:
    """The embedded GitHub. `start()` serves it on 127.0.0.1 and a free port; `stop()`."""

    token: str = "test-token"
    page_size: int | None = None
    repos: set[str] = field(default_factory=lambda: {"acme/ml-infra"})
    pulls: set[tuple[str, int]] = field(default_factory=lambda: {("acme/ml-infra", 7)})
    create_barrier: threading.Barrier | None = None
    oidc_request_token: str = "actions-id-token-request-token"
    oidc: OidcSettings = field(default_factory=OidcSettings)

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.comments: dict[int, FakeComment] = {}
        self.repo_labels: dict[str, dict[str, dict[str, str]]] = {r: {} for r in self.repos}
        self.issue_labels: dict[tuple[str, int], list[str]] = {}
        self.requests: list[Recorded] = []
        self.injections: list[Injection] = []
        self.token_requests: list[TokenRequest] = []
        self.repositories: dict[str, FakeRepo] = {}
        self.issues: dict[tuple[str, int], FakeIssue] = {}
        self.pull_requests: dict[tuple[str, int], FakePull] = {}
        self._next_id = 100
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._signer: _Signer | None = None
        for name in self.repos:
            self.repositories[name] = FakeRepo(name)
        # Bare pull request numbers (no branch): comments and labels work on them.
        for repo, number in sorted(self.pulls):
            self._add_pull(FakePull(number, repo, head_ref=f"pr-{number}", head_sha="",
                                    base_ref="main", title=f"PR {number}"))

    # ------------------------------------------------------------------ control

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the embedded GitHub first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token_url(self) -> str:
        """ACTIONS_ID_TOKEN_REQUEST_URL: already has a query, as GitHub's does, so clients
        append `&audience=...`."""
        return f"{self.url}{TOKEN_PATH}?api-version=2.0"

    def actions_env(self, repo: str | None = None) -> dict[str, str]:
        """What a GitHub Actions job with `id-token: write` sees, pointed at this server."""
        repository = repo or self.oidc.repository
        return {
            "GITHUB_API_URL": self.url,
            "GITHUB_SERVER_URL": HTML_BASE,
            "GITHUB_TOKEN": self.token,
            "GITHUB_REPOSITORY": repository,
            "GITHUB_RUN_ID": self.oidc.run_id,
            "GITHUB_RUN_ATTEMPT": self.oidc.run_attempt,
            "ACTIONS_ID_TOKEN_REQUEST_URL": self.token_url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.oidc_request_token,
        }

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PATCH(self) -> None:
                fake._handle(self, "PATCH")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True, name="embedded-github")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, method: str, path_regex: str, status: int, message: str = "",
               headers: dict[str, str] | None = None, times: int | None = 1,
               raw: bytes | None = None, content_type: str = "text/html; charset=utf-8"
               ) -> None:
        """Answer the next `times` requests matching (method or "*", path regex) with
        `status` and GitHub's error body, or with `raw` as is (what a proxy or a web page
        answers instead of the API)."""
        self.injections.append(Injection(method, re.compile(path_regex), status,
                                         message or f"injected {status}", headers or {}, times,
                                         raw, content_type))

    def calls(self, method: str | None = None, contains: str = "") -> list[Recorded]:
        return [r for r in self.requests
                if (method is None or r.method == method) and contains in r.path]

    # ------------------------------------------------------------------ seeding

    def add_repo(self, repo: str, default_branch: str = "main") -> FakeRepo:
        with self.lock:
            self.repos.add(repo)
            self.repo_labels.setdefault(repo, {})
            return self.repositories.setdefault(repo, FakeRepo(repo, default_branch))

    def seed(self, repo: str, git_dir: Path, branches: Mapping[str, str] | None = None,
             default_branch: str = "main") -> FakeRepo:
        """Serve `repo` from a real git directory: its commits are readable through the
        contents API, and `branches` (name -> rev in git_dir; default {default_branch:
        "HEAD"}) become refs/heads/*."""
        fake = self.add_repo(repo, default_branch)
        with self.lock:
            fake.default_branch = default_branch
            fake.store = _Store(git_dir)
            for branch, rev in (branches or {default_branch: "HEAD"}).items():
                sha = fake.store.resolve(rev)
                if sha is None:
                    raise ValueError(f"{rev!r} is not a commit in {git_dir}")
                fake.refs[f"refs/heads/{branch}"] = sha
        return fake

    def set_branch(self, repo: str, branch: str, sha: str) -> None:
        with self.lock:
            self.repositories[repo].refs[f"refs/heads/{branch}"] = sha

    def branch_sha(self, repo: str, branch: str) -> str | None:
        with self.lock:
            return self.repositories[repo].refs.get(f"refs/heads/{branch}")

    def file_at(self, repo: str, ref: str, path: str) -> str | None:
        """A file's text at a branch or commit (for assertions)."""
        with self.lock:
            fake = self.repositories[repo]
            sha = fake.refs.get(f"refs/heads/{ref}") or fake.store.resolve(ref)
            data = fake.store.read(sha, path) if sha else None
        return None if data is None else data.decode()

    def add_pull(self, repo: str, *, head_ref: str, head_sha: str, base_ref: str = "main",
                 title: str = "", body: str = "", number: int | None = None,
                 merged: bool = False, merge_commit_sha: str | None = None,
                 state: str | None = None, user: str = "octocat") -> FakePull:
        """A pull request (for a test's history: e.g. one merged as `merge_commit_sha`)."""
        self.add_repo(repo)
        with self.lock:
            fake = self.repositories[repo]
            if number is None:
                number = fake.next_number
            pull = FakePull(number, repo, head_ref=head_ref, head_sha=head_sha,
                            base_ref=base_ref, base_sha=fake.refs.get(f"refs/heads/{base_ref}",
                                                                      ""),
                            title=title or f"PR {number}", body=body, user=user,
                            state=state or ("closed" if merged else "open"), merged=merged,
                            merged_at=_now() if merged else None,
                            merge_commit_sha=merge_commit_sha)
            self._add_pull(pull)
            return pull

    def merge_pull(self, repo: str, number: int, merge_commit_sha: str) -> FakePull:
        """Mark a pull request merged as `merge_commit_sha` (the base branch moves there if
        the commit is known)."""
        with self.lock:
            pull = self.pull_requests[(repo, number)]
            pull.merged, pull.state, pull.merged_at = True, "closed", _now()
            pull.merge_commit_sha = merge_commit_sha
            issue = self.issues[(repo, number)]
            issue.state, issue.closed_at = "closed", pull.merged_at
            fake = self.repositories[repo]
            if fake.store.resolve(merge_commit_sha):
                fake.refs[f"refs/heads/{pull.base_ref}"] = merge_commit_sha
            return pull

    def _add_pull(self, pull: FakePull) -> None:
        with self.lock:
            self.add_repo(pull.repo)
            self.pulls.add((pull.repo, pull.number))
            self.pull_requests[(pull.repo, pull.number)] = pull
            now = _now()
            self.issues[(pull.repo, pull.number)] = FakeIssue(
                pull.number, pull.repo, pull.title, pull.body, pull.state, user=pull.user,
                created_at=now, updated_at=now)
            self.issue_labels.setdefault((pull.repo, pull.number), [])
            fake = self.repositories[pull.repo]
            fake.next_number = max(fake.next_number, pull.number + 1)

    def add_issue(self, repo: str, title: str, body: str = "", labels: tuple[str, ...] = (),
                  state: str = "open") -> FakeIssue:
        self.add_repo(repo)
        with self.lock:
            fake = self.repositories[repo]
            now = _now()
            issue = FakeIssue(fake.next_number, repo, title, body, state, created_at=now,
                              updated_at=now, closed_at=now if state == "closed" else None)
            fake.next_number += 1
            self.issues[(repo, issue.number)] = issue
            self.issue_labels[(repo, issue.number)] = list(labels)
            for name in labels:
                self.repo_labels[repo].setdefault(name, {"name": name, "color": "ededed"})
            return issue

    def add_comment(self, repo: str, issue: int, body: str, user: str = "octocat") -> int:
        with self.lock:
            cid = self._new_id()
            self.comments[cid] = FakeComment(cid, repo, issue, body, user)
            return cid

    def comments_on(self, repo: str, issue: int) -> list[FakeComment]:
        with self.lock:
            return sorted((c for c in self.comments.values()
                           if c.repo == repo and c.issue == issue), key=lambda c: c.id)

    def issue(self, repo: str, number: int) -> FakeIssue:
        with self.lock:
            return self.issues[(repo, number)]

    def pull(self, repo: str, number: int) -> FakePull:
        with self.lock:
            return self.pull_requests[(repo, number)]

    # ------------------------------------------------------------------ transport

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        path, query = parts.path, parse_qs(parts.query)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(h, 400, {"message": "Problems parsing JSON"})
            return
        with self.lock:
            self.requests.append(Recorded(method, path, query, body, dict(h.headers.items())))
            injection = self._take_injection(method, path)
        if injection is not None and injection.raw is not None:
            h.send_response(injection.status)
            h.send_header("Content-Type", injection.content_type)
            h.send_header("Content-Length", str(len(injection.raw)))
            h.end_headers()
            h.wfile.write(injection.raw)
            return
        if injection is not None:
            self._send(h, injection.status, {"message": injection.message,
                                              "documentation_url": "https://docs.github.com"},
                       injection.headers)
            return
        if path == TOKEN_PATH or path.startswith(TOKEN_PATH + "/"):
            status, payload, headers = self._token_route(h, method, path, query)
            self._send(h, status, payload, headers)
            return
        auth = h.headers.get("Authorization") or ""
        if auth not in (f"Bearer {self.token}", f"token {self.token}"):
            self._send(h, 401, {"message": "Bad credentials",
                                "documentation_url": "https://docs.github.com/rest"})
            return
        try:
            status, payload, headers = self._route(method, path, query, body)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            status, payload, headers = 422, {"message": "Validation Failed",
                                             "errors": [{"message": repr(err)}]}, {}
        self._send(h, status, payload, headers)

    def _take_injection(self, method: str, path: str) -> Injection | None:
        for inj in self.injections:
            if inj.method in (method, "*") and inj.pattern.search(path) and inj.times != 0:
                if inj.times is not None:
                    inj.times -= 1
                return inj
        return None

    def _send(self, h: BaseHTTPRequestHandler, status: int, payload: Any,
              headers: dict[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _page(self, path: str, query: dict[str, list[str]], items: list[Any]) -> Reply:
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        if self.page_size is not None:
            per_page = min(per_page, self.page_size)
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {}
        if page * per_page < len(items):
            keep = "".join(f"&{quote(k)}={quote(v[0])}" for k, v in sorted(query.items())
                           if k not in ("page", "per_page"))
            last = (len(items) - 1) // per_page + 1
            headers["Link"] = (f'<{self.url}{path}?per_page={per_page}&page={page + 1}{keep}>; '
                               f'rel="next", <{self.url}{path}?per_page={per_page}&page='
                               f'{last}{keep}>; rel="last"')
        return 200, chunk, headers

    # ------------------------------------------------------------------ OIDC

    def _token_route(self, h: BaseHTTPRequestHandler, method: str, path: str,
                     query: dict[str, list[str]]) -> Reply:
        if self._signer is None:
            with self.lock:
                if self._signer is None:
                    self._signer = _Signer()
        signer = self._signer
        if path == TOKEN_PATH + "/.well-known/jwks":
            return 200, signer.jwks(), {}
        if path == TOKEN_PATH + "/.well-known/openid-configuration":
            return 200, {"issuer": OIDC_ISSUER, "jwks_uri": f"{self.url}{TOKEN_PATH}"
                         "/.well-known/jwks", "id_token_signing_alg_values_supported":
                         ["RS256"], "response_types_supported": ["id_token"],
                         "subject_types_supported": ["public", "pairwise"]}, {}
        if path != TOKEN_PATH or method != "GET":
            return 404, {"message": "Not Found"}, {}
        auth = h.headers.get("Authorization") or ""
        scheme, _, bearer = auth.partition(" ")
        audience = query.get("audience", [None])[0]
        settings = self._job_oidc(bearer) if scheme.lower() == "bearer" else None
        if settings is None:
            with self.lock:
                self.token_requests.append(TokenRequest(audience, bearer, {}))
            return 401, {"message": "Unauthorized: the request token is not valid"}, {}
        owner = settings.repository.split("/")[0]
        claims = settings.claims(audience or f"https://github.com/{owner}", int(time.time()))
        token = signer.sign(claims)
        with self.lock:
            self.token_requests.append(TokenRequest(audience, bearer, claims, token))
        return 200, {"count": 1, "value": token}, {}

    def _job_oidc(self, bearer: str) -> OidcSettings | None:
        """The claims for a request token: `oidc_request_token` gives `oidc`'s; a job in a
        GitHub environment gets a request token of its own (GitHub gives every job one),
        `environment_request_token(name)`, whose tokens name the environment (subject
        `repo:ORG/REPO:environment:NAME`, claim `environment`). None: not a valid token."""
        if bearer == self.oidc_request_token:
            return self.oidc
        prefix = self.environment_request_token("")
        name = bearer[len(prefix):] if bearer.startswith(prefix) else ""
        if name and re.fullmatch(r"[\w.-]{1,255}", name):
            return replace(self.oidc, environment=name)
        return None

    def environment_request_token(self, environment: str) -> str:
        """ACTIONS_ID_TOKEN_REQUEST_TOKEN of a job in the GitHub environment `environment`."""
        return f"{self.oidc_request_token}:environment:{environment}"

    # ------------------------------------------------------------------ JSON shapes

    def _user(self, login: str) -> dict[str, Any]:
        return {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"}

    def _comment_json(self, c: FakeComment) -> dict[str, Any]:
        kind = "pull" if (c.repo, c.issue) in self.pull_requests else "issues"
        return {"id": c.id, "body": c.body, "user": self._user(c.user),
                "html_url": f"{HTML_BASE}/{c.repo}/{kind}/{c.issue}#issuecomment-{c.id}"}

    def _labels_json(self, repo: str, number: int) -> list[dict[str, Any]]:
        return [{"name": n, "color": self.repo_labels[repo].get(n, {}).get("color", "ededed")}
                for n in self.issue_labels.get((repo, number), [])]

    def _issue_json(self, issue: FakeIssue) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": 10_000 + issue.number, "number": issue.number, "title": issue.title,
            "body": issue.body, "state": issue.state, "state_reason": issue.state_reason,
            "labels": self._labels_json(issue.repo, issue.number),
            "user": self._user(issue.user), "created_at": issue.created_at,
            "updated_at": issue.updated_at, "closed_at": issue.closed_at,
            "comments": len(self.comments_on(issue.repo, issue.number)),
            "html_url": f"{HTML_BASE}/{issue.repo}/issues/{issue.number}",
        }
        if (issue.repo, issue.number) in self.pull_requests:
            data["html_url"] = f"{HTML_BASE}/{issue.repo}/pull/{issue.number}"
            data["pull_request"] = {"html_url": data["html_url"],
                                    "url": f"{self.url}/repos/{issue.repo}/pulls/{issue.number}"}
        return data

    def _pull_json(self, p: FakePull, *, full: bool) -> dict[str, Any]:
        owner = p.repo.split("/")[0]
        data: dict[str, Any] = {
            "id": 20_000 + p.number, "number": p.number, "state": p.state, "title": p.title,
            "body": p.body, "user": self._user(p.user), "draft": False,
            "html_url": f"{HTML_BASE}/{p.repo}/pull/{p.number}",
            "url": f"{self.url}/repos/{p.repo}/pulls/{p.number}",
            "head": {"ref": p.head_ref, "sha": p.head_sha, "label": f"{owner}:{p.head_ref}",
                     "repo": {"full_name": p.repo}},
            "base": {"ref": p.base_ref, "sha": p.base_sha, "label": f"{owner}:{p.base_ref}",
                     "repo": {"full_name": p.repo}},
            "merged_at": p.merged_at, "merge_commit_sha": p.merge_commit_sha,
            "labels": self._labels_json(p.repo, p.number),
        }
        if full:  # "merged" is in the pull-request schema, not in pull-request-simple
            data["merged"] = p.merged
        return data

    # ------------------------------------------------------------------ routing

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        not_found: Reply = (404, {"message": "Not Found"}, {})
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
        if not m:
            return not_found
        repo = f"{unquote(m.group(1))}/{unquote(m.group(2))}"
        rest = m.group(3) or ""
        if repo not in self.repos:
            return not_found
        fake = self.repositories[repo]
        if rest == "" and method == "GET":
            return 200, {"full_name": repo, "default_branch": fake.default_branch,
                         "html_url": f"{HTML_BASE}/{repo}"}, {}
        for prefix, handler in (("/issues", self._issues), ("/labels", self._labels),
                                ("/pulls", self._pulls), ("/commits", self._commits),
                                ("/git", self._git), ("/contents", self._contents)):
            if rest == prefix or rest.startswith(prefix + "/"):
                return handler(method, path, repo, rest, query, body)
        return not_found

    # -- issues, comments, labels (pull requests are issues too)

    def _issues(self, method: str, path: str, repo: str, rest: str,
                query: dict[str, list[str]], body: Any) -> Reply:
        not_found: Reply = (404, {"message": "Not Found"}, {})
        if rest == "/issues":
            if method == "POST":
                if not body or not str(body.get("title") or "").strip():
                    return 422, {"message": "Validation Failed",
                                 "errors": [{"resource": "Issue", "field": "title",
                                             "code": "missing_field"}]}, {}
                issue = self.add_issue(repo, str(body["title"]), str(body.get("body") or ""),
                                       tuple(str(n) for n in body.get("labels") or ()))
                return 201, self._issue_json(issue), {}
            if method == "GET":
                state = query.get("state", ["open"])[0]
                wanted = {n for n in query.get("labels", [""])[0].split(",") if n}
                with self.lock:
                    items = [i for (r, _), i in self.issues.items() if r == repo
                             and (state == "all" or i.state == state)
                             and wanted <= set(self.issue_labels.get((repo, i.number), []))]
                    items.sort(key=lambda i: i.number, reverse=True)  # created, desc
                    payload = [self._issue_json(i) for i in items]
                return self._page(path, query, payload)
            return not_found
        if m := re.fullmatch(r"/issues/(\d+)", rest):
            key = (repo, int(m.group(1)))
            with self.lock:
                found = self.issues.get(key)
                if found is None:
                    return not_found
                issue = found
                if method == "GET":
                    return 200, self._issue_json(issue), {}
                if method == "PATCH":
                    body = body or {}
                    if "title" in body:
                        issue.title = str(body["title"])
                    if "body" in body:
                        issue.body = str(body["body"] or "")
                    if "state" in body:
                        if body["state"] not in ("open", "closed"):
                            return 422, {"message": "Validation Failed",
                                         "errors": [{"field": "state", "code": "invalid"}]}, {}
                        if body["state"] != issue.state:
                            issue.closed_at = _now() if body["state"] == "closed" else None
                            issue.state_reason = ("reopened" if body["state"] == "open"
                                                  else "completed")
                        issue.state = body["state"]
                    if body.get("state_reason"):
                        issue.state_reason = str(body["state_reason"])
                    if "labels" in body:
                        names = [str(n) for n in body["labels"] or []]
                        for name in names:
                            self.repo_labels[repo].setdefault(
                                name, {"name": name, "color": "ededed"})
                        self.issue_labels[key] = names
                    issue.updated_at = _now()
                    return 200, self._issue_json(issue), {}
            return not_found
        if m := re.fullmatch(r"/issues/(\d+)/comments", rest):
            issue_number = int(m.group(1))
            if (repo, issue_number) not in self.issues:
                return not_found
            if method == "GET":
                return self._page(path, query, [self._comment_json(c)
                                                for c in self.comments_on(repo, issue_number)])
            if method == "POST":
                if self.create_barrier is not None:
                    self.create_barrier.wait(timeout=10)
                with self.lock:
                    cid = self._new_id()
                    self.comments[cid] = FakeComment(cid, repo, issue_number, body["body"])
                    return 201, self._comment_json(self.comments[cid]), {}
            return not_found
        if m := re.fullmatch(r"/issues/comments/(\d+)", rest):
            cid = int(m.group(1))
            with self.lock:
                comment = self.comments.get(cid)
                if comment is None or comment.repo != repo:
                    return not_found
                if method == "GET":
                    return 200, self._comment_json(comment), {}
                if method == "PATCH":
                    comment.body = body["body"]
                    return 200, self._comment_json(comment), {}
                if method == "DELETE":
                    del self.comments[cid]
                    return 204, None, {}
            return not_found
        if m := re.fullmatch(r"/issues/(\d+)/labels(?:/([^/]+))?", rest):
            key = (repo, int(m.group(1)))
            if key not in self.issues:
                return not_found
            with self.lock:
                current = self.issue_labels.setdefault(key, [])
                if method == "GET" and m.group(2) is None:
                    listed = [{"name": n} for n in current]
                elif method == "POST" and m.group(2) is None:
                    for name in body["labels"]:
                        if name not in self.repo_labels[repo]:
                            self.repo_labels[repo][name] = {"name": name, "color": "ededed"}
                        if name not in current:
                            current.append(name)
                    return 200, [{"name": n} for n in current], {}
                elif method == "DELETE" and m.group(2) is not None:
                    name = unquote(m.group(2))
                    if name not in current:
                        return 404, {"message": "Label does not exist"}, {}
                    current.remove(name)
                    return 200, [{"name": n} for n in current], {}
                else:
                    return not_found
            return self._page(path, query, listed)
        return not_found

    def _labels(self, method: str, path: str, repo: str, rest: str,
                query: dict[str, list[str]], body: Any) -> Reply:
        if m := re.fullmatch(r"/labels/([^/]+)", rest):
            with self.lock:
                label = self.repo_labels[repo].get(unquote(m.group(1)))
            return (200, label, {}) if label else (404, {"message": "Not Found"}, {})
        if rest == "/labels" and method == "POST":
            with self.lock:
                if body["name"] in self.repo_labels[repo]:
                    return 422, {"message": "Validation Failed",
                                 "errors": [{"resource": "Label", "code": "already_exists",
                                             "field": "name"}]}, {}
                self.repo_labels[repo][body["name"]] = dict(body)
                return 201, body, {}
        return 404, {"message": "Not Found"}, {}

    # -- pull requests

    def _pulls(self, method: str, path: str, repo: str, rest: str,
               query: dict[str, list[str]], body: Any) -> Reply:
        not_found: Reply = (404, {"message": "Not Found"}, {})
        owner = repo.split("/")[0]
        fake = self.repositories[repo]
        if rest == "/pulls" and method == "GET":
            state = query.get("state", ["open"])[0]
            head = query.get("head", [""])[0]
            base = query.get("base", [""])[0]
            with self.lock:
                items = [p for (r, _), p in self.pull_requests.items() if r == repo
                         and (state == "all" or p.state == state)
                         and (not head or head == f"{owner}:{p.head_ref}")
                         and (not base or base == p.base_ref)]
                items.sort(key=lambda p: p.number, reverse=True)
                payload = [self._pull_json(p, full=False) for p in items]
            return self._page(path, query, payload)
        if rest == "/pulls" and method == "POST":
            title, head, base = (str(body.get(k) or "") for k in ("title", "head", "base"))
            head_ref = head.split(":", 1)[1] if ":" in head else head
            with self.lock:
                head_sha = fake.refs.get(f"refs/heads/{head_ref}")
                base_sha = fake.refs.get(f"refs/heads/{base}")
                if not title or head_sha is None or base_sha is None:
                    field_name = "title" if not title else "head" if head_sha is None else "base"
                    return 422, {"message": "Validation Failed",
                                 "errors": [{"resource": "PullRequest", "field": field_name,
                                             "code": "invalid"}]}, {}
                for p in self.pull_requests.values():
                    if (p.repo == repo and p.state == "open" and p.head_ref == head_ref
                            and p.base_ref == base):
                        return 422, {"message": "Validation Failed", "errors": [{
                            "resource": "PullRequest", "code": "custom",
                            "message": f"A pull request already exists for {owner}:{head_ref}."
                        }]}, {}
                if head_sha == base_sha:
                    return 422, {"message": "Validation Failed", "errors": [{
                        "resource": "PullRequest", "code": "custom",
                        "message": f"No commits between {base} and {head_ref}"}]}, {}
            pull = self.add_pull(repo, head_ref=head_ref, head_sha=head_sha, base_ref=base,
                                 title=title, body=str(body.get("body") or ""),
                                 user="github-actions[bot]")
            return 201, self._pull_json(pull, full=True), {}
        if m := re.fullmatch(r"/pulls/(\d+)", rest):
            with self.lock:
                known = self.pull_requests.get((repo, int(m.group(1))))
                if known is None or method != "GET":
                    return not_found
                return 200, self._pull_json(known, full=True), {}
        return not_found

    def _commits(self, method: str, path: str, repo: str, rest: str,
                 query: dict[str, list[str]], body: Any) -> Reply:
        m = re.fullmatch(r"/commits/([0-9a-fA-F]{7,40})/pulls", rest)
        if not m or method != "GET":
            return 404, {"message": "Not Found"}, {}
        sha = m.group(1).lower()
        with self.lock:
            merged = [p for (r, _), p in self.pull_requests.items() if r == repo and p.merged
                      and (p.merge_commit_sha or "").startswith(sha)]
            heads = [p for (r, _), p in self.pull_requests.items() if r == repo
                     and p.head_sha and p.head_sha.startswith(sha) and p not in merged]
            # Merged PRs that introduced the commit first; else open PRs with it as head.
            items = merged or [p for p in heads if p.state == "open"] or heads
            payload = [self._pull_json(p, full=False) for p in sorted(items,
                                                                      key=lambda p: p.number)]
        return self._page(path, query, payload)

    # -- git refs and contents

    def _ref_json(self, repo: str, ref: str, sha: str) -> dict[str, Any]:
        return {"ref": ref, "url": f"{self.url}/repos/{repo}/git/{ref}",
                "object": {"sha": sha, "type": "commit",
                           "url": f"{self.url}/repos/{repo}/git/commits/{sha}"}}

    def _git(self, method: str, path: str, repo: str, rest: str,
             query: dict[str, list[str]], body: Any) -> Reply:
        not_found: Reply = (404, {"message": "Not Found"}, {})
        fake = self.repositories[repo]
        with self.lock:
            if rest == "/git/refs" and method == "GET":
                return self._page(path, query, [self._ref_json(repo, r, s)
                                                for r, s in sorted(fake.refs.items())])
            if m := re.fullmatch(r"/git/matching-refs/(.+)", rest):
                prefix = "refs/" + unquote(m.group(1))
                return 200, [self._ref_json(repo, r, s) for r, s in sorted(fake.refs.items())
                             if r.startswith(prefix)], {}
            if rest == "/git/refs" and method == "POST":
                ref, sha = str(body.get("ref") or ""), str(body.get("sha") or "")
                if not ref.startswith("refs/") or ref.count("/") < 2:
                    return 422, {"message": "Reference name is invalid"}, {}
                if ref in fake.refs:
                    return 422, {"message": "Reference already exists"}, {}
                resolved = fake.store.resolve(sha) if re.fullmatch(r"[0-9a-f]{40}", sha) else None
                if resolved is None:
                    return 422, {"message": "Object does not exist"}, {}
                fake.refs[ref] = resolved
                return 201, self._ref_json(repo, ref, resolved), {}
            if m := re.fullmatch(r"/git/ref/(.+)", rest):
                ref = "refs/" + unquote(m.group(1))
                if method == "GET" and ref in fake.refs:
                    return 200, self._ref_json(repo, ref, fake.refs[ref]), {}
                return not_found
            if m := re.fullmatch(r"/git/refs/(.+)", rest):
                ref = "refs/" + unquote(m.group(1))
                if ref not in fake.refs:
                    return 422, {"message": "Reference does not exist"}, {}
                if method == "DELETE":
                    del fake.refs[ref]
                    return 204, None, {}
                if method == "PATCH":
                    sha = str(body.get("sha") or "")
                    if fake.store.resolve(sha) is None:
                        return 422, {"message": "Object does not exist"}, {}
                    fake.refs[ref] = sha
                    return 200, self._ref_json(repo, ref, sha), {}
        return not_found

    def _contents(self, method: str, path: str, repo: str, rest: str,
                  query: dict[str, list[str]], body: Any) -> Reply:
        not_found: Reply = (404, {"message": "Not Found"}, {})
        fake = self.repositories[repo]
        file_path = unquote(rest[len("/contents/"):]).strip("/")
        with self.lock:
            if method == "GET":
                ref = query.get("ref", [fake.default_branch])[0]
                sha = fake.refs.get(f"refs/heads/{ref}") or fake.store.resolve(ref)
                if sha is None:
                    return 404, {"message": f"No commit found for the ref {ref}"}, {}
                data = fake.store.read(sha, file_path)
                if data is not None:
                    return 200, self._file_json(repo, file_path, data, ref), {}
                prefix = file_path + "/"
                entries = sorted({p[len(prefix):].split("/")[0] for p in fake.store.paths(sha)
                                  if p.startswith(prefix)})
                if not entries:
                    return not_found
                return 200, [{"name": e, "path": prefix + e,
                              "type": "file" if fake.store.read(sha, prefix + e) is not None
                              else "dir"} for e in entries], {}
            if method not in ("PUT", "DELETE"):
                return not_found
            branch = str(body.get("branch") or fake.default_branch)
            ref = f"refs/heads/{branch}"
            parent = fake.refs.get(ref)
            if parent is None:
                return 404, {"message": f"Branch {branch} not found"}, {}
            if not str(body.get("message") or ""):
                return 422, {"message": "Invalid request.\n\n\"message\" wasn't supplied."}, {}
            current = fake.store.read(parent, file_path)
            given = body.get("sha")
            if method == "DELETE" and current is None:
                return not_found
            if current is not None and not given:
                return 422, {"message": "Invalid request.\n\n\"sha\" wasn't supplied."}, {}
            if current is not None and given != blob_sha(current):
                return 409, {"message": f"{file_path} does not match {given}"}, {}
            if method == "PUT":
                try:
                    data = base64.b64decode(str(body["content"]), validate=True)
                except (KeyError, ValueError):
                    return 422, {"message": "content is not valid Base64"}, {}
                commit = fake.store.commit(parent, {file_path: data}, str(body["message"]))
                fake.refs[ref] = commit
                return (201 if current is None else 200), {
                    "content": self._file_json(repo, file_path, data, branch),
                    "commit": {"sha": commit, "message": body["message"]}}, {}
            commit = fake.store.commit(parent, {file_path: None}, str(body["message"]))
            fake.refs[ref] = commit
            return 200, {"content": None, "commit": {"sha": commit, "message": body["message"]}}, {}

    def _file_json(self, repo: str, path: str, data: bytes, ref: str) -> dict[str, Any]:
        encoded = base64.b64encode(data).decode()
        # GitHub wraps the base64 at 60 characters per line.
        wrapped = "\n".join(encoded[i:i + 60] for i in range(0, len(encoded), 60)) + "\n"
        return {"type": "file", "encoding": "base64", "size": len(data),
                "name": path.rsplit("/", 1)[-1], "path": path, "content": wrapped,
                "sha": blob_sha(data),
                "html_url": f"{HTML_BASE}/{repo}/blob/{ref}/{path}"}


# The name used by the embedded services' callers (demo, tests).
EmbeddedGitHub = FakeGitHub
