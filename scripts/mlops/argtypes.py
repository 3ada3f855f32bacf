"""Argument types for the commands' parsers: input is checked where it enters, before a
command does anything. An invalid value raises MlopsError (what, why, fix), which argparse
lets through to `cli.main`; a malformed number is argparse's own usage error. Both exit 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mlops.core import envs
from mlops.errors import MlopsError


def env_name(value: str) -> str:
    """--env: a valid env name (whether mlops.yaml lists it is checked by the command)."""
    return envs.check_env_name(value, "--env")


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"invalid int value: {value!r}") from err


def positive_int(value: str) -> int:
    number = _int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def non_negative_int(value: str) -> int:
    number = _int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is negative")
    return number


def optional_seconds(value: str) -> float | None:
    """A duration in seconds; "" is the option's default (None), as a workflow passes an
    unset input or repository variable (`--bake "$CANARY_BAKE"`)."""
    if not value.strip():
        return None
    try:
        return float(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from err


def output_dir(value: str) -> Path:
    """A directory to write into: created later, but it must not be a file already."""
    path = Path(value)
    if "\0" in value or not value:
        raise argparse.ArgumentTypeError(f"{value!r} is not a path")
    if path.exists() and not path.is_dir():
        raise MlopsError(f"{value} is not a directory",
                         "mlops writes the plan files into that directory",
                         "pass a directory (it is created when missing), or remove the file")
    return path


def name_in_dir(value: str) -> str:
    """A plain name of an entry in a directory (a module name): never a path."""
    if not value or value in (".", "..") or "/" in value or "\\" in value or "\0" in value:
        raise MlopsError(f"{value!r} is not a module name",
                         "modules are named by their directory under modules/",
                         "pass the directory's name only, e.g. ml_bucket")
    return value


def reason(value: str) -> str:
    """A deployment's reason (core.deployments.check_reason)."""
    from mlops.core.deployments import check_reason

    try:
        return check_reason(value)
    except ValueError as err:
        raise MlopsError(f"--reason: {err}", "the reason is kept in the deployment record "
                         "and shown in the job summary", "say why in one line") from err


def fingerprint(value: str) -> str:
    """A plan fingerprint, or its first 12 or more hex characters (core/fingerprint.py)."""
    text = value.strip().lower()
    if text and (len(text) < 12 or len(text) > 64 or
                 any(c not in "0123456789abcdef" for c in text)):
        raise MlopsError(f"--approved-fingerprint {value!r} is not a plan fingerprint",
                         "a fingerprint is 64 hex characters (12 or more are enough)",
                         "pass the `fingerprint` output of the held apply step")
    return text
