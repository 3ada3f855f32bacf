"""`mlops demo`: the main job, end to end, on a private embedded cloud.

Starts its own embedded AWS on a free port (leaving any `mlops cloud up` server alone),
applies bootstrap/, plans envs/dev, runs the policy gate and renders the PR comment for
that real plan, applies it, shows the outputs, re-plans to prove zero drift, then releases
models through Git (commands/demo_release.py: train v1, v2 and a faulty v3, push them,
deploy v1, canary v2 to 100 % under traffic, canary v3 rolled back by its alarm, endpoint
rollback by config swap), destroys everything and stops the cloud. Whatever fails, the
cloud is stopped, so nothing is left behind: the embedded AWS keeps its state in memory
only.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from mlops import cli, context, ui
from mlops.commands.bootstrap import apply_bootstrap
from mlops.commands.plan import default_out, init_env, plan_env
from mlops.errors import MlopsError
from mlops.localcloud import control
from mlops.settings import Settings

DEMO_ENV = "dev"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo", help="bootstrap, plan, apply, zero-drift check and destroy on the embedded AWS")
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

    tf = init_env(ctx, DEMO_ENV)
    with ui.stage(f"demo: applying {DEMO_ENV}"):
        tf.apply(first.directory / "plan.tfplan")
    ui.step(f"demo: outputs of {DEMO_ENV}")
    print(json.dumps(tf.output_values(), indent=2))

    second = plan_env(ctx, DEMO_ENV, default_out(ctx, DEMO_ENV) / "replan")
    if second.changes:
        print((second.directory / "plan.txt").read_text())
        raise MlopsError(f"{DEMO_ENV} drifted right after apply",
                         "a second plan should show no changes (zero drift)",
                         "the plan above shows what differs; fix the module or the cloud")
    ui.step(f"demo: re-plan of {DEMO_ENV} shows no changes (zero drift)")
    release_story(ctx)
    if keep:
        return
    with ui.stage(f"demo: destroying {DEMO_ENV}"):
        tf.destroy()
    apply_bootstrap(ctx, destroy=True)


def release_story(ctx: context.Context) -> None:
    """Issue 9: train, push, release v1, canary v2 to 100 %, canary v3 rolled back by its
    alarm, endpoint rollback (commands/demo_release.py), one short block per step."""
    from mlops.commands.demo_release import ReleaseStory

    story = ReleaseStory(ctx.env, ctx.settings)
    with story.opened():
        for title, step in story.steps():
            with ui.stage(f"demo: {title}"):
                excerpt = step()
            for line in [excerpt] if isinstance(excerpt, str) else excerpt:
                ui.info(line)
