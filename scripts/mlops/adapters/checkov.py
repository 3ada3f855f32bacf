"""checkov as a subprocess, from its own virtualenv.

checkov pins dozens of libraries (boto3, pydantic, networkx, ...) that would fight the
mlops pins, so it lives in `<root>/.venv-tools/checkov`, created on first use with
`pip install checkov==VERSION` (PyPI or the configured index). Set CHECKOV to the path of
a checkov binary to skip the venv.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlops.errors import MlopsError

VERSION = "3.3.30"
TOOLS_DIR = ".venv-tools"


def venv_dir(root: Path) -> Path:
    return root / TOOLS_DIR / "checkov"


def installed_version(binary: Path, env: Mapping[str, str]) -> str | None:
    if not binary.is_file():
        return None
    out = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, check=False, env=dict(env)
    )
    return out.stdout.strip() if out.returncode == 0 else None


def ensure(root: Path, env: Mapping[str, str], python: str = sys.executable) -> Path:
    """The checkov binary: $CHECKOV, or the tool venv's, installing it if needed."""
    if env.get("CHECKOV"):
        binary = Path(env["CHECKOV"])
        if not binary.is_file():
            raise MlopsError(
                f"CHECKOV={binary} does not exist",
                "mlops runs the checkov binary CHECKOV points at",
                "fix the path, or unset CHECKOV to let mlops install checkov",
            )
        return binary
    venv = venv_dir(root)
    binary = venv / "bin" / "checkov"
    if installed_version(binary, env) == VERSION:
        return binary
    print(f"installing checkov=={VERSION} into {venv} (once)", file=sys.stderr)
    steps = [
        [python, "-m", "venv", "--clear", str(venv)],
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"checkov=={VERSION}",
        ],
    ]
    for step in steps:
        out = subprocess.run(step, capture_output=True, text=True, check=False, env=dict(env))
        if out.returncode != 0:
            raise MlopsError(
                f"could not install checkov {VERSION} into {venv}",
                (out.stderr.strip().splitlines() or ["no output"])[-1],
                "check access to PyPI (or PIP_INDEX_URL), or install checkov yourself "
                "and set CHECKOV to its path",
            )
    return binary


def run(
    binary: Path, root: Path, config: Path, env: Mapping[str, str], extra: Sequence[str] = ()
) -> int:
    """Run checkov from `root` with `config` (which names the directories); its exit code."""
    # Offline: no policy download from the Prisma/Bridgecrew platform (also in the config,
    # repeated here so a trimmed config cannot turn it off).
    args = [str(binary), "--config-file", str(config), "--skip-download", *extra]
    return subprocess.run(
        args, cwd=root, check=False, env={**env, "BC_SKIP_MAPPING": "TRUE"}
    ).returncode
