"""`mlops comment render|post PLAN_DIR...`: the sticky PR comment of the plans.

A plan directory (written by `mlops plan --out DIR`) holds summary.json, plan.json, plan.txt,
for a failed plan error.txt, and once the gate ran (`mlops policy check`) policy.json.
A directory may also (or only) hold k8s.json, the env's rendered-manifest diff written by
`mlops k8s diff --out DIR`: it becomes the env's Kubernetes section.
This command reads them, asks core.comment for the body, and, for `post`, writes it to
the step summary, the PR comment and the PR's label.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlops import argtypes, context
from mlops.adapters.prices import load_prices
from mlops.core import comment, cost, masking, plansummary
from mlops.core.config import ProjectConfig
from mlops.core.masking import Masker
from mlops.errors import MlopsError
from mlops.settings import Settings

REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "comment", help="render or post the sticky PR comment of plan directories",
        description="Render the plan comment, or post it as the one sticky comment on a PR.")
    sub = parser.add_subparsers(dest="comment_command", metavar="ACTION", required=True)

    render = sub.add_parser("render", help="print the comment markdown")
    render.add_argument("plan_dirs", nargs="+", type=Path, metavar="PLAN_DIR")
    render.set_defaults(func=cmd_render)

    post = sub.add_parser("post", help="create or update the sticky comment and labels")
    post.add_argument("--repo", required=True, help="OWNER/NAME")
    post.add_argument("--pr", required=True, type=argtypes.positive_int,
                      help="pull request number")
    post.add_argument("--no-labels", action="store_true", help="leave the PR's labels alone")
    post.add_argument("plan_dirs", nargs="+", type=Path, metavar="PLAN_DIR")
    post.set_defaults(func=cmd_post)


# ---------------------------------------------------------------- reading (I/O)


def load_project_config(env: Mapping[str, str]) -> ProjectConfig:
    """mlops.yaml: the mask patterns (regexes whose matches are redacted), the promotion
    order of the sections and the envs of the prod tier."""
    return context.load_config(Settings.from_env(env))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise MlopsError(f"{path} is not a readable UTF-8 JSON file", str(err)[:300],
                         "re-run `mlops plan` to write the plan directory again") from err


def read_plan_dir(directory: Path, base: Masker,
                  prices: cost.PriceTable) -> tuple[comment.PlanInput, Masker]:
    """One plan directory -> what the renderer needs, and the masker extended with the
    values its plan.json marks sensitive."""
    if not directory.is_dir():
        raise MlopsError(f"plan directory {directory} does not exist",
                         "`mlops comment` reads the directories written by `mlops plan --out`",
                         "pass the directories the plan step wrote (or downloaded artifacts)")
    plan_path, summary_path = directory / "plan.json", directory / "summary.json"
    error_path, text_path = directory / "error.txt", directory / "plan.txt"
    plan = _read_json(plan_path) if plan_path.is_file() else None
    masker = base
    if isinstance(plan, dict):
        masker = base.with_literals(masking.sensitive_strings(plan))
    try:
        if summary_path.is_file():
            summary = plansummary.PlanSummary.from_dict(_read_json(summary_path))
        elif plan is not None:
            summary = plansummary.summarize(plan, directory.name, masker=masker, prices=prices)
        elif error_path.is_file():
            summary = plansummary.failed(directory.name, "", masker=masker)
        else:
            raise MlopsError(f"{directory} has none of summary.json, plan.json, error.txt",
                             "it does not look like a plan directory",
                             "pass the directory given to `mlops plan --out`")
    except ValueError as err:
        raise MlopsError(f"cannot read the plan in {directory}", str(err),
                         "re-run `mlops plan` with this version of mlops") from err
    if summary.status == "ok" and isinstance(plan, dict):
        actual = plansummary.plan_hash(plan)
        if summary.plan_hash != actual:
            raise MlopsError(
                f"{summary_path} does not match {plan_path} (hash {summary.plan_hash[:12]}.. "
                f"!= {actual[:12]}..)",
                "the summary was written for a different plan",
                "re-run `mlops plan` so the directory holds one plan")
    if summary.status == "failed" and error_path.is_file():
        error = error_path.read_text(encoding="utf-8", errors="replace")
        summary = plansummary.failed(summary.env, error, masker=masker)
    text = text_path.read_text(encoding="utf-8", errors="replace") if text_path.is_file() else ""
    policy = read_policy(directory / "policy.json", masker)
    return comment.PlanInput(summary=summary, text_plan=text, policy=policy), masker


def read_policy(path: Path, masker: Masker) -> tuple[comment.PolicyFinding, ...] | None:
    """The gate's findings from policy.json (`mlops policy check` on the plan dir); None
    when the gate has not run on this plan."""
    if not path.is_file():
        return None
    data = _read_json(path)
    violations = data.get("violations") if isinstance(data, dict) else None
    if not isinstance(violations, list):
        raise MlopsError(f"{path} has no violations list",
                         "it was not written by `mlops policy check`",
                         "re-run `mlops policy check --env ENV PLAN_DIR`")
    return tuple(comment.PolicyFinding(rule=masker.mask(str(v.get("rule", ""))),
                                       address=masker.mask(str(v.get("address", ""))),
                                       message=masker.mask(str(v.get("message", ""))))
                 for v in violations if isinstance(v, dict))


K8S_DIFF_FILE = "k8s.json"  # written by `mlops k8s diff --out DIR`
PLAN_FILES = ("summary.json", "plan.json", "error.txt")


def read_manifest_diff(path: Path) -> comment.ManifestDiffInput:
    """An env's Kubernetes section from k8s.json (`mlops k8s diff`)."""
    data = _read_json(path)
    if not (isinstance(data, dict) and data.get("v") == 1 and isinstance(data.get("env"), str)
            and isinstance(data.get("diff"), str)):
        raise MlopsError(f"{path} is not a manifest diff", "it was not written by "
                         "`mlops k8s diff` (version 1)", "re-run `mlops k8s diff --out DIR`")
    return comment.ManifestDiffInput(
        env=data["env"], diff=data["diff"], added=len(data.get("added") or []),
        changed=len(data.get("changed") or []), removed=len(data.get("removed") or []),
        error=str(data.get("error") or "") if data.get("status") == "failed" else "")


