"""`mlops test modules`: the plan tests (tftest, against expected inventories) and the apply
tests (pytest-terraform, against the embedded AWS) of the modules a change touches.

  mlops test modules [MODULE ...] [--changed --base REF [--head REF]] [--plan-only]
                     [--list] [--pytest-args="ARGS"]

Without MODULE or --changed: every module. --changed picks, from `git diff BASE...HEAD`,
each module whose files changed, the modules that call it, and the module whose test
fixture or inventory changed (core/changes.py). --list prints {"modules": [...]} and runs
nothing. Exit: pytest's (0 passed), or 0 when no module is affected.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from mlops import argtypes, ui
from mlops.adapters import testrunner
from mlops.adapters.git import Git
from mlops.core import changes
from mlops.errors import MlopsError
from mlops.settings import Settings

PLAN_TESTS, APPLY_TESTS = changes.MODULE_TEST_FILES


def register(sub: Any) -> None:
    parser = sub.add_parser("test", help="run the module tests (plan and apply)",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="test_command", metavar="WHAT", required=True)
    modules = verbs.add_parser("modules", help="plan and apply tests of modules",
                               description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    modules.add_argument("modules", nargs="*", metavar="MODULE", type=argtypes.name_in_dir,
                         help="module names (directories under modules/)")
    modules.add_argument("--changed", action="store_true",
                         help="the modules the change since --base touches")
    modules.add_argument("--base", help="with --changed: the base git ref (e.g. origin/main)")
    modules.add_argument("--head", default="HEAD", help="with --changed: the head ref")
    modules.add_argument("--plan-only", action="store_true",
                         help="only the plan tests (no apply against the embedded AWS)")
    modules.add_argument("--list", action="store_true",
                         help='print {"modules": [...]} and run nothing')
    modules.add_argument("--pytest-args", default="", metavar="ARGS",
                         help='passed to pytest, e.g. --pytest-args="-n 2 -x" (with "=": '
                              "the value starts with -)")
    modules.set_defaults(func=run_modules)


def all_modules(settings: Settings) -> list[str]:
    base = settings.root / "modules"
    return sorted(p.name for p in base.iterdir() if (p / "versions.tf").is_file()) \
        if base.is_dir() else []


def choose(settings: Settings, env: Mapping[str, str], args: argparse.Namespace,
           known: Sequence[str]) -> changes.ModuleDecision:
    if args.changed:
        if args.modules:
            raise MlopsError("name modules or pass --changed, not both",
                             "--changed works out the modules from the diff",
                             "drop the module names, or --changed")
        if not args.base:
            raise MlopsError("--changed needs --base", "the change is the diff base...head",
                             "e.g. mlops test modules --changed --base origin/main")
        git = Git(settings.root, env=env)
        paths = git.changed_paths(args.base, args.head)
        graphs = [changes.build_module_graph(git.read_files(ref, git.list_files(ref, ".tf")))
                  for ref in (args.base, args.head)]
        return changes.affected_modules(paths, changes.merge_graphs(*graphs), known)
    unknown = [m for m in args.modules if m not in known]
    if unknown:
        raise MlopsError(f"unknown module(s) {', '.join(unknown)}",
                         f"the modules are the directories of modules/: {', '.join(known)}",
                         "name one of them, or pass no name for all")
    chosen = tuple(args.modules) or tuple(known)
    return changes.ModuleDecision(chosen, ())


def run_modules(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = Settings.from_env(env)
    decision = choose(settings, env, args, all_modules(settings))
    if decision.reasons:
        print(decision.explain(), file=sys.stderr)
    if args.list:
        print(json.dumps(decision.as_json()))
        return 0
    if not decision.modules:
        ui.step("no module is affected: no module test to run")
        return 0
    testrunner.check_installed()
    files = [PLAN_TESTS] if args.plan_only else [PLAN_TESTS, APPLY_TESTS]
    extra = shlex.split(args.pytest_args)
    kind = "plan tests" if args.plan_only else "plan and apply tests"
    ui.step(f"{kind} of {', '.join(decision.modules)}")
    return testrunner.run(settings.root, files, " or ".join(decision.modules), env, extra)
