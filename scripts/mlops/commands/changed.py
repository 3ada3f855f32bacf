"""`mlops changed`: which env roots a change affects, as a GitHub Actions matrix.

    mlops changed --base origin/main [--head HEAD] [--why] [--max-waves N]

stdout, one JSON object (every list in promotion order, [] when nothing is affected):
  envs     the env roots to plan or apply
  k8s      the envs whose Kubernetes manifests change
  modules  the modules whose plan and apply tests the change needs (`mlops test modules`)
  waves    `envs` grouped by promotion wave (`mlops env list`): main.yml applies wave N
           after wave N-1; with --max-waves, more waves than that is an error
  releases the envs whose model releases (the `serving` block of their terraform.tfvars)
           the change edits: main.yml runs `mlops canary promote` there after the apply
stderr with --why: one line per changed path saying which envs it affects and why.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from mlops import argtypes
from mlops.adapters.git import Git
from mlops.context import load_project
from mlops.core import changes
from mlops.errors import MlopsError
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
    parser.add_argument("--max-waves", type=argtypes.positive_int, metavar="N",
                        help="fail when the affected envs span more than N promotion waves "
                        "(main.yml has N wave jobs)")
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


def detect_modules(settings: Settings, env: Mapping[str, str], base: str,
                   head: str) -> changes.ModuleDecision:
    """Which modules' tests the change base...head needs (`mlops test modules --changed`)."""
    from mlops.commands.test import all_modules

    git = Git(settings.root, env=env)
    graphs = [changes.build_module_graph(git.read_files(ref, git.list_files(ref, ".tf")))
              for ref in (base, head)]
    return changes.affected_modules(git.changed_paths(base, head),
                                    changes.merge_graphs(*graphs), all_modules(settings))


def detect_releases(settings: Settings, env: Mapping[str, str], base: str, head: str,
                    envs: tuple[str, ...]) -> tuple[str, ...]:
    """The affected envs whose model releases (the tfvars `serving` block) the change
    base...head changes: main.yml promotes their canary after the apply."""
    git = Git(settings.root, env=env)
    texts = []
    for ref in (base, head):
        present = set(git.list_files(ref, suffix=".tfvars"))
        paths = {e: f"envs/{e}/terraform.tfvars" for e in envs}
        found = git.read_files(ref, [p for p in paths.values() if p in present])
        texts.append({e: found[p] for e, p in paths.items() if p in found})
    return changes.released_envs(envs, texts[0], texts[1])


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = Settings.from_env(env)
    decision = detect(settings, env, args.base, args.head)
    modules = detect_modules(settings, env, args.base, args.head)
    project = load_project(settings)
    waves = changes.affected_waves(decision.envs, project.waves)
    if args.why:
        print(decision.explain(), file=sys.stderr)
        print(f"=> modules to test: {', '.join(modules.modules) or 'none'}", file=sys.stderr)
    if args.max_waves is not None:
        problem = changes.wave_slots_problem(waves, args.max_waves)
        if problem:
            raise MlopsError(problem, "main.yml applies one promotion wave per wave job, and "
                             "cannot make jobs at run time",
                             "add wave jobs to .github/workflows/main.yml (copy the last one, "
                             "renumbered) and raise --max-waves to match")
    releases = detect_releases(settings, env, args.base, args.head, decision.envs)
    print(json.dumps({**decision.as_matrix(), "modules": list(modules.modules),
                      "waves": waves, "releases": list(releases)}))
    return 0
