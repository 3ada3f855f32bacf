"""`mlops endpoint rollback --env ENV [--to RELEASE]`: roll the endpoint back without
retraining and without Terraform.

Swaps the endpoint to a retained release's EndpointConfig (the module keeps every release
in `serving.releases`: `endpoint_config_names` in the env root's outputs) with
UpdateEndpoint, waits for InService, and checks that the old model answers: a real
InvokeEndpoint on each of its variants (held-out rows of --data, or --payload). Then it
opens, or prints, the Git change that records the swap (`active_release`), so the next
apply keeps it instead of undoing it. Without --to: the one other retained release.

It holds the env's state lock while it works (a concurrent apply or canary promotion is
refused, and it is refused while they run) and refuses an unknown endpoint or release, a
config that no longer exists, and an endpoint that is being updated.

This module also finds an env's endpoint for `mlops canary` (`find_target`).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops import argtypes, context, ui
from mlops.adapters.sagemaker import EndpointBusy, Endpoints, EndpointView
from mlops.core import model as model_spec
from mlops.core import release
from mlops.errors import MlopsError

DEFAULT_UPDATE_TIMEOUT = 1200.0  # a real UpdateEndpoint takes minutes; Terraform waits 60
VERIFY_ROWS = 5


def register(sub: Any) -> None:
    parser = sub.add_parser("endpoint", help="operate an env's SageMaker endpoint")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    rollback = verbs.add_parser(
        "rollback", help="swap the endpoint back to a retained release's config (no retraining)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    rollback.add_argument("--env", required=True, type=argtypes.env_name,
                          help="the env whose endpoint rolls back")
    rollback.add_argument("--to", metavar="RELEASE",
                          help="the release to serve (default: the one other retained release)")
    rollback.add_argument("--data", default=model_spec.DEFAULT_DATASET,
                          choices=model_spec.DATASETS,
                          help="data set whose held-out rows check the old model answers")
    rollback.add_argument("--payload", type=Path,
                          help="a JSON request body to check with instead of held-out rows")
    rollback.add_argument("--reason", default="", type=argtypes.reason,
                          help="why (one line): in the pull request that records the swap "
                          "(rollback.yml passes its reason input)")
    rollback.add_argument("--update-timeout", type=float, default=DEFAULT_UPDATE_TIMEOUT,
                          metavar="S", help="longest wait for InService (default "
                                            f"{DEFAULT_UPDATE_TIMEOUT:g})")
    rollback.add_argument("--repo", help="OWNER/NAME for the pull request (default: "
                                         "GITHUB_REPOSITORY, else github_repo in mlops.yaml)")
    rollback.add_argument("--base", help="branch the pull request targets (default: the "
                                         "repository's default branch)")
    rollback.set_defaults(func=run_rollback)


# ---------------------------------------------------------------------------------------
# The env's endpoint, as Terraform created it
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    env: str
    endpoint: str
    config: str  # the active release's EndpointConfig, as Terraform's state says
    configs: dict[str, str]  # release -> EndpointConfig name (every retained release)
    alarms: dict[str, dict[str, str]]  # variant -> {errors_5xx, latency} -> alarm name

    def release_of(self, config: str) -> str | None:
        return next((r for r, c in self.configs.items() if c == config), None)

    def alarm_names(self) -> dict[str, tuple[str, str]]:
        """{alarm name: (variant, kind)}, canary first."""
        order = sorted(self.alarms, key=lambda v: (v != "canary", v))
        return {name: (variant, kind) for variant in order
                for kind, name in sorted(self.alarms[variant].items())}


def find_target(ctx: context.Context, env_name: str) -> Target:
    """The env root's `endpoint` output (terraform output, no plan)."""
    from mlops.commands.plan import init_env

    ctx.config.require_env(env_name)
    with ui.stage(f"{env_name}: read the endpoint from Terraform's outputs"):
        outputs = init_env(ctx, env_name).outputs()
    value = (outputs.get("endpoint") or {}).get("value")
    if not value or not value.get("name"):
        raise MlopsError(f"env {env_name} serves no endpoint",
                         "its state has no endpoint: serving is disabled in its tfvars, or "
                         "the release was not applied yet",
                         f"release a model (mlops release --env {env_name} --model URI), merge "
                         "and apply it first")
    return Target(env_name, str(value["name"]), str(value.get("config_name") or ""),
                  {str(k): str(v) for k, v in (value.get("endpoint_config_names") or {}).items()},
                  {str(v): {str(k): str(n) for k, n in names.items()}
                   for v, names in (value.get("alarm_names") or {}).items()})


