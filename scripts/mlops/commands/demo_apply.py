"""The demo's apply-on-merge story (issue 8), as steps that each return a short excerpt.

On the embedded AWS (bootstrapped) and an embedded GitHub seeded from a scratch git copy
of the project (the checkout is never committed to):

  oidc            `mlops oidc assume` against the embedded token endpoint: a push to main
                  assumes dev's apply role; a pull request's token is refused by it
  guarded_apply   PR #1 planned and commented; merged; `mlops apply` applies it because
                  the fingerprint matches what was reviewed (and a deployment record)
  second_deploy   PR #2 (a budget change), reviewed, merged, applied
  refused_apply   PR #3 reviewed at one budget, merged with another behind the reviewers'
                  back: `mlops apply` refuses (exit 3), says what changed, notes it on the PR
  rollback        `mlops rollback --env dev`: back to the deployment before, revert PR opened
  destroy         `mlops destroy` refused without --confirm and for prod; then destroyed

Each step runs the real CLI in-process and returns the few lines that tell the story (the
demo shows them under the step); everything the CLI printed, Terraform's output included,
goes on to the step's log.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops import cli
from mlops.context import load_config
from mlops.errors import MlopsError
from mlops.localcloud.github import FakeGitHub
from mlops.settings import Settings

ENV = "dev"
TFVARS = f"envs/{ENV}/terraform.tfvars"
BUDGET = re.compile(r"monthly_limit_usd\s*=\s*\d+")


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


@dataclass
class ApplyStory:
    """State shared by the steps: the embedded GitHub, the scratch repository, the env."""

    base_env: Mapping[str, str]
    bootstrap: Mapping[str, Any]
    hub: FakeGitHub = field(init=False)
    repo: str = field(init=False)
    root: Path = field(init=False)
    env: dict[str, str] = field(init=False)
    _tmp: Path = field(init=False)
    _next_pr: int = 1

    # ------------------------------------------------------------------ plumbing

    def _git(self, *args: str) -> str:
        out = subprocess.run(["git", "-C", str(self.root), "-c", "user.name=mlops demo", "-c",
                              "user.email=demo@example.com", *args], capture_output=True,
                             text=True, check=False)
        if out.returncode != 0:
            raise MlopsError(f"git {' '.join(args[:2])} failed in the demo's scratch repository",
                             out.stderr.strip(), "check that git is installed")
        return out.stdout.strip()

    def _commit(self, message: str, budget: int | None = None) -> str:
        if budget is not None:
            path = self.root / TFVARS
            path.write_text(BUDGET.sub(f"monthly_limit_usd = {budget}", path.read_text()))
        self._git("add", "-A")
        self._git("commit", "-q", "--allow-empty", "-m", message)
        return self._git("rev-parse", "HEAD")

    def mlops(self, *argv: str, env: Mapping[str, str] | None = None) -> Ran:
        """The real CLI, in-process: what it printed, which then goes on to the step's log
        (the streams in place: the demo's step runner sends them to the log)."""
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = cli.main(list(argv), dict(env or self.env))
        print(f"$ mlops {' '.join(argv)}  (exit {code})", file=sys.stderr)
        sys.stderr.write(err.getvalue())
        sys.stdout.write(out.getvalue())
        return Ran(code, out.getvalue(), err.getvalue())

    @staticmethod
    def _lines(ran: Ran, *patterns: str, limit: int = 8) -> str:
        text = ran.stderr + "\n" + ran.stdout
        picked = [line.rstrip() if len(line.rstrip()) <= 150 else line[:149].rstrip() + "…"
                  for line in text.splitlines() if any(re.search(p, line) for p in patterns)]
        return "\n".join(picked[:limit])

    @staticmethod
    def _check(ran: Ran, expected: int, what: str) -> None:
        if ran.code != expected:
            raise MlopsError(f"demo: {what} exited {ran.code}, expected {expected}",
                             (ran.stderr or ran.stdout)[-3000:], "see the output above")

    @contextmanager
    def opened(self) -> Iterator[ApplyStory]:
        """Start the embedded GitHub and the scratch repository; stop and remove them."""
        self._tmp = Path(tempfile.mkdtemp(prefix="mlops-demo-apply-"))
        settings = Settings.from_env(self.base_env)
        self.root = self._tmp / "repo"
        ignore = shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan")
        for name in ("envs", "modules", "policies"):
            if (settings.root / name).is_dir():
                shutil.copytree(settings.root / name, self.root / name, ignore=ignore)
        shutil.copy(settings.root / "mlops.yaml", self.root / "mlops.yaml")
        self._git("init", "-q", "-b", "main")
        self._commit("the project, before dev is deployed")
        self.repo = load_config(Settings.from_env({**self.base_env,
                                                   "MLOPS_ROOT": str(self.root)})).github_repo
        self.hub = FakeGitHub(repos={self.repo}, pulls=set()).start()
        self.hub.oidc.repository = self.repo
        self.hub.seed(self.repo, self.root)
        self.env = {**self.base_env, **self.hub.actions_env(self.repo),
                    "MLOPS_ROOT": str(self.root),
                    "MLOPS_STATE_DIR": str(settings.state_dir),
                    "GITHUB_STEP_SUMMARY": str(self._tmp / "step-summary.md")}
        try:
            yield self
        finally:
            self.hub.stop()
            shutil.rmtree(self._tmp, ignore_errors=True)

    def _review_and_merge(self, title: str, budget: int | None,
                          merged_budget: int | None = None) -> tuple[int, str]:
        """A pull request: a branch commit, its plan and sticky comment; then the merge
        (whose content is `merged_budget` when given: a change behind the reviewers' back)."""
        number = self._next_pr
        self._next_pr += 1
        self._git("switch", "-q", "-c", f"pr-{number}")
        head = self._commit(title, budget)
        self.hub.add_pull(self.repo, head_ref=f"pr-{number}", head_sha=head, number=number,
                          title=title)
        plan_dir = self._tmp / f"pr-{number}" / ENV
        self._check(self.mlops("plan", "--env", ENV, "--out", str(plan_dir), "--commit", head),
                    0, f"the plan of PR #{number}")
        self._check(self.mlops("comment", "post", "--repo", self.repo, "--pr", str(number),
                               "--no-labels", str(plan_dir)), 0, "mlops comment post")
        self._git("switch", "-q", "main")
        self._git("merge", "-q", "--no-ff", "-m", f"Merge pull request #{number}", f"pr-{number}")
        if merged_budget is not None:
            path = self.root / TFVARS
            path.write_text(BUDGET.sub(f"monthly_limit_usd = {merged_budget}", path.read_text()))
            self._git("commit", "-q", "-a", "--amend", "--no-edit")
        merge = self._git("rev-parse", "HEAD")
        self.hub.merge_pull(self.repo, number, merge)
        return number, merge

    # ------------------------------------------------------------------ the steps

    def oidc(self) -> str:
        """A push to main assumes dev's apply role; a pull request's token cannot."""
        role = str(self.bootstrap["apply_role_arns"][ENV])
        github_env = self._tmp / "github_env"
        self.hub.oidc.event_name, self.hub.oidc.ref = "push", "refs/heads/main"
        ok = self.mlops("oidc", "assume", "--role-arn", role,
                        env={**self.env, "GITHUB_ENV": str(github_env)})
        self._check(ok, 0, "mlops oidc assume")
        masks = sum(line.startswith("::add-mask::") for line in ok.stdout.splitlines())
        self.hub.oidc.event_name, self.hub.oidc.ref = "pull_request", "refs/pull/9/merge"
        denied = self.mlops("oidc", "assume", "--role-arn", role,
                            env={**self.env, "GITHUB_ENV": str(self._tmp / "denied_env")})
        self._check(denied, 2, "mlops oidc assume from a pull request")
        exported = [line.split("=", 1)[0] for line in github_env.read_text().splitlines()]
        assumed = self._lines(ok, r"^assumed ", limit=1).split("assumed-role/")[-1]
        refused = "AccessDenied" in denied.stderr and "sub: " in denied.stderr
        return (f"assumed {assumed}: {masks} masks, {len(exported)} variables exported; "
                f"from a pull request: "
                + ("AccessDenied" if refused else "not refused?"))

    def guarded_apply(self) -> str:
        """PR #1 brings dev up; applied on merge because its fingerprint matches."""
        _, merge = self._review_and_merge("Deploy dev", None)
        ran = self.mlops("apply", "--env", ENV, "--commit", merge)
        self._check(ran, 0, "the guarded apply")
        replan = self.mlops("plan", "--env", ENV, "--out", str(self._tmp / "replan"))
        self._check(replan, 0, "the re-plan after apply")
        if "No changes." not in replan.stdout:
            raise MlopsError(f"{ENV} drifted right after apply",
                             "a second plan should show no changes (zero drift)",
                             replan.stdout[-3000:])
        verdict = self._lines(ran, r"is the plan reviewed on PR", limit=1)
        applied = re.search(r"Apply complete! Resources: [^.]*", ran.stdout + ran.stderr)
        return "\n".join([verdict.removeprefix("==> "),
                          f"{applied.group(0) if applied else 'applied'}; re-plan: no changes "
                          "(zero drift)"])

    def second_deploy(self) -> str:
        """PR #2 raises dev's budget: reviewed, merged, applied."""
        number, merge = self._review_and_merge("Raise dev's budget to 250", 250)
        ran = self.mlops("apply", "--env", ENV, "--commit", merge)
        self._check(ran, 0, f"the apply of PR #{number}")
        return f"{self._lines(ran, r': applied ', limit=1).removeprefix('==> ')} (PR #{number})"

    def refused_apply(self) -> str:
        """PR #3 is reviewed at 300, but 999 is what got merged: never applied silently."""
        number, merge = self._review_and_merge("Raise dev's budget to 300", 300, 999)
        ran = self.mlops("apply", "--env", ENV, "--commit", merge)
        self._check(ran, 3, "the apply of a plan changed behind the reviewers' back")
        body = self.hub.comments_on(self.repo, number)[0].body
        noted = "Not applied at merge" in body
        # main goes back to the applied budget, so later steps start from what was applied
        self.hub.set_branch(self.repo, "main", self._commit("Revert the unreviewed budget", 250))
        if not noted:
            raise MlopsError(f"PR #{number}'s comment lacks the 'Not applied at merge' notice",
                             body[-2000:], "see this step's log")
        return (f"exit {ran.code}: the plan changed since its review on PR #{number}; "
                "a 'Not applied at merge' notice on its comment")

    def rollback(self) -> str:
        """Back to the deployment before the latest (PR #1's), and a revert PR."""
        ran = self.mlops("rollback", "--env", ENV)
        self._check(ran, 0, "mlops rollback")
        back = re.search(r"rolling back to (\S+) \(deployed now: (\S+)\)", ran.stdout + ran.stderr)
        revert = re.search(r"revert pull request: \S+/pull/(\d+)", ran.stdout + ran.stderr)
        if back is None or revert is None:
            raise MlopsError("mlops rollback did not say what it rolled back to",
                             (ran.stdout + ran.stderr)[-2000:], "see this step's log")
        return (f"rolling back to {back.group(1)} (deployed now: {back.group(2)}); "
                f"revert pull request: #{revert.group(1)}")

    def destroy(self) -> str:
        """Refused without --confirm and for prod; then dev destroyed, with a record."""
        no_confirm = self.mlops("destroy", "--env", ENV)
        self._check(no_confirm, 2, "mlops destroy without --confirm")
        prod = self.mlops("destroy", "--env", "prod", "--confirm", "prod")
        self._check(prod, 2, "mlops destroy of prod without --allow-protected")
        for refused, why in ((no_confirm, "--confirm must repeat the env name"),
                             (prod, "it is a protected env")):
            if why not in refused.stderr:
                raise MlopsError(f"demo: mlops destroy was refused for another reason than "
                                 f"{why!r}", refused.stderr[-2000:], "see the output above")
        ran = self.mlops("destroy", "--env", ENV, "--confirm", ENV)
        self._check(ran, 0, "mlops destroy")
        destroyed = [line for line in ran.stdout.splitlines() if line.startswith("destroyed ")]
        return (f"refused without --confirm ENV, and for prod (protected); destroyed "
                f"{len(destroyed)} resources, recorded as a deployment")
