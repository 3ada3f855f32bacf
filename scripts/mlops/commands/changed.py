"""`mlops changed`: which env roots a change affects, as a GitHub Actions matrix.

    mlops changed --base origin/main [--head HEAD] [--why]

stdout: {"envs": ["dev", "staging"]}   (promotion order; [] when nothing to plan)
stderr with --why: one line per changed path saying which envs it affects and why.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from mlops.adapters.git import Git
from mlops.context import load_project
from mlops.core import changes
from mlops.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "changed",
        help="list the envs a change affects (JSON for a CI matrix)",
        description='Print {"envs": [...]}: the env roots whose plan a change between '
        "BASE and HEAD (git diff BASE...HEAD) can affect, in promotion order "
        "(`mlops env list`).",
    )
    parser.add_argument("--base", required=True, help="the ref the change is compared to")
    parser.add_argument("--head", default="HEAD", help="the ref of the change (default HEAD)")
    parser.add_argument(
        "--why", action="store_true", help="explain the decision for each changed path on stderr"
    )
    parser.set_defaults(func=run)


def detect(settings: Settings, env: Mapping[str, str], base: str, head: str) -> changes.Decision:
    """Which envs the change base...head affects; shared with `mlops plan --changed`."""
    envs = load_project(settings).envs  # promotion order
    git = Git(settings.root, env=env)
    paths = git.changed_paths(base, head)
    graphs = []
    for ref in (base, head):  # base too: a module call removed by the change still counts
        tf_paths = git.list_files(ref, suffix=".tf")
        graphs.append(changes.build_module_graph(git.read_files(ref, tf_paths)))
    return changes.affected_envs(paths, changes.merge_graphs(*graphs), envs)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    decision = detect(Settings.from_env(env), env, args.base, args.head)
    if args.why:
        print(decision.explain(), file=sys.stderr)
    print(json.dumps(decision.as_matrix()))
    return 0
