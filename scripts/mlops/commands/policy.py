"""`mlops policy`: the policy gates.

mlops policy check --env ENV [--labels a,b] [--policy-dir DIR] PLAN_JSON_OR_DIR...
    Evaluate policies/*.rego on each plan (a plan.json file, or a plan dir holding
    plan.json; policy.json with the violations is written into a plan dir). The env's
    tier and protection come from mlops.yaml.
    Exit 0 when every plan passes, 1 when any violates a policy, 2 on bad input.
    Labels default to MLOPS_PR_LABELS (comma separated), which a workflow sets from
    the pull request's labels.

mlops policy scan [-- CHECKOV_ARGS...]
    Static scan of the Terraform code (modules/, envs/, bootstrap/) with checkov,
    configured by .checkov.yaml; installs checkov into .venv-tools/ on first use.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops import argtypes
from mlops.adapters import checkov, rego
from mlops.context import load_config
from mlops.core import masking, policy
from mlops.errors import MlopsError
from mlops.settings import Settings

PLAN_FILE = "plan.json"
RESULT_FILE = "policy.json"
SCAN_DIRS = ("modules", "envs", "bootstrap")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("policy", help="policy gates: plan checks (Rego), code scan")
    sub = parser.add_subparsers(dest="policy_command", metavar="ACTION", required=True)

    check = sub.add_parser(
        "check",
        help="check plan JSON against policies/*.rego",
        description="Evaluate the Rego policies on terraform plan JSON. Exit 1 on violations.",
    )
    check.add_argument("--env", required=True, type=argtypes.env_name,
                       help="the env the plans are for (its tier and protection: mlops.yaml)")
    check.add_argument(
        "--labels", default=None, help="PR labels, comma separated (default: $MLOPS_PR_LABELS)"
    )
    check.add_argument(
        "--policy-dir",
        type=Path,
        default=None,
        help="directory of .rego files and data/ (default: <root>/policies)",
    )
    check.add_argument("plans", nargs="+", type=Path, metavar="PLAN_JSON_OR_DIR")
    check.set_defaults(func=run_check)

    scan = sub.add_parser(
        "scan",
        help="scan the Terraform code with checkov (.checkov.yaml)",
        description="Run checkov (pinned, in .venv-tools/) on modules/, envs/ and bootstrap/.",
    )
    scan.add_argument(
        "checkov_args", nargs=argparse.REMAINDER, help="extra checkov arguments, after --"
    )
    scan.set_defaults(func=run_scan)


def _read_plan(path: Path) -> tuple[Path, Path | None, Any]:
    """(plan file, plan dir or None, decoded plan)."""
    plan_dir: Path | None = None
    if path.is_dir():
        plan_dir, path = path, path / PLAN_FILE
    if not path.is_file():
        raise MlopsError(
            f"no plan at {path}",
            "policy check reads `terraform show -json` output, or a plan dir holding plan.json",
            "make the plan first (terraform show -json plan.tfplan > plan.json), or fix the path",
        )
    try:
        plan = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise MlopsError(
            f"cannot read {path} as JSON",
            str(err),
            "write it with `terraform show -json plan.tfplan > plan.json`",
        ) from err
    problem = policy.plan_problem(plan)
    if problem:
        raise MlopsError(
            f"{path} is not a Terraform plan document",
            problem,
            "write it with `terraform show -json plan.tfplan > plan.json`",
        )
    return path, plan_dir, plan


def run_check(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    labels = policy.parse_labels(
        args.labels if args.labels is not None else env.get("MLOPS_PR_LABELS")
    )
    settings = Settings.from_env(env)
    config = load_config(settings)
    spec = config.env(args.env)
    base = masking.Masker(patterns=masking.compile_patterns(config.mask_patterns))
    policy_dir = args.policy_dir or settings.root / "policies"
    policies = rego.PolicySet.from_dir(policy_dir)
    try:
        data = policy.build_data(policies.data, spec.name, labels, tier=spec.tier,
                                 protected=spec.protected)
    except ValueError as err:
        raise MlopsError("policy data is invalid", str(err), f"edit {policy_dir}/data/") from err

    results: list[policy.PlanResult] = []
    for given in args.plans:
        path, plan_dir, plan = _read_plan(given)
        mismatch = policy.env_mismatch(plan, spec.name, spec.tier)
        if mismatch:
            raise MlopsError(
                f"{path} is not a plan for env {args.env}",
                mismatch,
                "pass the env the plan was made for (--env)",
            )
        try:
            violations = policy.parse_violations(rego.evaluate(policies, data, plan, policy.QUERY))
        except ValueError as err:
            raise MlopsError(
                "a policy returned something mlops cannot read",
                str(err),
                'make deny rules add strings or {"msg": ...} objects',
            ) from err
        # Rules quote plan values in their messages: redact the plan's sensitive values and
        # the project's mask_patterns, so policy.json (a PR artifact) and the log hold none.
        masker = base.with_literals(masking.sensitive_strings(plan))
        violations = tuple(policy.Violation(masker.mask(v.rule), masker.mask(v.address),
                                           masker.mask(v.message)) for v in violations)
        result = policy.PlanResult(str(path), args.env, labels, violations)
        if plan_dir is not None:
            (plan_dir / RESULT_FILE).write_text(json.dumps(result.as_document(), indent=2) + "\n")
        results.append(result)

    print(policy.render_report(results))
    return 0 if all(r.passed for r in results) else 1


def run_scan(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    root = Settings.from_env(env).root
    config = root / ".checkov.yaml"
    if not config.is_file():
        raise MlopsError(
            f"no {config}",
            "the scan's checks and skips are configured there",
            "restore .checkov.yaml from the repository",
        )
    if not any(any((root / d).rglob("*.tf")) for d in SCAN_DIRS if (root / d).is_dir()):
        print(f"policy scan: no Terraform files under {', '.join(SCAN_DIRS)}; nothing to scan")
        return 0
    extra = [a for a in args.checkov_args if a != "--"]
    binary = checkov.ensure(root, env)
    return checkov.run(binary, root, config, env, extra)