def describe_existing(endpoints: Endpoints, target: Target) -> EndpointView:
    view = endpoints.describe(target.endpoint)
    if view is None:
        raise MlopsError(f"the endpoint {target.endpoint} of {target.env} does not exist",
                         "Terraform's state names it, but SageMaker has no such endpoint "
                         "(deleted by hand, or by the cost reaper?)",
                         f"re-create it: mlops apply --env {target.env}")
    return view


def wait_for(endpoints: Endpoints, name: str, done: Callable[[EndpointView], bool], *,
             timeout: float, what: str, interval: float = 0.25,
             clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> EndpointView:
    """Describe the endpoint until `done(view)`; an error when it turns Failed or when
    `timeout` passes (saying what it was waiting for, and the last status)."""
    deadline = clock() + timeout
    while True:
        view = endpoints.describe(name)
        if view is None:
            raise MlopsError(f"the endpoint {name} disappeared while waiting for {what}", "",
                             "check who deleted it")
        if done(view):
            return view
        if view.status == "Failed":
            raise MlopsError(f"the endpoint {name} failed while waiting for {what}",
                             view.failure_reason or "no FailureReason",
                             "read the reason; the previous fleet keeps serving. Roll back "
                             "to a good release: mlops endpoint rollback --to RELEASE")
        if clock() > deadline:
            raise MlopsError(f"timed out after {timeout:g}s waiting for {what} on {name}",
                             f"the endpoint is still {view.status}",
                             "check it in the SageMaker console; re-run when it is InService, "
                             "or raise --update-timeout")
        sleep(interval)


def update_when_free(update: Callable[[], None], *, timeout: float, interval: float = 0.5,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> None:
    """Call `update`, waiting and retrying while SageMaker answers "Cannot update
    in-progress endpoint", for at most `timeout` seconds."""
    deadline = clock() + timeout
    while True:
        try:
            update()
            return
        except EndpointBusy as err:
            if clock() > deadline:
                raise MlopsError(f"timed out after {timeout:g}s: {err.what}", err.why,
                                 "re-run when the endpoint is InService") from err
            sleep(interval)


# ---------------------------------------------------------------------------------------
# mlops endpoint rollback
# ---------------------------------------------------------------------------------------


def pick_release(target: Target, serving_release: str | None, wanted: str | None) -> str:
    known = ", ".join(sorted(target.configs)) or "none"
    if wanted is not None:
        if wanted not in target.configs:
            raise MlopsError(f"{target.env} has no retained release {wanted!r}",
                             f"the releases Terraform keeps for it are: {known}",
                             "pass one of them with --to")
        return wanted
    others = sorted(r for r in target.configs if r != serving_release)
    if len(others) != 1:
        raise MlopsError(f"which release should {target.env} roll back to?",
                         f"it keeps {len(others)} release(s) besides the one serving "
                         f"({serving_release}): {', '.join(others) or 'none'}",
                         "pass --to RELEASE" if others else
                         "nothing to roll back to: the previous release was not retained")
    return others[0]


def verification_body(args: argparse.Namespace) -> bytes:
    if args.payload is not None:
        try:
            payload: bytes = args.payload.read_bytes()
            return payload
        except OSError as err:
            raise MlopsError(f"cannot read --payload {args.payload}", str(err),
                             "pass a JSON file, e.g. {\"instances\": [[...]]}") from err
    from mlops.adapters import training

    rows = training.holdout_rows(args.data)[:VERIFY_ROWS]
    return json.dumps({"instances": rows}).encode()


def verify_answers(env: Mapping[str, str], endpoint: str, variants: Mapping[str, str],
                   body: bytes) -> list[str]:
    """A real invocation of each variant; lines saying what answered. Any failure is an
    error: the rollback must end on a model that answers."""
    from mlops.adapters.sagemaker import Runtime

    runtime = Runtime(env)
    lines = []
    for variant, model in sorted(variants.items()):
        result = runtime.invoke(endpoint, body, target_variant=variant)
        if not result.ok:
            raise MlopsError(f"after the rollback, variant {variant} of {endpoint} does not "
                             f"answer: {result.error} {result.message}".strip(),
                             "the swap happened, but the old model fails a real invocation",
                             "read the model server's log; roll back to another release "
                             "with --to")
        try:
            predictions = len(json.loads(result.body)["predictions"])
        except (ValueError, KeyError, TypeError):
            predictions = 0
        lines.append(f"{variant} ({model}) answered: {predictions} prediction(s) in "
                     f"{result.latency_ms:.0f} ms")
    return lines


def run_rollback(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from mlops.commands.release import propose

    ctx = context.load(env)
    ctx.config.require_env(args.env)
    body = verification_body(args)
    lock = ctx.state_lock(args.env)
    endpoints = Endpoints(ctx.env)
    with lock.held("mlops endpoint rollback", f"env {args.env}: rolling the endpoint back"):
        target = find_target(ctx, args.env)
        view = describe_existing(endpoints, target)
        if view.status not in ("InService", "Failed") or view.pending_config:
            raise MlopsError(f"the endpoint {target.endpoint} is {view.status}"
                             + (f" (deploying {view.pending_config})" if view.pending_config
                                else ""),
                             "a deployment is in progress: rolling back now would race it",
                             "wait for it to finish (InService), then re-run")
        serving = target.release_of(view.config)
        to = pick_release(target, serving, args.to or None)  # "": the default (a dispatch input)
        config = target.configs[to]
        variants = endpoints.config_variants(config)
        if variants is None:
            raise MlopsError(f"the EndpointConfig {config} of release {to} no longer exists",
                             "it was deleted outside Terraform, so there is nothing to swap to",
                             f"re-create it: mlops apply --env {args.env} (it is in the "
                             "state), or roll back to another release with --to")
        if view.config == config:
            ui.step(f"{target.endpoint} already serves release {to} ({config})")
        else:
            ui.step(f"{target.endpoint}: swap {serving or view.config} -> release {to} "
                    f"({config})")
            started = time.monotonic()
            try:
                endpoints.update_config(target.endpoint, config)
            except EndpointBusy as err:
                raise MlopsError(f"the endpoint {target.endpoint} is being updated", err.why,
                                 "a deployment is in progress: re-run when it is InService"
                                 ) from err
            wait_for(endpoints, target.endpoint,
                     lambda v: v.status == "InService" and v.config == config,
                     timeout=args.update_timeout, what=f"release {to} to be InService")
            ui.info(f"InService on {config} after {time.monotonic() - started:.1f}s")
        for line in verify_answers(ctx.env, target.endpoint, variants, body):
            ui.info(line)

    def decide(serving_block: release.Serving, text: str) -> release.Change:
        why = "`mlops endpoint rollback` swapped the endpoint to it"
        return release.plan_back_to(serving_block, args.env, to,
                                    f"{why}: {args.reason}" if args.reason else why)

    propose(ctx, args.env, decide, repo=args.repo, base=args.base,
            command=f"mlops endpoint rollback --env {args.env} --to {to}")
    return 0
