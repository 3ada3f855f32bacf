"""actions/download-artifact (v4) on the host: copies artifacts of this run from
STANDIN_ARTIFACTS (where ../upload-artifact put them) into the workspace.

The semantics are the real action's (its README): `name` puts that artifact's files in
`path` itself and fails when it does not exist; otherwise every artifact (or those whose
name matches `pattern`) goes to `path/<name>/`, or straight into `path` with
merge-multiple. Standard library only: it runs with whatever python3 the job has on PATH.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import sys
from pathlib import Path


def fail(message: str) -> None:
    print(f"::error::{message}")
    sys.exit(1)


def main() -> None:
    root = os.environ.get("STANDIN_ARTIFACTS")
    if not root:
        fail("STANDIN_ARTIFACTS is not set: the harness gives each run an artifact store")
    store = Path(str(root))
    workspace = Path(os.environ["GITHUB_WORKSPACE"])
    name = os.environ.get("INPUT_NAME", "")
    pattern = os.environ.get("INPUT_PATTERN", "")
    target = Path(os.environ.get("INPUT_PATH") or workspace)
    if not target.is_absolute():
        target = workspace / target
    available = sorted(p.name for p in store.iterdir()
                       if p.is_dir() and not p.name.startswith(".")) if store.is_dir() else []
    if name:
        if name not in available:
            fail(f"Unable to download artifact(s): Artifact not found for name: {name}")
        shutil.copytree(store / name, target, dirs_exist_ok=True)
        print(f"Artifact {name} downloaded to {target}")
    else:
        chosen = [a for a in available if not pattern or fnmatch.fnmatchcase(a, pattern)]
        merge = os.environ.get("INPUT_MERGE_MULTIPLE") == "true"
        for artifact in chosen:
            shutil.copytree(store / artifact, target if merge else target / artifact,
                            dirs_exist_ok=True)
        print(f"{len(chosen)} artifact(s) downloaded to {target}: {', '.join(chosen)}")
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as fh:
        fh.write(f"download-path={target}\n")


if __name__ == "__main__":
    main()
