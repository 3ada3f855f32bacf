"""The demo's model-release story (issue 9), as steps that each return a short excerpt.

It runs after the demo applied envs/dev (serving disabled), on the demo's embedded AWS,
with an embedded GitHub seeded from a scratch git copy of the project (the checkout is
never written to; merging a pull request is simulated by committing its file on main):

  train      v1, v2 and a faulty v3 (`--fault error-rate=0.5`): `mlops train`
  push       each to dev's artifact bucket, content-addressed: `mlops artifact push`
  deploy v1  `mlops release` opens the PR; merged; `mlops apply`: the endpoint serves v1
  canary v2  release v2 as a 10 % canary (PR, merge, apply), `mlops canary promote` under
             `mlops traffic` to 100 %; the follow-up PR makes v2 the stable, merged
  canary v3  release v3 (PR, merge, apply: this also applies v2 as the stable), promote
             under traffic: its 5xx alarm fires from real metrics, 100 % back on stable
             automatically (exit 10); the follow-up PR sets Git back
  rollback   `mlops endpoint rollback`: the endpoint swapped to the previous release's
             EndpointConfig, its model answers; the swap recorded (the same PR)

Each step runs the real CLI in-process and returns the lines that tell the story. The
commands' own progress (Terraform's, the promotion's) goes to stderr as they run.
`mlops demo` calls `ReleaseStory.steps()` between its zero-drift check and its destroy.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops import cli
from mlops.errors import MlopsError
from mlops.localcloud.github import FakeGitHub
from mlops.settings import Settings

ENV = "dev"
REPO = "example-org/mlops-gitops"
TFVARS = f"envs/{ENV}/terraform.tfvars"
# name -> (seed, fault)
MODELS = {"v1": (1, None), "v2": (2, None), "v3": (3, "error-rate=0.5")}
TRAFFIC_RPS = 20
PR_NUMBER = re.compile(r"/pull/(\d+)$")
Excerpt = str | list[str]


@dataclass
class Ran:
    code: int
    stdout: str


@dataclass
class ReleaseStory:
    base_env: Mapping[str, str]  # the demo's environment (its embedded AWS)
    settings: Settings  # of the checkout the demo runs from
    hub: FakeGitHub = field(init=False)
    root: Path = field(init=False)
    env: dict[str, str] = field(init=False)
    tmp: Path = field(init=False)
    uris: dict[str, str] = field(default_factory=dict)
    shas: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def opened(self) -> Iterator[ReleaseStory]:
        """A scratch git copy of the project, served by an embedded GitHub."""
        self.tmp = Path(tempfile.mkdtemp(prefix="mlops-demo-release-"))
        self.root = self.tmp / "repo"
        for name in ("envs", "modules", "policies"):
            shutil.copytree(self.settings.root / name, self.root / name,
                            ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
        shutil.copy(self.settings.root / "mlops.yaml", self.root / "mlops.yaml")
        self._git("init", "-q", "-b", "main")
        self._commit("The project, as the demo found it")
        self.hub = FakeGitHub(repos={REPO}, pulls=set()).start()
        self.hub.seed(REPO, self.root / ".git")
        github = self.hub.actions_env(REPO)
        self.env = {**self.base_env, "MLOPS_ROOT": str(self.root),
                    "MLOPS_STATE_DIR": str(self.settings.state_dir / "demo-release"),
                    "TF_PLUGIN_CACHE_DIR": str(self.settings.plugin_cache),
                    **{k: github[k] for k in ("GITHUB_API_URL", "GITHUB_TOKEN",
                                              "GITHUB_REPOSITORY")}}
        try:
            yield self
        finally:
            self.hub.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _git(self, *args: str) -> str:
        out = subprocess.run(["git", "-C", str(self.root), "-c", "user.name=mlops demo", "-c",
                              "user.email=demo@example.com", *args], capture_output=True,
                             text=True, check=False)
        if out.returncode != 0:
            raise MlopsError(f"git {' '.join(args[:2])} failed in the demo's scratch copy",
                             out.stderr.strip(), "check that git is installed")
        return out.stdout.strip()

    def _commit(self, message: str) -> str:
        self._git("add", "-A")
        self._git("commit", "-q", "--allow-empty", "-m", message)
        return self._git("rev-parse", "HEAD")

    def mlops(self, *argv: str, ok: tuple[int, ...] = (0,)) -> Ran:
        """The real CLI in-process: stdout captured (what it answers), stderr streams."""
        out = io.StringIO()
        with redirect_stdout(out):
            code = cli.main(list(argv), self.env)
        if code not in ok:
            raise MlopsError(f"`mlops {' '.join(argv)}` exited {code}", out.getvalue()[-2000:],
                             "read its output above")
        return Ran(code, out.getvalue())

    def merge(self, url: str) -> str:
        """Merge the pull request at `url`: its tfvars committed on main. Returns a line."""
        match = PR_NUMBER.search(url.strip())
        if match is None:
            raise MlopsError(f"expected a pull request URL, got {url!r}", "", "")
        number = int(match.group(1))
        pull = self.hub.pull(REPO, number)
        text = self.hub.file_at(REPO, pull.head_ref, TFVARS)
        if text is None:
            raise MlopsError(f"pull request #{number} has no {TFVARS}", "", "")
        (self.root / TFVARS).write_text(text)
        sha = self._commit(f"Merge pull request #{number}: {pull.title}")
        self.hub.merge_pull(REPO, number, sha)
        return f"PR #{number} merged: {pull.title}"

    def release(self, name: str, *extra: str) -> list[str]:
        url = self.mlops("release", "--env", ENV, "--model", self.uris[name], *extra).stdout
        return [f"release PR opened: {url.strip()}", self.merge(url)]

    def apply(self) -> str:
        self.mlops("apply", "--env", ENV)
        return "applied"

    def endpoint(self) -> str:
        from mlops import context
        from mlops.commands.endpoint import find_target

        return find_target(context.load(self.env), ENV).endpoint

    @contextmanager
    def traffic(self, log_name: str) -> Iterator[Callable[[], dict[str, Any]]]:
        """`mlops traffic` as a process while the block runs (stopped with SIGTERM, so it
        reports); the report, once the block is done, from the callable."""
        log = self.settings.state_dir / "demo" / f"{log_name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        endpoint = self.endpoint()
        with log.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mlops", "traffic", "--env", ENV, "--endpoint",
                 endpoint, "--rps", str(TRAFFIC_RPS), "--duration", "600", "--json"],
                env=self.env, stdout=subprocess.PIPE, stderr=err, text=True)
        result: dict[str, Any] = {}

        def report() -> dict[str, Any]:
            return result

        try:
            yield report
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                out, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            try:
                result.update(json.loads(out))
            except ValueError:
                result["error"] = f"no traffic report (exit {proc.returncode}); see {log}"

    @staticmethod
    def served(report: Mapping[str, Any]) -> str:
        if "error" in report:
            return str(report["error"])
        parts = [f"{v} {d['requests']} req, {d['success_rate']:.0%} ok"
                 for v, d in sorted(report.get("variants", {}).items())]
        return f"traffic during it: {'; '.join(parts)}"

    # ------------------------------------------------------------------ the steps

    def steps(self) -> list[tuple[str, Callable[[], Excerpt]]]:
        return [
            ("train v1, v2 and a faulty v3 (error-rate 0.5)", self.train),
            ("push them to dev's artifact bucket", self.push),
            ("deploy v1: release PR, merge, apply", self.deploy_v1),
            ("canary v2 to 100% under traffic", self.canary_v2),
            ("canary v3: its 5xx alarm rolls it back", self.canary_v3),
            ("roll the endpoint back by config swap", self.rollback),
        ]

    def train(self) -> Excerpt:
        lines = []
        for name, (seed, fault) in MODELS.items():
            out = self.tmp / "models" / name
            argv = ["train", "--seed", str(seed), "--out", str(out)]
            argv += ["--fault", fault] if fault else []
            self.shas[name] = self.mlops(*argv).stdout.strip()
            lines.append(f"{name}: sha256 {self.shas[name][:12]}"
                         + (f" (fault-injected: {fault})" if fault else ""))
        return lines

    def push(self) -> Excerpt:
        for name in MODELS:
            self.uris[name] = self.mlops("artifact", "push", str(self.tmp / "models" / name),
                                         "--env", ENV).stdout.strip()
        return [f"{name}: {uri}" for name, uri in self.uris.items()]

    def deploy_v1(self) -> Excerpt:
        from mlops import context
        from mlops.commands.plan import init_env

        outputs = init_env(context.load(self.env), ENV).output_values()
        image = f"{outputs['model_image_repository_url']}:0.1.0"
        lines = self.release("v1", "--image", image)
        self.apply()
        return [*lines, f"applied: {self.endpoint()} serves v1"]

    def canary_v2(self) -> Excerpt:
        lines = self.release("v2")
        self.apply()
        lines.append("applied: v2 takes 10% beside v1")
        with self.traffic("traffic-v2") as report:
            promoted = self.mlops("canary", "promote", "--env", ENV, "--steps", "10,50,100",
                                  "--bake", "10")
        lines += ["promoted: 10% -> 50% -> 100%, every step baked 10 s with the alarms OK",
                  self.served(report()), f"follow-up PR: {promoted.stdout.strip()}",
                  self.merge(promoted.stdout)]
        return lines

    def canary_v3(self) -> Excerpt:
        lines = self.release("v3")
        self.apply()
        lines.append("applied: v3 takes 10% beside v2 (and v2 is the stable in Git)")
        with self.traffic("traffic-v3") as report:
            stopped = self.mlops("canary", "promote", "--env", ENV, "--bake", "30", ok=(10,))
        record = self._record()
        lines += [f"exit {stopped.code}: rolled back automatically",
                  *[f"{e['step']}: {e['text']}" for e in record.get("events", [])
                    if e["text"].startswith(("ROLL BACK", "100% on stable"))],
                  self.served(report()), f"follow-up PR: {stopped.stdout.strip()}"]
        return lines

    def rollback(self) -> Excerpt:
        ran = self.mlops("endpoint", "rollback", "--env", ENV)
        return ["the endpoint swapped back to the previous release's EndpointConfig; its "
                "model answered a real invocation",
                f"the swap recorded in Git: {ran.stdout.strip()}"]

    def _record(self) -> dict[str, Any]:
        from mlops import context
        from mlops.adapters import aws
        from mlops.core import canary

        ctx = context.load(self.env)
        body = aws.client(ctx.env, "s3").get_object(
            Bucket=ctx.state_bucket(ENV), Key=canary.record_key(ENV))["Body"].read()
        found: dict[str, Any] = json.loads(body)
        return found
