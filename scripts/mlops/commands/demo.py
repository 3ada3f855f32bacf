"""`mlops demo [--verbose] [--keep]`: the main job, end to end, on a private embedded cloud.

It reads as a story: one line per step with its outcome and duration, and for the key
results a short excerpt (plan counts, the policy verdict, the head of the PR comment, the
guarded apply, zero drift, the refusal, the rollback, what was destroyed), then a summary
table. Each step's full output (Terraform's included) is in `.mlops/demo/<nn>-<step>.log`;
a step that fails shows the last lines of its log and the log's path. `--verbose` also
shows everything as it runs.

The steps: start a private embedded AWS on a free port (leaving any `mlops cloud up`
server alone), apply bootstrap/, plan envs/dev, run the policy gate and render the PR
comment for that real plan. Then apply on merge (issue 8, commands/demo_apply.py), with an
embedded GitHub and a scratch git copy of the project: assume dev's apply role through
OIDC, apply a merged pull request guarded by its reviewed fingerprint (and re-plan to
prove zero drift), refuse a change made behind the reviewers' back, roll back to the
previous deployment, and detect a change made with boto3 behind Terraform's back (`mlops
drift`). Then release models through Git (issue 9, commands/demo_release.py): train v1,
v2 and a faulty v3 and push them, release v1, canary v2 to 100 % under traffic, canary v3
rolled back by its 5xx alarm, endpoint rollback by config swap; the cost reaper deletes
the dev endpoint (`mlops reap`, its age limit shortened to stand for a night). Serve the
trained model locally on the SageMaker and OIP v2 routes (`mlops serve`), check every
Kubernetes overlay (`mlops k8s check`), destroy dev the guarded way and bootstrap/, and
stop the cloud. Whatever fails, the cloud is stopped, so nothing is left behind: the
embedded AWS keeps its state in memory only.

To add a step: a function returning its excerpt, and a Step in `Demo.steps`.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops import context
from mlops.adapters import aws
from mlops.commands.bootstrap import apply_bootstrap
from mlops.commands.comment import build_body
from mlops.commands.demo_apply import ApplyStory
from mlops.commands.demo_release import ReleaseStory
from mlops.commands.k8s import demo_check
from mlops.commands.plan import PlanOutput, default_out, plan_env
from mlops.commands.serve import demo_serve
from mlops.core import comment, plansummary
from mlops.errors import MlopsError
from mlops.localcloud import control
from mlops.runner import Excerpt, Step, StepRunner
from mlops.settings import Settings

DEMO_ENV = "dev"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo", help="plan, guarded apply, rollback, drift, model release with canaries, "
                     "reaping, serving and guarded destroy on the embedded AWS and GitHub")
    parser.add_argument("--keep", action="store_true",
                        help="leave the env applied and the cloud running at the end")
    parser.add_argument("--verbose", action="store_true",
                        help="also show every step's full output (Terraform's too) as it runs")
    parser.set_defaults(func=run)


def shown(path: Path) -> str:
    """`path` as the user sees it: relative to the current directory when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _summary(directory: Path) -> plansummary.PlanSummary:
    return plansummary.PlanSummary.from_dict(
        json.loads((directory / "summary.json").read_text()))


