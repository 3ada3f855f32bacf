"""actions/upload-artifact (v4) on the host: the run's artifacts are directories under
STANDIN_ARTIFACTS, which the harness creates per run, so a later job of the same run
downloads (../download-artifact) what an earlier one uploaded.

The semantics are the real action's (its README and @actions/artifact):
`path` lines are files, directories or globs, `!` lines exclude; the artifact's root is
the least common ancestor of the search paths (a single directory: its contents); hidden
files are left out unless include-hidden-files; nothing found warns (or errors, or is
ignored, per if-no-files-found); a second upload of a name in the same run is a conflict
unless overwrite is true; names may not hold " : < > | * ? \\ / CR LF.
Standard library only: it runs with whatever python3 the job has on PATH.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import sys
from pathlib import Path

BAD_NAME_CHARS = set('":<>|*?\\/\r\n')


def fail(message: str) -> None:
    print(f"::error::{message}")
    sys.exit(1)


def output(name: str, value: str) -> None:
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as fh:
        fh.write(f"{name}={value}\n")


def store() -> Path:
    root = os.environ.get("STANDIN_ARTIFACTS")
    if not root:
        fail("STANDIN_ARTIFACTS is not set: the harness gives each run an artifact store")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def workspace() -> Path:
    return Path(os.environ["GITHUB_WORKSPACE"])


def hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def search(lines: list[str], include_hidden: bool) -> tuple[Path, list[Path]]:
    """(root, files) for the `path` input, as @actions/artifact's upload does."""
    includes = [ln for ln in lines if not ln.startswith("!")]
    excludes = [ln[1:] for ln in lines if ln.startswith("!")]
    base = workspace()
    files: set[Path] = set()
    roots: list[Path] = []
    for pattern in includes:
        full = str(base / pattern) if not os.path.isabs(pattern) else pattern
        # the search path of a glob is the part before its first wildcard
        stem = full.split("*")[0].split("?")[0].split("[")[0]
        roots.append(Path(stem) if stem == full else Path(stem).parent)
        for match in glob.glob(full, recursive=True):
            p = Path(match)
            if p.is_dir():
                files.update(f for f in p.rglob("*") if f.is_file())
            elif p.is_file():
                files.add(p)
    for pattern in excludes:
        full = str(base / pattern) if not os.path.isabs(pattern) else pattern
        for match in glob.glob(full, recursive=True):
            p = Path(match)
            files = {f for f in files if f != p and p not in f.parents}
    if not roots:
        fail("path is required")
    root = Path(os.path.commonpath([str(r) for r in roots]))
    if len(roots) == 1 and roots[0].is_file():
        root = roots[0].parent
    if not include_hidden:
        files = {f for f in files if not hidden(f, root)}
    return root, sorted(files)


def upload() -> None:
    name = os.environ.get("INPUT_NAME") or "artifact"
    if BAD_NAME_CHARS & set(name):
        fail(f'The artifact name is not valid: {name}. Contains the following character: '
             f'{"".join(sorted(BAD_NAME_CHARS & set(name)))!r}')
    lines = [ln.strip() for ln in os.environ.get("INPUT_PATH", "").splitlines() if ln.strip()]
    root, files = search(lines, os.environ.get("INPUT_INCLUDE_HIDDEN_FILES") == "true")
    if not files:
        mode = os.environ.get("INPUT_IF_NO_FILES_FOUND") or "warn"
        message = f"No files were found with the provided path: {chr(10).join(lines)}. " \
                  "No artifacts will be uploaded."
        if mode == "error":
            fail(message)
        if mode == "warn":
            print(f"::warning::{message}")
        return
    dest = store() / name
    if dest.exists():
        if os.environ.get("INPUT_OVERWRITE") != "true":
            fail(f"Failed to CreateArtifact: an artifact with this name already exists on the "
                 f"workflow run: {name} (set overwrite: true to replace it)")
        shutil.rmtree(dest)
    tmp = dest.with_name(f".{name}.{os.getpid()}")
    digest = hashlib.sha256()
    for f in files:
        rel = f.relative_to(root)
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, tmp / rel)
        digest.update(str(rel).encode() + b"\0" + f.read_bytes())
    tmp.rename(dest)
    ids = sorted(p.name for p in store().iterdir() if not p.name.startswith("."))
    output("artifact-id", str(ids.index(name) + 1))
    output("artifact-digest", digest.hexdigest())
    print(f"Artifact {name} uploaded: {len(files)} file(s) from {root}")


if __name__ == "__main__":
    upload()
