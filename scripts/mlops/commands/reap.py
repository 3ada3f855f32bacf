"""`mlops reap`: the cost reaper. Deletes expired SageMaker endpoints (keeping their
endpoint configurations and models) and stops expired GPU instances, in the envs whose
policy allows it; the rules are in core/reap.py.

  mlops reap [--envs ENV ...] [--max-age DURATION] [--grace DURATION] [--cap N]
             [--dry-run] [--json]
  mlops reap --list-envs        {"envs": [...]}: the envs a sweep covers (a CI matrix)

stdout: the report (markdown), also appended to $GITHUB_STEP_SUMMARY; with --json the
decisions as JSON. Exit 0, or 1 when a delete or stop failed (the others still ran).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mlops import argtypes, ui
from mlops.adapters import inventory
from mlops.adapters.prices import load_prices
from mlops.context import load_config
from mlops.core import envs, reap
from mlops.core.config import ProjectConfig
from mlops.errors import MlopsError
from mlops.settings import Settings


def env_policy(config: ProjectConfig, name: str) -> reap.EnvPolicy:
    """The reaper's view of an env (mlops.yaml, core/envs.py): its tier says whether the
    reaper sweeps it and past which age; `protected` keeps it out unless named."""
    spec = config.env(name)
    return reap.EnvPolicy(name, reapable=spec.policy.reapable, protected=spec.protected,
                          max_age_hours=spec.policy.max_endpoint_hours)


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "reap", help="delete expired endpoints and stop expired GPU instances (cost reaper)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", metavar="ENV", type=env_names,
                        help="sweep only these envs (comma or space separated); a protected "
                             "env is swept only when named here")
    parser.add_argument("--max-age", metavar="DURATION",
                        help="reap what is older than this (e.g. 8h), instead of each env's "
                             "maximum age (empty: each env's)")
    parser.add_argument("--grace", metavar="DURATION", default="1h",
                        help="how long past its deadline a resource is listed as due before "
                             "it goes (default 1h; 0 reaps at once)")
    parser.add_argument("--cap", type=argtypes.non_negative_int, default=reap.DEFAULT_CAP,
                        help=f"reap at most this many per run (default {reap.DEFAULT_CAP})")
    parser.add_argument("--dry-run", action="store_true",
                        help="decide and report, change nothing")
    parser.add_argument("--json", action="store_true", help="print the decisions as JSON")
    parser.add_argument("--list-envs", action="store_true",
                        help='print {"envs": [...]}, the envs a sweep covers, and exit')
    parser.set_defaults(func=run)


def env_names(value: str) -> str:
    """--envs: env names, comma separated (an empty value names none); each a valid name
    (whether mlops.yaml lists it is checked by the command)."""
    for name in (n.strip() for n in value.split(",")):
        if name:
            envs.check_env_name(name, "--envs")
    return value


def _duration(value: str | None, flag: str) -> Any:
    if value is None or not value.strip():  # empty: not given (a workflow input left blank)
        return None
    try:
        return reap.parse_duration(value)
    except ValueError as err:
        raise MlopsError(f"{flag} {value!r} is not a duration", str(err),
                         f"e.g. {flag} 12h, {flag} 90m or {flag} 1d12h") from err


def named_envs(config: ProjectConfig, raw: list[str] | None) -> list[str]:
    names = [n.strip() for item in raw or [] for n in item.split(",") if n.strip()]
    for name in names:
        config.require_env(name)
    return names


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config = load_config(Settings.from_env(env))
    policies = {name: env_policy(config, name) for name in config.envs}
    swept = reap.scope(policies, named_envs(config, args.envs))
    if args.list_envs:
        print(json.dumps({"envs": list(swept)}))
        return 0
    grace = _duration(args.grace, "--grace")
    rules = reap.Rules(now=datetime.now(UTC),
                       grace=reap.DEFAULT_GRACE if grace is None else grace,
                       cap=args.cap, max_age=_duration(args.max_age, "--max-age"))
    if not swept:
        ui.step("no env to sweep: every env is protected or not reapable (name one: --envs)")
    report = sweep(config, env, swept, policies, rules, dry_run=args.dry_run)
    text = reap.render(report)
    if args.json:
        print(json.dumps({"envs": list(report.envs), "dry_run": report.dry_run,
                          "hourly_stopped": report.stopped().hourly,
                          "decisions": [d.to_dict() for d in report.decisions]}, indent=2))
    else:
        print(text)
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 1 if report.failed else 0


def sweep(config: ProjectConfig, env: Mapping[str, str], swept: tuple[str, ...],
          policies: Mapping[str, reap.EnvPolicy], rules: reap.Rules, *,
          dry_run: bool) -> reap.Report:
    """Read the account, decide, and (unless dry_run) delete and stop."""
    resources: list[reap.Resource] = []
    for region in sorted({config.env(name).region for name in swept}):
        with ui.stage(f"reap: reading endpoints and instances in {region}"):
            resources += inventory.endpoints(env, region)
            resources += [r for r in inventory.running_instances(env, region)
                          if any(reap.is_accelerated(t) for t, _ in r.instances)]
    decisions = reap.decide(resources, config.project, policies, swept, rules, load_prices())
    outcomes: list[reap.Outcome] = []
    for decision in decisions:
        if decision.verdict is not reap.Verdict.REAP or dry_run:
            continue
        resource = decision.resource
        try:
            if resource.kind == "endpoint":
                ui.step(f"reap: deleting {resource.label} ({decision.env}): "
                        f"{'; '.join(decision.reasons)}")
                inventory.delete_endpoint(env, resource.region, resource.id)
            else:
                ui.step(f"reap: stopping {resource.label} ({decision.env}): "
                        f"{'; '.join(decision.reasons)}")
                inventory.stop_instance(env, resource.region, resource.id)
            outcomes.append(reap.Outcome(decision, done=True))
        except MlopsError as err:  # the others still go; the run fails at the end
            ui.info(err.render())
            outcomes.append(reap.Outcome(decision, done=False, error=err.what))
    return reap.Report(swept, rules.now, tuple(decisions), tuple(outcomes), dry_run)


def demo_excerpt(env: Mapping[str, str]) -> str:
    """For `make demo`: a dry run over the default sweep, as the reaper's report."""
    config = load_config(Settings.from_env(env))
    policies = {name: env_policy(config, name) for name in config.envs}
    swept = reap.scope(policies)
    rules = reap.Rules(now=datetime.now(UTC))
    return reap.render(sweep(config, env, swept, policies, rules, dry_run=True))