@dataclass
class Demo:
    """The story's state, filled in as the steps run."""

    env: Mapping[str, str]
    settings: Settings
    keep: bool = False
    cloud: control.CloudPaths = field(init=False)
    ctx: context.Context | None = None
    info: control.CloudInfo | None = None
    plan: PlanOutput | None = None
    bootstrap_outputs: dict[str, Any] = field(default_factory=dict)
    _story: ApplyStory | None = None
    _release: ReleaseStory | None = None
    _opened: ExitStack = field(default_factory=ExitStack)

    def __post_init__(self) -> None:
        self.cloud = control.CloudPaths(self.settings.state_dir / "demo-cloud")

    @property
    def context(self) -> context.Context:
        if self.ctx is None:
            raise MlopsError("the embedded AWS did not start", "see the first step's log",
                             "fix what it says, then run `mlops demo` again")
        return self.ctx

    @property
    def story(self) -> ApplyStory:
        """The apply-on-merge story: an embedded GitHub and a scratch git copy of the
        project, opened on first use and closed by the last step."""
        if self._story is None:
            story = ApplyStory(self.context.env, self.bootstrap_outputs)
            self._story = self._opened.enter_context(story.opened())
        return self._story

    def steps(self) -> list[Step]:
        story = [
            Step("start a private embedded AWS", self.start_cloud),
            Step("bootstrap/ (state bucket, OIDC, roles)", self.bootstrap),
            Step(f"plan {DEMO_ENV}, as for a pull request", self.plan_env),
            Step("policy gate", self.policy),
            Step("PR comment", self.comment),
            Step(f"OIDC: {DEMO_ENV}'s apply role, push to main", lambda: self.story.oidc()),
            Step("apply on merge, guarded: PRs #1 and #2", self.apply_on_merge),
            Step("an unreviewed change is refused", lambda: self.story.refused_apply()),
            Step("rollback to the previous deployment", lambda: self.story.rollback()),
            Step("drift: a change behind Terraform's back", self.drift),
            *(Step(title, self._release_step(name)) for title, name in ReleaseStory.STEPS),
            Step("the reaper: a dev endpoint past its age", self.reap),
            Step("serve the model locally", self.serve),
            Step("k8s check: every overlay", self.k8s_check),
        ]
        if not self.keep:
            story += [Step(f"guarded destroy of {DEMO_ENV}", lambda: self.story.destroy()),
                      Step("destroy bootstrap/", self.destroy_bootstrap)]
        story.append(Step("stop the embedded GitHub and AWS", self.stop, always=True))
        return story

    # ------------------------------------------------------------------ the steps

    def start_cloud(self) -> Excerpt:
        info = control.start(self.cloud, control.free_port(), self.env, notify=print)
        self.info = info
        self.ctx = context.load({**self.env, **control.client_env(info)})
        return f"{info.endpoint} (in memory)"

    def bootstrap(self) -> Excerpt:
        self.bootstrap_outputs = apply_bootstrap(self.context)
        return f"state bucket {self.bootstrap_outputs.get('state_bucket', '?')}"

    def plan_env(self) -> Excerpt:
        out = default_out(self.context, DEMO_ENV)
        self.plan = plan_env(self.context, DEMO_ENV, out)
        print((out / "plan.txt").read_text())
        summary = _summary(out)
        return comment.counts_text(summary)

    def policy(self) -> Excerpt:
        from mlops.cli import main  # the real command, in-process: its output is logged

        directory = self._plan_dir()
        code = main(["policy", "check", "--env", DEMO_ENV, str(directory)], self.context.env)
        result = json.loads((directory / "policy.json").read_text()) \
            if (directory / "policy.json").is_file() else {}
        violations = result.get("violations") or []
        if code != 0:
            raise MlopsError(f"the {DEMO_ENV} plan violates {len(violations)} policies",
                             "see the violations in this step's log",
                             "fix the module or the tfvars; policies are in policies/")
        return "passed: no violations"

    def comment(self) -> Excerpt:
        body, _ = build_body([self._plan_dir()], self.context.env)
        path = self.context.settings.state_dir / "demo" / "comment.md"
        path.write_text(body)
        print(body)
        head = [line for line in body.splitlines()
                if line.strip() and not line.startswith("<!--")][:2]
        return head

    def serve(self) -> Excerpt:
        return demo_serve(self.settings, self.env)

    def k8s_check(self) -> Excerpt:
        return demo_check(self.settings, self.env)

    def apply_on_merge(self) -> Excerpt:
        """PR #1 brings dev up, PR #2 raises its budget: each applied on merge because its
        plan's fingerprint is the one reviewed (zero drift after the first)."""
        first = self.story.guarded_apply().splitlines()
        return [*first, self.story.second_deploy()]

    def drift(self) -> Excerpt:
        """A tag put on dev's artifact bucket with boto3: `mlops drift` sees it."""
        from mlops.commands.drift import demo_excerpt

        env = self.story.env
        bucket = aws.client(self.context.env, "s3").list_buckets()["Buckets"]
        [name] = [b["Name"] for b in bucket if b["Name"].endswith(f"-{DEMO_ENV}-artifacts")]
        aws.client(self.context.env, "s3").put_bucket_tagging(Bucket=name, Tagging={"TagSet": [
            {"Key": "owner", "Value": "someone-in-the-console"}]})
        report = demo_excerpt(env, DEMO_ENV)
        print(report)
        changes = re.search(r"(\d+) change\(s\) a re-apply of main would make", report)
        if changes is None or "module.artifacts.aws_s3_bucket.this`" not in report:
            raise MlopsError("mlops drift did not see a tag added behind Terraform's back",
                             report[-2000:], "see the drift plan in this step's log")
        return (f"{name} tagged with boto3: mlops drift exits 2 ({changes.group(1)} changes a "
                "re-apply of main would make)")

    def reap(self) -> Excerpt:
        """`mlops reap` with a one-second age limit, standing for a night: the dev endpoint
        the releases made is deleted; its models and configs stay (redeploy: one apply)."""
        from mlops.cli import main

        ran = main(["reap", "--envs", DEMO_ENV, "--max-age", "1s", "--grace", "0"],
                   self.release_story.env)
        sagemaker = aws.client(self.context.env, "sagemaker")
        endpoints = sagemaker.list_endpoints()["Endpoints"]
        if ran != 0 or endpoints:
            raise MlopsError("the reaper left dev's endpoint up",
                             f"exit {ran}; endpoints: {[e['EndpointName'] for e in endpoints]}",
                             "see this step's log")
        configs = sagemaker.list_endpoint_configs()["EndpointConfigs"]
        return (f"dev's endpoint deleted (--max-age 1s stands for a night); its "
                f"{len(configs)} endpoint configs kept: redeploying is one apply")

    def _release_step(self, name: str) -> Callable[[], Excerpt]:
        """A step of the release story (commands/demo_release.py)."""
        def step() -> Excerpt:
            result: Excerpt = getattr(self.release_story, name)()
            return result
        return step

    @property
    def release_story(self) -> ReleaseStory:
        """The model-release story, opened on first use (it needs the running cloud)."""
        if self._release is None:
            story = self.story
            release = ReleaseStory(self.context.env, self.settings).open_on(
                story.root, story.hub, story.env)
            self._opened.callback(release.close)
            self._release = release
        return self._release

    def destroy_bootstrap(self) -> Excerpt:
        apply_bootstrap(self.context, destroy=True)
        return "state bucket, OIDC provider and roles destroyed"

    def stop(self) -> Excerpt:
        self._opened.close()  # the embedded GitHub and the scratch repository
        if self.keep:
            return "kept running (--keep)"
        stopped = control.stop(self.cloud, notify=print)
        return f"stopped (pid {stopped.pid})" if stopped else "was not running"

    def _plan_dir(self) -> Path:
        if self.plan is None:
            raise MlopsError("there is no plan", "the plan step did not run",
                             "run `mlops demo` again")
        return self.plan.directory


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = Settings.from_env(env)
    demo = Demo(env, settings, keep=args.keep)
    log_dir = settings.state_dir / "demo"
    runner = StepRunner(log_dir, verbose=args.verbose, shown_dir=shown(log_dir))
    runner.console.write(f"mlops demo: {DEMO_ENV} from a reviewed plan to model canaries and "
                         f"back, on an embedded AWS and GitHub (logs: {shown(log_dir)}/)\n")
    results = runner.run(demo.steps())
    runner.summary(results)
    if args.keep and demo.info is not None:
        runner.console.write(
            f"kept: {DEMO_ENV} applied on the demo's embedded AWS at {demo.info.endpoint} "
            f"(pid {demo.info.pid}); use it with `export "
            f"AWS_ENDPOINT_URL={demo.info.endpoint} AWS_ACCESS_KEY_ID=test "
            f"AWS_SECRET_ACCESS_KEY=test`, stop it with `kill {demo.info.pid}`\n")
    return 1 if any(r.outcome == "failed" for r in results) else 0
