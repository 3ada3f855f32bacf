"""`mlops docs generate|check`: module README inputs/outputs tables, generated from code.

generate  rewrites the table between the TF_DOCS markers of every modules/<name>/README.md
          (a missing README is created with a title and the markers)
check     changes nothing; exits 1 naming every README whose table is stale
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops import argtypes
from mlops.core import tfdocs
from mlops.errors import MlopsError
from mlops.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "docs", help="generate or check module README inputs/outputs tables",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="docs_command", metavar="ACTION", required=True)
    for name, func, text in (
        ("generate", generate, "rewrite the tables in the module READMEs"),
        ("check", check, "exit 1 if a module README table is stale"),
    ):
        action = sub.add_parser(name, help=text)
        action.add_argument("modules", nargs="*", metavar="MODULE", type=argtypes.name_in_dir,
                            help="module names (default: every module under --modules-dir)")
        action.add_argument("--modules-dir", type=Path, default=None,
                            help="directory of modules (default: <repo>/modules)")
        action.set_defaults(func=func)


def _modules(args: argparse.Namespace, env: Mapping[str, str]) -> list[Path]:
    base: Path = args.modules_dir or Settings.from_env(env).root / "modules"
    if args.modules:
        dirs = [base / name for name in args.modules]
        missing = [str(d) for d in dirs if not d.is_dir()]
        if missing:
            raise MlopsError(f"no such module: {', '.join(missing)}",
                             f"modules are directories under {base}",
                             "check the module names, or pass --modules-dir")
        return dirs
    if not base.is_dir():
        raise MlopsError(f"{base} is not a directory", "mlops docs reads Terraform modules there",
                         "run inside the repository, or pass --modules-dir")
    return sorted(d for d in base.iterdir() if d.is_dir() and any(d.glob("*.tf")))


def _expected(module: Path) -> tuple[Path, str, str]:
    """(README path, current text, expected text)."""
    readme = module / "README.md"
    try:
        current = readme.read_text(encoding="utf-8") if readme.is_file() else ""
        files = {p.name: p.read_text(encoding="utf-8") for p in sorted(module.glob("*.tf"))}
    except (OSError, UnicodeDecodeError) as err:
        raise MlopsError(f"cannot read {module}", str(err),
                         "module files and READMEs must be readable UTF-8 text") from err
    base = current or (f"# {module.name}\n\n{tfdocs.BEGIN_MARKER}\n{tfdocs.END_MARKER}\n")
    try:
        expected = tfdocs.module_readme(files, base)
    except tfdocs.HclParseError as err:
        raise MlopsError(f"cannot read {module}: {err}",
                         "the docs generator reads variable and output blocks",
                         f"run `terraform validate` in {module} and fix the syntax") from err
    except ValueError as err:
        raise MlopsError(f"{readme}: {err}",
                         "the generated table goes between those markers",
                         f"add {tfdocs.BEGIN_MARKER} and {tfdocs.END_MARKER} lines where the "
                         "table belongs, then run `mlops docs generate`") from err
    return readme, current, expected


def generate(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    for module in _modules(args, env):
        readme, current, expected = _expected(module)
        if current != expected:
            readme.write_text(expected)
            print(f"updated {readme}", file=sys.stderr)
    return 0


def check(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    stale = [readme for readme, current, expected in map(_expected, _modules(args, env))
             if current != expected]
    for readme in stale:
        print(f"stale: {readme} does not match its module's variables and outputs",
              file=sys.stderr)
    if stale:
        print("fix: run `mlops docs generate` and commit the READMEs", file=sys.stderr)
        return 1
    return 0
