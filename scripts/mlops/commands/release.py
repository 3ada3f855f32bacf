"""`mlops release --env ENV --model URI [--canary-weight W] [--image IMAGE] [--release KEY]`

Releases a pushed model to an env through Git: edits the `serving` block of
`envs/<env>/terraform.tfvars` (comments and layout kept; core/tfvars.py) and proposes the
change as a pull request, whose plan then shows the new SageMaker models, EndpointConfig
and variants. What the block becomes is decided in core/release.py: the first release
enables serving with the model alone; later ones add a release with the current stable
plus the candidate as a canary at W % (default 10), make it active and keep the previous
release as the rollback target. Merging and applying the pull request deploys it; then
`mlops canary promote` shifts the traffic.

The pull request is opened through the GitHub API when GITHUB_TOKEN is set (the file is
read from and committed to the repository, the checkout is left alone): --repo, else
GITHUB_REPOSITORY, else github_repo in mlops.yaml; --base, else the repository's default
branch. Without a token the file in the checkout is edited and the branch and git
commands to propose it are printed.

This module also holds what `mlops canary` and `mlops endpoint rollback` use to propose
their follow-up changes (`propose`).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops import argtypes, context, ui
from mlops.adapters.terraform import fmt_text
from mlops.core import hcl, release
from mlops.core.release import Change, Serving
from mlops.errors import MlopsError

REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "release", help="release a pushed model to an env: edit its tfvars, open the PR",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, type=argtypes.env_name,
                        help="the env to release to")
    parser.add_argument("--model", required=True, metavar="URI",
                        help="what `mlops artifact push` printed: "
                             "s3://<bucket>/models/<sha256>/model.tar.gz")
    parser.add_argument("--canary-weight", type=int, default=None, metavar="W",
                        help=f"the candidate's share of traffic in percent, 1-99 (default "
                             f"{release.DEFAULT_CANARY_WEIGHT}; not for a first release)")
    parser.add_argument("--image", help="model server image (default: the stable variant's; "
                                        "required for a first release)")
    parser.add_argument("--release", dest="key", metavar="KEY",
                        help="release key (default: m-<first 10 hex digits of the sha256>)")
    add_git_options(parser)
    parser.set_defaults(func=run)


def add_git_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", help="OWNER/NAME for the pull request (default: "
                                       "GITHUB_REPOSITORY, else github_repo in mlops.yaml)")
    parser.add_argument("--base", help="branch the pull request targets (default: the "
                                       "repository's default branch)")


@dataclass(frozen=True)
class Proposal:
    change: Change
    url: str  # the pull request, or "" when printed as git commands / nothing to do
    text: str  # the tfvars as proposed


def tfvars_path(env_name: str) -> str:
    return f"envs/{env_name}/terraform.tfvars"


def repo_of(ctx: context.Context, given: str | None) -> str:
    repo = given or ctx.env.get("GITHUB_REPOSITORY") or ctx.config.github_repo
    if not REPO_RE.match(repo):
        raise MlopsError(f"{repo!r} is not a repository", "pull requests go to OWNER/NAME",
                         "pass --repo OWNER/NAME")
    return repo


def propose(ctx: context.Context, env_name: str, decide: Callable[[Serving, str], Change], *,
            repo: str | None, base: str | None, command: str) -> Proposal:
    """Read the env's tfvars, let `decide(serving, tfvars text)` say what changes, write the
    edit (formatted, checked) and propose it: a pull request through the GitHub API when
    GITHUB_TOKEN is set, else the checkout's file edited and the git commands printed."""
    ctx.env_root(env_name)  # the root exists and its tfvars agree with mlops.yaml
    path = tfvars_path(env_name)
    if ctx.env.get("GITHUB_TOKEN"):
        return _propose_pr(ctx, env_name, decide, repo_of(ctx, repo), base, command)
    local = ctx.settings.root / path
    text = local.read_text()
    change = decide(release.read_serving(text, path), text)
    if change.unchanged:
        ui.step(f"{path} already says this: nothing to change")
        return Proposal(change, "", text)
    new = write_change(ctx, text, change, path)
    local.write_text(new)
    ui.step(f"{change.title}: edited {path} (no GITHUB_TOKEN, so no pull request)")
    for line in change.lines:
        ui.info(line)
    print(git_commands(change, path, base))
    return Proposal(change, "", new)


def write_change(ctx: context.Context, text: str, change: Change, path: str) -> str:
    edited = release.apply_change(text, change, path)
    formatted = fmt_text(edited, ctx.env, path)
    release.check_written(formatted, change, path)
    return formatted


def git_commands(change: Change, path: str, base: str | None) -> str:
    message = change.title.replace('"', "'")
    return "\n".join([
        f"git switch -c {change.branch}",
        f"git commit -m \"{message}\" -- {path}",
        f"git push -u origin {change.branch}",
        f"gh pr create --base {base or 'main'} --head {change.branch} --fill"
        "   # or open the pull request in the browser",
    ])


def _propose_pr(ctx: context.Context, env_name: str,
                decide: Callable[[Serving, str], Change], repo: str, base: str | None,
                command: str) -> Proposal:
    import requests

    from mlops.adapters.github import from_env

    path = tfvars_path(env_name)
    with requests.Session() as session:
        github = from_env(ctx.env, session)
        base = base or github.default_branch(repo)
        current = github.get_file(repo, path, base)
        if current is None:
            raise MlopsError(f"{path} does not exist on {base} in {repo}",
                             "the change is made to the env's tfvars on the base branch",
                             f"check --repo and --base; is {env_name} merged there?")
        change = decide(release.read_serving(current.text, path), current.text)
        if change.unchanged:
            ui.step(f"{path} on {base} already says this: nothing to propose")
            return Proposal(change, "", current.text)
        new = write_change(ctx, current.text, change, path)
        opened = github.open_change_pr(repo, base, change.branch, {path: new}, change.title,
                                       change.body(command))
    verb = "opened" if opened.created else "updated" if opened.changed else "already open:"
    ui.step(f"{change.title}: pull request {verb} {opened.pull.html_url}")
    for line in change.lines:
        ui.info(line)
    print(opened.pull.html_url)
    return Proposal(change, opened.pull.html_url, new)


def command_line(argv0: str, args: Mapping[str, object]) -> str:
    parts = [argv0] + [f"--{k.replace('_', '-')} {v}" for k, v in args.items() if v is not None]
    return " ".join(parts)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    ctx = context.load(env)
    ctx.config.require_env(args.env)
    candidate = release.parse_model_uri(args.model)

    def decide(serving: Serving, text: str) -> Change:
        project = (hcl.string_attributes(text).get("project") or
                   hcl.Token("string", ctx.config.project)).value
        return release.plan_release(serving, args.env, candidate,
                                    expected_bucket=release.artifact_bucket(project, args.env),
                                    weight=args.canary_weight, image=args.image, key=args.key)

    proposal = propose(ctx, args.env, decide, repo=args.repo, base=args.base,
                       command=command_line("mlops release", {
                           "env": args.env, "model": args.model,
                           "canary_weight": args.canary_weight, "release": args.key}))
    if proposal.change.unchanged:
        ui.info(proposal.change.title)
    return 0
