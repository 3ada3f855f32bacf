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
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlops import __version__
from mlops.errors import MlopsError

EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in mlops, not in the input

# Order is the order of `mlops --help`.
COMMANDS: tuple[str, ...] = (
    "cloud",
    "toolchain",
    "bootstrap",
    "env",
    "oidc",
    "plan",
    "apply",
    "unlock",
    "rollback",
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
    "serve",
    "k8s",
    "drift",
    "reap",
    "test",
    "docs",
    "demo",
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with `only` of that one command: importing every
    command module (policy's Rego engine, the cloud's HTTP client...) costs start-up time
    that `mlops plan` would pay on every run."""
    parser = argparse.ArgumentParser(
        prog="mlops",
        description="GitOps tooling for ML infrastructure on AWS.",
    )
    parser.add_argument("--version", action="version", version=f"mlops {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if only is None else (only,):
        module = importlib.import_module(f"mlops.commands.{name}")
        module.register(sub)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command `argv` names, when its first word is one (else the full parser is
    built, so that usage errors and --help list every command)."""
    first = argv[0] if argv else ""
    return first if first in COMMANDS else None


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    environ: Mapping[str, str] = dict(os.environ) if env is None else env
    try:
        words = list(argv) if argv is not None else sys.argv[1:]
        parser = build_parser(_command_of(words))
        try:
            args = parser.parse_args(words)
        except SystemExit as done:  # --help, --version, or argparse's usage error
            return done.code if isinstance(done.code, int) else 2
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        result: int = args.func(args, environ)
        return result
    except MlopsError as err:
        print(err.render(), file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # last resort: every input error above is an MlopsError
        return internal_error(err, environ)


def internal_error(err: Exception, env: Mapping[str, str]) -> int:
    """A bug, not bad input: no traceback on the terminal (it may hold values from the
    environment), but a log file with it, and a request to report."""
    log = _error_log_path(env)
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("".join(traceback.format_exception(err)))
        where = f"the traceback is in {log}"
    except OSError:
        where = "the traceback could not be saved"
    print(MlopsError(f"internal error in mlops ({type(err).__name__})",
                     "this is a bug in mlops, not a problem with your input",
                     f"please report it with what you ran; {where}").render(), file=sys.stderr)
    return EXIT_INTERNAL


def _error_log_path(env: Mapping[str, str]) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}"
    try:
        from mlops.settings import Settings

        base = Settings.from_env(env).state_dir
    except Exception:  # no project here: still keep the log somewhere
        base = Path(tempfile.gettempdir()) / "mlops"
    return base / "errors" / f"{stamp}.log"
