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
prove zero drift), apply a second reviewed change, refuse one changed behind the
reviewers' back, roll back to the previous deployment. Serve the trained model locally and
get a prediction on the SageMaker and the OIP v2 routes (`mlops serve`), check every
Kubernetes overlay (`mlops k8s check`), destroy dev the guarded way and bootstrap/, and
stop the cloud. Whatever fails, the cloud is stopped, so nothing is left behind: the
embedded AWS keeps its state in memory only.

To add a step (later issues: canary, ...): a function of the Demo returning its excerpt,
and a Step in `Demo.steps`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops import context
from mlops.commands.bootstrap import apply_bootstrap
from mlops.commands.comment import build_body
from mlops.commands.demo_apply import ApplyStory
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
        "demo", help="bootstrap, plan, guarded apply, refused change, rollback, serving and "
                     "guarded destroy on the embedded AWS and GitHub")
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
            Step("apply on merge, guarded", lambda: self.story.guarded_apply()),
            Step("a second reviewed change, applied", lambda: self.story.second_deploy()),
            Step("an unreviewed change is refused", lambda: self.story.refused_apply()),
            Step("rollback to the previous deployment", lambda: self.story.rollback()),
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
        return f"{info.endpoint} (state in memory: gone when it stops)"

    def bootstrap(self) -> Excerpt:
        self.bootstrap_outputs = apply_bootstrap(self.context)
        return f"state bucket {self.bootstrap_outputs.get('state_bucket', '?')}"

    def plan_env(self) -> Excerpt:
        out = default_out(self.context, DEMO_ENV)
        self.plan = plan_env(self.context, DEMO_ENV, out)
        print((out / "plan.txt").read_text())
        summary = _summary(out)
        return [comment.counts_text(summary), f"plan directory: {shown(out)}"]

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
        return [*head, f"(the whole comment: {shown(path)})"]

    def serve(self) -> Excerpt:
        return demo_serve(self.settings, self.env)

    def k8s_check(self) -> Excerpt:
        return demo_check(self.settings, self.env)

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
    runner.console.write(f"mlops demo: plan, review, apply on merge, roll back and destroy "
                         f"{DEMO_ENV} on a private embedded AWS (full logs: "
                         f"{shown(log_dir)}/)\n")
    results = runner.run(demo.steps())
    runner.summary(results)
    if args.keep and demo.info is not None:
        runner.console.write(
            f"kept: {DEMO_ENV} applied on the demo's embedded AWS at {demo.info.endpoint} "
            f"(pid {demo.info.pid}); use it with `export "
            f"AWS_ENDPOINT_URL={demo.info.endpoint} AWS_ACCESS_KEY_ID=test "
            f"AWS_SECRET_ACCESS_KEY=test`, stop it with `kill {demo.info.pid}`\n")
    return 1 if any(r.outcome == "failed" for r in results) else 0
