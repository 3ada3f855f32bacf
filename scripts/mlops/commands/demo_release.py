"""The demo's model-release story (issue 9), as steps that each return a short excerpt.

It runs after the demo applied envs/dev (serving disabled), on the demo's embedded AWS,
with an embedded GitHub seeded from a scratch git copy of the project in
`.mlops/demo-release/repo` (the checkout is never written to; merging a pull request is
simulated by committing its file on main; `mlops traffic` logs in .mlops/demo/traffic/):

  train_and_push  v1, v2 and a faulty v3 (`--fault error-rate=0.5`): `mlops train`; each
                  to dev's artifact bucket, content-addressed: `mlops artifact push`
  deploy v1  `mlops release` opens the PR; merged; `mlops apply`: the endpoint serves v1
  canary v2  release v2 as a 10 % canary (PR, merge, apply), `mlops canary promote` under
             `mlops traffic` to 100 %; the follow-up PR makes v2 the stable, merged
  canary v3  release v3 (PR, merge, apply: this also applies v2 as the stable), promote
             under traffic: its 5xx alarm fires from real metrics, 100 % back on stable
             automatically (exit 10); the follow-up PR sets Git back
  rollback   `mlops endpoint rollback`: the endpoint swapped to the previous release's
             EndpointConfig, its model answers; the swap recorded (the same PR)

Each step runs the real CLI in-process and returns a few lines that tell the story; the
commands' own output (Terraform's, the promotion's progress) goes to the step's log.
`mlops demo` runs `ReleaseStory.STEPS` after its checks and before its destroy
(`open()` on the first, `close()` when it stops the cloud).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

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
    opened_at: bool = False
    borrowed: bool = False  # the hub and the repository are another story's (the demo's)

    # ------------------------------------------------------------------ plumbing

    STEPS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("train v1, v2, a faulty v3; push them", "train_and_push"),
        ("release v1: PR, merge, apply", "deploy_v1"),
        ("canary v2 to 100% under traffic", "canary_v2"),
        ("canary v3: its 5xx alarm rolls it back", "canary_v3"),
        ("endpoint rollback by config swap", "rollback"),
    )

    def open(self) -> ReleaseStory:
        """A scratch git copy of the project, served by an embedded GitHub."""
        self.tmp = self.settings.state_dir / "demo-release"  # kept by --keep, to look at
        shutil.rmtree(self.tmp, ignore_errors=True)
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
                    "MLOPS_STATE_DIR": str(self.tmp / "state"),
                    "TF_PLUGIN_CACHE_DIR": str(self.settings.plugin_cache),
                    **{k: github[k] for k in ("GITHUB_API_URL", "GITHUB_TOKEN",
                                              "GITHUB_REPOSITORY")}}
        self.opened_at = True
        return self

    def open_on(self, root: Path, hub: FakeGitHub, env: Mapping[str, str]) -> ReleaseStory:
        """The story on a scratch repository and embedded GitHub already open (the demo's
        apply story's): one GitHub for the whole demo, its pull requests numbered on."""
        self.tmp = self.settings.state_dir / "demo-release"  # the models; kept by --keep
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self.root, self.hub, self.borrowed = root, hub, True
        self.env = {**env, "TF_PLUGIN_CACHE_DIR": str(self.settings.plugin_cache)}
        self.opened_at = True
        return self

    def close(self) -> None:
        if self.opened_at:
            if not self.borrowed:
                self.hub.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.opened_at = False

    @contextmanager
    def opened(self) -> Iterator[ReleaseStory]:
        self.open()
        try:
            yield self
        finally:
            self.close()

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
        """Merge the pull request at `url`: its tfvars committed on main. Returns `#N`."""
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
        print(f"merged pull request #{number}: {pull.title}")
        return f"#{number}"

    def release(self, name: str, *extra: str) -> str:
        """`mlops release` of a model, its pull request merged; the PR's `#N`."""
        url = self.mlops("release", "--env", ENV, "--model", self.uris[name], *extra).stdout
        return self.merge(url)

    def apply(self) -> None:
        # These release PRs carry no plan comment (the guard is the apply story's subject):
        # applied as a dispatch would, and recorded as unreviewed.
        self.mlops("apply", "--env", ENV, "--allow-unreviewed")

    def endpoint(self) -> str:
        from mlops import context
        from mlops.commands.endpoint import find_target

        return find_target(context.load(self.env), ENV).endpoint

    @contextmanager
    def traffic(self, log_name: str) -> Iterator[Callable[[], dict[str, Any]]]:
        """`mlops traffic` as a process while the block runs (stopped with SIGTERM, so it
        reports); the report, once the block is done, from the callable."""
        log = self.settings.state_dir / "demo" / "traffic" / f"{log_name}.log"
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
        parts = [f"{v} {d['requests']} requests {d['success_rate']:.0%} ok"
                 for v, d in sorted(report.get("variants", {}).items())]
        return f"traffic meanwhile: {', '.join(parts)}"

    # ------------------------------------------------------------------ the steps

    def steps(self) -> list[tuple[str, Callable[[], Excerpt]]]:
        return [(title, getattr(self, name)) for title, name in self.STEPS]

    def train(self) -> Excerpt:
        for name, (seed, fault) in MODELS.items():
            out = self.tmp / "models" / name
            argv = ["train", "--seed", str(seed), "--out", str(out)]
            argv += ["--fault", fault] if fault else []
            self.shas[name] = self.mlops(*argv).stdout.strip()
        return [f"v1 {self.shas['v1'][:12]}, v2 {self.shas['v2'][:12]}, "
                f"v3 {self.shas['v3'][:12]} (v3: --fault error-rate=0.5)",
                "the same seed and code give the same sha256 (deterministic artifacts)"]

    def train_and_push(self) -> Excerpt:
        """v1, v2 and v3 trained, then pushed to dev's artifact bucket: one line."""
        self.train()
        self.push()
        return (f"v1 {self.shas['v1'][:8]}, v2 {self.shas['v2'][:8]}, v3 {self.shas['v3'][:8]}"
                f" (--fault error-rate=0.5) -> s3://…/models/<sha256>/ (content-addressed)")

    def push(self) -> Excerpt:
        for name in MODELS:
            self.uris[name] = self.mlops("artifact", "push", str(self.tmp / "models" / name),
                                         "--env", ENV).stdout.strip()
        bucket = self.uris["v1"].split("/models/")[0]
        return f"{bucket}/models/<sha256>/model.tar.gz, x3 (content-addressed, immutable)"

    def deploy_v1(self) -> Excerpt:
        from mlops import context
        from mlops.commands.plan import init_env

        outputs = init_env(context.load(self.env), ENV).output_values()
        image = f"{outputs['model_image_repository_url']}:0.1.0"
        pr = self.release("v1", "--image", image)
        self.apply()
        return f"`mlops release` opened PR {pr}; merged, applied: v1 serves"

    def canary_v2(self) -> Excerpt:
        pr = self.release("v2")
        self.apply()
        with self.traffic("v2") as report:
            promoted = self.mlops("canary", "promote", "--env", ENV, "--steps", "10,50,100",
                                  "--bake", "10")
        follow_up = self.merge(promoted.stdout)
        return [f"release PR {pr}: v2 at 10% beside v1; promoted 10% -> 50% -> 100% (bakes of "
                "10 s, alarms OK)",
                f"{self.served(report())}; PR {follow_up} makes v2 the stable"]

    def canary_v3(self) -> Excerpt:
        pr = self.release("v3")
        self.apply()
        with self.traffic("v3") as report:
            stopped = self.mlops("canary", "promote", "--env", ENV, "--bake", "30", ok=(10,))
        texts = [e["text"] for e in self._record().get("events", [])]
        fired = next((t for t in texts if t.startswith("ROLL BACK")), "")
        restored = next((t for t in texts if t.startswith("100% on stable again")), "")
        alarm = re.search(r"alarm (\S+) is in ALARM: Threshold Crossed: .*?\[([\d.]+)", fired)
        canary = report().get("variants", {}).get("canary", {})
        return [f"release PR {pr}: v3 at 10%; {alarm.group(1) if alarm else 'its 5xx alarm'} "
                f"in ALARM at step 1 ({float(alarm.group(2)) if alarm else 0:.0f}% 5xx, "
                f"threshold 5%): exit {stopped.code}",
                f"{restored or '100% on stable again'}; canary {canary.get('requests', 0)} "
                f"requests, {canary.get('success_rate', 0):.0%} ok; PR "
                f"{self.pr_of(stopped.stdout)}: Git back to v2"]

    def rollback(self) -> Excerpt:
        from mlops import context
        from mlops.commands.endpoint import find_target

        before = self.describe()["EndpointConfigName"]
        ran = self.mlops("endpoint", "rollback", "--env", ENV)
        target = find_target(context.load(self.env), ENV)
        after = self.describe()["EndpointConfigName"]
        return (f"UpdateEndpoint: release {target.release_of(before)} -> "
                f"{target.release_of(after)} (retained config, invocations checked); in Git: "
                f"PR {self.pr_of(ran.stdout)}")

    @staticmethod
    def pr_of(stdout: str) -> str:
        match = PR_NUMBER.search(stdout.strip())
        return f"#{match.group(1)}" if match else stdout.strip() or "(none)"

    def describe(self) -> dict[str, Any]:
        from mlops.adapters import aws

        found: dict[str, Any] = aws.client(self.env, "sagemaker").describe_endpoint(
            EndpointName=self.endpoint())
        return found

    def _record(self) -> dict[str, Any]:
        from mlops import context
        from mlops.adapters import aws
        from mlops.core import canary

        ctx = context.load(self.env)
        body = aws.client(ctx.env, "s3").get_object(
            Bucket=ctx.state_bucket(ENV), Key=canary.record_key(ENV))["Body"].read()
        found: dict[str, Any] = json.loads(body)
        return found