def build_body(plan_dirs: Sequence[Path], env: Mapping[str, str]) -> tuple[str, list[
        plansummary.PlanSummary]]:
    config = load_project_config(env)
    base = Masker(patterns=masking.compile_patterns(config.mask_patterns))
    prices = load_prices()
    inputs: list[comment.PlanInput] = []
    manifests: list[comment.ManifestDiffInput] = []
    masker = base
    for directory in plan_dirs:
        k8s_diff = directory / K8S_DIFF_FILE
        if k8s_diff.is_file():
            manifests.append(read_manifest_diff(k8s_diff))
            if not any((directory / name).is_file() for name in PLAN_FILES):
                continue  # a Kubernetes-only directory
        plan_input, dir_masker = read_plan_dir(directory, base, prices)
        inputs.append(plan_input)
        masker = masker.with_literals(dir_masker.literals)
    for what, envs in (("plan directory", [p.summary.env for p in inputs]),
                       ("manifest diff (k8s.json)", [m.env for m in manifests])):
        duplicates = sorted({e for e in envs if envs.count(e) > 1})
        if duplicates:
            raise MlopsError(f"more than one {what} for env {', '.join(duplicates)}",
                             "the comment has one section per environment",
                             f"pass one {what} per environment")
    link = comment.run_url(env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY"),
                           env.get("GITHUB_RUN_ID"))
    production = [s.name for s in config.specs if s.tier == "prod"]
    body = comment.render(inputs, order=config.envs, production=production, masker=masker,
                          run_link=link, manifests=manifests)
    return body, [p.summary for p in inputs]


# ---------------------------------------------------------------- handlers


def cmd_render(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    body, _ = build_body(args.plan_dirs, env)
    sys.stdout.write(body)
    return 0


def cmd_post(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    if not REPO_RE.match(args.repo):
        raise MlopsError(f"--repo {args.repo!r} is not OWNER/NAME",
                         "the comment is posted through the GitHub REST API for that repository",
                         "pass --repo \"$GITHUB_REPOSITORY\"")
    if args.pr <= 0:
        raise MlopsError(f"--pr {args.pr} is not a pull request number", "",
                         "pass --pr \"${{ github.event.pull_request.number }}\" through env:")
    token = env.get("GITHUB_TOKEN", "")
    if not token:
        raise MlopsError("GITHUB_TOKEN is not set",
                         "posting the plan comment calls the GitHub API, which needs a token",
                         "in the workflow step add env: GITHUB_TOKEN: ${{ github.token }} "
                         "and give the job permissions: pull-requests: write")
    from mlops.adapters.github import DEFAULT_API_URL, GitHub, check_api_url

    api_url = check_api_url(env.get("GITHUB_API_URL") or DEFAULT_API_URL)
    body, summaries = build_body(args.plan_dirs, env)

    step_summary = env.get("GITHUB_STEP_SUMMARY")
    if step_summary:  # first, so the run shows the plans even if posting fails
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(body + "\n")

    import requests  # here, not at import time: only `post` talks to GitHub

    with requests.Session() as session:
        github = GitHub(api_url, token, session)
        result = github.upsert_sticky(args.repo, args.pr, body, comment.is_plan_comment)
        print(f"{result.action} plan comment {result.comment_id} on {args.repo}#{args.pr}"
              + (f" {result.url}" if result.url else "")
              + (f" (removed duplicates {', '.join(map(str, result.deleted))})"
                 if result.deleted else ""))
        if not args.no_labels:
            wanted = comment.label_for(summaries)
            labels = github.set_labels(args.repo, args.pr, wanted, comment.LABELS,
                                       comment.LABELS)
            changes = [f"+{n}" for n in labels.added] + [f"-{n}" for n in labels.removed]
            print(f"labels: {' '.join(changes) if changes else 'unchanged'}")
    return 0
