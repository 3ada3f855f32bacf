"""The policy gate's pure side: the documents handed to Rego, and what its answer means.

The Rego rules (policies/*.rego, package main) take the plan JSON exactly as
`terraform show -json` writes it as `input`, so `conftest test plan.json` works on it.
What the plan does not say comes in as data documents:

    data.context.env        the env the plan is for          (`--env`)
    data.context.tier       its tier: dev, staging or prod   (mlops.yaml)
    data.context.protected  whether it is protected          (mlops.yaml)
    data.context.allowlist  the instance allowlist key       (the tier's, core.envs.TIERS)
    data.context.labels     the PR's labels                  (`--labels`, MLOPS_PR_LABELS)
    data.<key>              policies/data/*.yaml, e.g. data.instance_types.<tier>

Each rule adds `{"msg": ..., "rule": ..., "address": ...}` to `data.main.deny`
(conftest prints `msg`); a bare string is accepted too, for rules written conftest-style.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops.core.envs import TIERS

QUERY = "data.main.deny"
OVERRIDE_LABEL = "allow-destroy:{env}"


@dataclass(frozen=True, order=True)
class Violation:
    rule: str
    address: str
    message: str  # as the rule wrote it: "<address>: <what is wrong and how to fix it>"

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "address": self.address, "message": self.message}


@dataclass(frozen=True)
class PlanResult:
    source: str  # the plan file, as given
    env: str
    labels: tuple[str, ...]
    violations: tuple[Violation, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return not self.violations

    def as_document(self) -> dict[str, Any]:
        """The policy.json written next to plan.json."""
        return {
            "env": self.env,
            "labels": list(self.labels),
            "passed": self.passed,
            "violations": [v.as_dict() for v in self.violations],
        }


def parse_labels(text: str | None) -> tuple[str, ...]:
    """`"a, b,,a"` -> ("a", "b"): comma separated, trimmed, de-duplicated in order."""
    seen: dict[str, None] = {}
    for part in (text or "").split(","):
        label = part.strip()
        if label:
            seen.setdefault(label, None)
    return tuple(seen)


def build_data(base: Mapping[str, Any], env: str, labels: Iterable[str], *, tier: str,
               protected: bool) -> dict[str, Any]:
    """The data document: policies/data/ merged with the run's context. The allowlist key
    is the tier's (core.envs.TIERS)."""
    if "context" in base:
        raise ValueError(
            "policy data files must not define the top-level key `context`; "
            "mlops sets it from --env, mlops.yaml and --labels"
        )
    allowlist = TIERS[tier].instance_allowlist if tier in TIERS else tier
    context = {"env": env, "tier": tier, "protected": protected, "allowlist": allowlist,
               "labels": list(labels)}
    return {**base, "context": context}


def plan_problem(plan: Any) -> str | None:
    """Why `plan` is not a `terraform show -json` plan document, or None if it looks like one."""
    if not isinstance(plan, dict):
        return "the top level is not a JSON object"
    version = plan.get("format_version")
    if not isinstance(version, str):
        return "it has no format_version (is it `terraform show -json <planfile>` output?)"
    if version.split(".")[0] != "1":
        return f"format_version {version} is not 1.x, which these policies understand"
    if "planned_values" not in plan and "resource_changes" not in plan:
        if "values" in plan:
            return "it is a state document (`terraform show -json` without a plan file)"
        return "it has neither planned_values nor resource_changes"
    return None


def plan_variable(plan: Mapping[str, Any], name: str) -> str | None:
    """The plan's own string input variable `name` (e.g. env, tier), when the root has it."""
    variables = plan.get("variables")
    if isinstance(variables, dict):
        value = (variables.get(name) or {}).get("value")
        if isinstance(value, str):
            return value
    return None


def plan_env(plan: Mapping[str, Any]) -> str | None:
    """The plan's own `env` input variable, when the root declares one."""
    return plan_variable(plan, "env")


def env_mismatch(plan: Mapping[str, Any], env: str, tier: str | None = None) -> str | None:
    found = plan_env(plan)
    if found is not None and found != env:
        return f"the plan was made with var.env = {found!r}, but the check is for env {env!r}"
    found_tier = plan_variable(plan, "tier")
    if tier is not None and found_tier is not None and found_tier != tier:
        return (f"the plan was made with var.tier = {found_tier!r}, but mlops.yaml gives env "
                f"{env!r} the tier {tier!r}")
    return None


def parse_violations(raw: Any) -> tuple[Violation, ...]:
    """Turn the value of data.main.deny into sorted, de-duplicated violations."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError(f"{QUERY} must be a set of messages, got {type(raw).__name__}")
    found: set[Violation] = set()
    for item in raw:
        if isinstance(item, str):
            found.add(Violation("", "", item))
        elif isinstance(item, dict) and isinstance(item.get("msg"), str):
            found.add(
                Violation(str(item.get("rule") or ""), str(item.get("address") or ""), item["msg"])
            )
        else:
            raise ValueError(
                f"a {QUERY} entry must be a string or an object with a string "
                f"`msg`, got {item!r:.120}"
            )
    return tuple(sorted(found))


def render_report(results: Sequence[PlanResult]) -> str:
    """Human-readable report of one or more plans' checks."""
    lines: list[str] = []
    for result in results:
        count = len(result.violations)
        if result.passed:
            lines.append(f"PASS {result.source} (env {result.env}): no policy violations")
            continue
        noun = "violation" if count == 1 else "violations"
        lines.append(f"FAIL {result.source} (env {result.env}): {count} policy {noun}")
        lines.extend(f"  - [{v.rule or 'deny'}] {v.message}" for v in result.violations)
        if any(v.rule == "destroy" for v in result.violations):
            label = OVERRIDE_LABEL.format(env=result.env)
            lines.append(f"  (to approve the destroys, add the PR label {label} and re-run)")
    failed = [r for r in results if not r.passed]
    total = sum(len(r.violations) for r in results)
    if failed:
        lines.append(
            f"policy gate: FAILED: {total} violation(s) in {len(failed)} of "
            f"{len(results)} plan(s); fix them or change the policy in policies/"
        )
    else:
        lines.append(f"policy gate: passed ({len(results)} plan(s))")
    return "\n".join(lines)
