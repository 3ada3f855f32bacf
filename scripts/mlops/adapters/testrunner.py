"""pytest as a subprocess: the module plan and apply tests, run by `mlops test modules`.

The tests live in the repository (tests/terraform/) and need the dev extra (pytest,
tftest, pytest-terraform, moto for the embedded AWS): checked before running, so a missing
install says how to fix it instead of failing inside pytest.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlops.errors import MlopsError

NEEDED = ("pytest", "tftest", "pytest_terraform", "moto")


def check_installed() -> None:
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise MlopsError(
            f"the module tests need {', '.join(missing)}, which are not installed",
            "they are in the dev extra of pyproject.toml",
            "pip install -e '.[moduletests]' (or `make setup`: the dev extra has them too)",
        )


def run(root: Path, files: Sequence[str], keyword: str, env: Mapping[str, str],
        extra: Sequence[str] = ()) -> int:
    """pytest FILES -k KEYWORD from `root`; its exit code (0 passed, 1 failed, ...)."""
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise MlopsError(f"no module tests at {', '.join(missing)}",
                         f"mlops test modules runs the tests in {root}/tests/terraform/",
                         "run it from the repository checkout (or set MLOPS_ROOT)")
    argv = [sys.executable, "-m", "pytest", *files, "-k", keyword, "-p", "no:cacheprovider",
            *extra]
    return subprocess.run(argv, cwd=root, env=dict(env), check=False).returncode
