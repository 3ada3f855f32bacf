"""The one `mlops` command line. Parses arguments and dispatches to a command module.

Each module in `mlops.commands` listed in COMMANDS exposes:
  register(subparsers) -> None   adds its sub-command(s), setting `func`
  and its handlers have the shape  handler(args, env) -> int
Nothing here reads the environment or builds a client at import time.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping, Sequence

from mlops import __version__
from mlops.errors import MlopsError

# Order is the order of `mlops --help`.
COMMANDS: tuple[str, ...] = (
    "cloud",
    "toolchain",
    "bootstrap",
    "env",
    "plan",
    "apply",
    "destroy",
    "comment",
    "changed",
    "policy",
    "train",
    "artifact",
    "release",
    "canary",
    "endpoint",
    "traffic",
    "docs",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops",
        description="GitOps tooling for ML infrastructure on AWS.",
    )
    parser.add_argument("--version", action="version", version=f"mlops {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"mlops.commands.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    environ: Mapping[str, str] = dict(os.environ) if env is None else env
    try:
        result: int = args.func(args, environ)
        return result
    except MlopsError as err:
        print(err.render(), file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
