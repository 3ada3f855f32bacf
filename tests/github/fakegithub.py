"""A local HTTP server standing in for the GitHub REST API (issue comments and labels).

Real HTTP on a free port, so the adapter's requests, pagination, retries and error handling
run for real. Every request is recorded. Knobs:
  page_size          force small pages (pagination through Link rel="next")
  inject(...)        answer matching requests with an error (5xx, rate limit, 403, 404), or
                     with a raw body (`raw=`: what a proxy or a web page answers instead)
  create_barrier     a threading.Barrier every comment creation waits on (to force races)
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


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
class FakeGitHub:
    token: str = "test-token"
    page_size: int | None = None
    repos: set[str] = field(default_factory=lambda: {"acme/ml-infra"})
    pulls: set[tuple[str, int]] = field(default_factory=lambda: {("acme/ml-infra", 7)})
    create_barrier: threading.Barrier | None = None

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.comments: dict[int, FakeComment] = {}
        self.repo_labels: dict[str, dict[str, dict[str, str]]] = {r: {} for r in self.repos}
        self.issue_labels: dict[tuple[str, int], list[str]] = {p: [] for p in self.pulls}
        self.requests: list[Recorded] = []
        self.injections: list[Injection] = []
        self._next_id = 100
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PATCH(self) -> None:
                fake._handle(self, "PATCH")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def inject(self, method: str, path_regex: str, status: int, message: str = "",
               headers: dict[str, str] | None = None, times: int | None = 1,
               raw: bytes | None = None, content_type: str = "text/html; charset=utf-8"
               ) -> None:
        self.injections.append(Injection(method, re.compile(path_regex), status,
                                         message or f"injected {status}", headers or {}, times,
                                         raw, content_type))

    def add_comment(self, repo: str, issue: int, body: str, user: str = "octocat") -> int:
        with self.lock:
            cid = self._new_id()
            self.comments[cid] = FakeComment(cid, repo, issue, body, user)
            return cid

    def comments_on(self, repo: str, issue: int) -> list[FakeComment]:
        with self.lock:
            return sorted((c for c in self.comments.values()
                           if c.repo == repo and c.issue == issue), key=lambda c: c.id)

    def calls(self, method: str | None = None, contains: str = "") -> list[Recorded]:
        return [r for r in self.requests
                if (method is None or r.method == method) and contains in r.path]

    # ------------------------------------------------------------------ internals

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        path, query = parts.path, parse_qs(parts.query)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
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
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            self._send(h, 401, {"message": "Bad credentials"})
            return
        status, payload, headers = self._route(method, path, query, body)
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
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _comment_json(self, c: FakeComment) -> dict[str, Any]:
        return {"id": c.id, "body": c.body, "user": {"login": c.user},
                "html_url": f"https://github.example/{c.repo}/pull/{c.issue}#issuecomment-{c.id}"}

    def _page(self, path: str, query: dict[str, list[str]], items: list[Any]
              ) -> tuple[int, Any, dict[str, str]]:
        per_page = int(query.get("per_page", ["30"])[0])
        if self.page_size is not None:
            per_page = min(per_page, self.page_size)
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {}
        if page * per_page < len(items):
            headers["Link"] = (f'<{self.url}{path}?per_page={per_page}&page={page + 1}>; '
                               f'rel="next", <{self.url}{path}?per_page={per_page}&page='
                               f'{(len(items) - 1) // per_page + 1}>; rel="last"')
        return 200, chunk, headers

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any
               ) -> tuple[int, Any, dict[str, str]]:
        not_found: tuple[int, Any, dict[str, str]] = (404, {"message": "Not Found"}, {})
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)", path)
        if not m:
            return not_found
        repo = f"{unquote(m.group(1))}/{unquote(m.group(2))}"
        rest = m.group(3)
        if repo not in self.repos:
            return not_found

        if m2 := re.fullmatch(r"/issues/(\d+)/comments", rest):
            issue = int(m2.group(1))
            if (repo, issue) not in self.pulls:
                return not_found
            if method == "GET":
                return self._page(path, query, [self._comment_json(c)
                                                 for c in self.comments_on(repo, issue)])
            if method == "POST":
                if self.create_barrier is not None:
                    self.create_barrier.wait(timeout=10)
                with self.lock:
                    cid = self._new_id()
                    self.comments[cid] = FakeComment(cid, repo, issue, body["body"])
                    return 201, self._comment_json(self.comments[cid]), {}
        if m2 := re.fullmatch(r"/issues/comments/(\d+)", rest):
            cid = int(m2.group(1))
            with self.lock:
                comment = self.comments.get(cid)
                if comment is None or comment.repo != repo:
                    return not_found
                if method == "PATCH":
                    comment.body = body["body"]
                    return 200, self._comment_json(comment), {}
                if method == "DELETE":
                    del self.comments[cid]
                    return 204, None, {}
        if m2 := re.fullmatch(r"/labels/([^/]+)", rest):
            name = unquote(m2.group(1))
            with self.lock:
                label = self.repo_labels[repo].get(name)
            return (200, label, {}) if label else not_found
        if rest == "/labels" and method == "POST":
            with self.lock:
                if body["name"] in self.repo_labels[repo]:
                    return 422, {"message": "Validation Failed",
                                 "errors": [{"code": "already_exists"}]}, {}
                self.repo_labels[repo][body["name"]] = dict(body)
                return 201, body, {}
        if m2 := re.fullmatch(r"/issues/(\d+)/labels(?:/([^/]+))?", rest):
            key = (repo, int(m2.group(1)))
            if key not in self.pulls:
                return not_found
            with self.lock:
                current = self.issue_labels[key]
                if method == "GET" and m2.group(2) is None:
                    items = [{"name": n} for n in current]
                elif method == "POST" and m2.group(2) is None:
                    for name in body["labels"]:
                        if name not in self.repo_labels[repo]:
                            self.repo_labels[repo][name] = {"name": name, "color": "ededed"}
                        if name not in current:
                            current.append(name)
                    return 200, [{"name": n} for n in current], {}
                elif method == "DELETE" and m2.group(2) is not None:
                    name = unquote(m2.group(2))
                    if name not in current:
                        return 404, {"message": "Label does not exist"}, {}
                    current.remove(name)
                    return 200, [{"name": n} for n in current], {}
                else:
                    return not_found
            return self._page(path, query, items)
        return not_found
