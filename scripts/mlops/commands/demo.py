"""`mlops demo`: the main job, end to end, on a private embedded cloud.

Starts its own embedded AWS on a free port (leaving any `mlops cloud up` server alone),
applies bootstrap/, plans envs/dev, runs the policy gate and renders the PR comment for
that real plan; then, with an embedded GitHub (commands/demo_apply.py): assumes dev's apply
role through OIDC, applies a merged PR guarded by its reviewed fingerprint (and re-plans
to prove zero drift), applies a second change, refuses one changed behind the reviewers'
back, rolls back to the previous deployment, destroys dev the guarded way, and stops the
cloud. Whatever fails, the cloud is stopped, so nothing is left
behind: the embedded AWS keeps its state in memory only.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from mlops import cli, context, ui
from mlops.commands.bootstrap import apply_bootstrap
from mlops.commands.demo_apply import ApplyStory
from mlops.commands.plan import default_out, plan_env
from mlops.errors import MlopsError
from mlops.localcloud import control
from mlops.settings import Settings

DEMO_ENV = "dev"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo", help="bootstrap, plan, guarded apply, refused change, rollback and guarded "
                     "destroy on the embedded AWS and GitHub")
    parser.add_argument("--keep", action="store_true",
                        help="leave the env applied and the cloud running at the end")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = Settings.from_env(env)
    paths = control.CloudPaths(settings.state_dir / "demo-cloud")
    ui.step("demo: starting a private embedded AWS")
    info = control.start(paths, control.free_port(), env, notify=ui.info)
    ui.info(f"embedded AWS at {info.endpoint} (state in memory; gone when stopped)")
    try:
        story(context.load({**env, **control.client_env(info)}), keep=args.keep)
    finally:
        if not args.keep:
            ui.step("demo: stopping the embedded AWS")
            control.stop(paths, notify=ui.info)
    ui.step("demo: finished")
    return 0


def story(ctx: context.Context, *, keep: bool) -> None:
    outputs = apply_bootstrap(ctx)
    ui.info(f"state bucket: {outputs['state_bucket']}")

    first = plan_env(ctx, DEMO_ENV, default_out(ctx, DEMO_ENV))
    ui.step(f"demo: plan of {DEMO_ENV} ({first.directory})")
    print((first.directory / "plan.txt").read_text())

    # What a pull request gets: the policy gate, then the one sticky comment.
    ui.step(f"demo: policy gate on the {DEMO_ENV} plan")
    if cli.main(["policy", "check", "--env", DEMO_ENV, str(first.directory)], ctx.env) != 0:
        raise MlopsError(f"the {DEMO_ENV} plan violates policy", "see the violations above",
                         "fix the module or the tfvars; policies are in policies/")
    ui.step("demo: the PR comment for this plan (`mlops comment render`)")
    cli.main(["comment", "render", str(first.directory)], ctx.env)
    print()

    # Apply on merge, guarded; a refused change; rollback; guarded destroy (issue 8):
    # on a scratch git copy of the project and an embedded GitHub.
    story_steps = ApplyStory(ctx.env, outputs)
    with story_steps.opened():
        for title, step in story_steps.steps():
            if keep and step == story_steps.destroy:
                break
            ui.step(f"demo: {title}")
            print(step())
            print()
    if keep:
        return
    apply_bootstrap(ctx, destroy=True)
