"""git as a subprocess: resolve refs, list changed paths, read files at a ref."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlops.errors import MlopsError


class GitError(MlopsError):
    """git failed or was asked about something that is not there."""


@dataclass
class Git:
    repo: Path
    binary: str = "git"
    env: Mapping[str, str] = field(default_factory=dict)

    def _run(
        self, args: Sequence[str], stdin: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                [self.binary, "-C", str(self.repo), *args],
                input=stdin,
                capture_output=True,
                check=False,
                env={**self.env, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"} if self.env else None,
            )
        except FileNotFoundError as err:
            raise GitError(
                f"git not found (looked for {self.binary!r})",
                "change detection reads the diff and the .tf files from git",
                "install git, or put it on PATH",
            ) from err

    def resolve(self, ref: str) -> str:
        """The commit id `ref` names; a clear error when it names none."""
        if not ref or ref.startswith("-"):
            raise GitError(
                f"{ref!r} is not a git ref",
                "a ref cannot be empty or start with '-'",
                "pass a branch, tag or commit id, e.g. --base origin/main",
            )
        out = self._run(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"]
        )
        if out.returncode != 0:
            inside = self._run(["rev-parse", "--git-dir"])
            if inside.returncode != 0:
                raise GitError(
                    f"{self.repo} is not a git repository",
                    inside.stderr.decode(errors="replace").strip(),
                    "run mlops inside the repository checkout, or set MLOPS_ROOT",
                )
            raise GitError(
                f"unknown git ref {ref!r}",
                f"it names no commit in {self.repo}",
                "fetch it first (CI: actions/checkout with fetch-depth: 0, or "
                "`git fetch origin <branch>`), or check the spelling",
            )
        return out.stdout.decode().strip()

    def source_state(self) -> tuple[str | None, bool]:
        """(HEAD commit, working tree has uncommitted changes) for provenance records;
        (None, False) outside a git checkout (e.g. a source tarball), never an error."""
        head = self._run(["rev-parse", "--verify", "--quiet", "HEAD"])
        if head.returncode != 0:
            return None, False
        status = self._run(["status", "--porcelain", "--untracked-files=no"])
        return head.stdout.decode().strip(), bool(status.stdout.strip())

    def changed_paths(self, base: str, head: str) -> list[str]:
        """Paths changed between the merge base of base and head, and head (`base...head`).

        A rename or copy counts both its old and its new path. Order: as git reports them.
        """
        base_id, head_id = self.resolve(base), self.resolve(head)
        merge_base = self._run(["merge-base", base_id, head_id])
        if merge_base.returncode != 0:
            raise GitError(
                f"{base} and {head} have no common ancestor",
                "the diff base...head needs their merge base; a shallow clone often lacks it",
                "fetch full history: actions/checkout with fetch-depth: 0, "
                "or `git fetch --unshallow`",
            )
        out = self._run(
            ["diff", "--name-status", "-z", "-M", "--no-ext-diff", f"{base_id}...{head_id}"]
        )
        if out.returncode != 0:
            raise GitError(
                f"git diff {base}...{head} failed",
                out.stderr.decode(errors="replace").strip(),
                "check that both refs exist in this clone",
            )
        return parse_name_status(out.stdout.decode("utf-8", errors="surrogateescape"))

    def list_files(self, ref: str, suffix: str = "") -> list[str]:
        out = self._run(["ls-tree", "-r", "-z", "--name-only", self.resolve(ref)])
        if out.returncode != 0:
            raise GitError(
                f"cannot list the files of {ref}",
                out.stderr.decode(errors="replace").strip(),
                "check that the ref exists in this clone",
            )
        names = [n for n in out.stdout.decode("utf-8", errors="surrogateescape").split("\0") if n]
        return [n for n in names if n.endswith(suffix)]

    def read_files(self, ref: str, paths: Sequence[str]) -> dict[str, str]:
        """`{path: text}` of files as they are at `ref`, read in one `git cat-file --batch`."""
        if not paths:
            return {}
        commit = self.resolve(ref)
        request = "".join(f"{commit}:{p}\n" for p in paths).encode(
            "utf-8", errors="surrogateescape"
        )
        out = self._run(["cat-file", "--batch"], stdin=request)
        if out.returncode != 0:
            raise GitError(
                f"cannot read files at {ref}",
                out.stderr.decode(errors="replace").strip(),
                "check that the ref exists in this clone",
            )
        files: dict[str, str] = {}
        data = out.stdout
        pos = 0
        for path in paths:
            header_end = data.index(b"\n", pos)
            header = data[pos:header_end].split(b" ")
            pos = header_end + 1
            if len(header) < 3 or header[1] != b"blob":  # "<name> missing" or a non-blob
                continue
            size = int(header[2])
            files[path] = data[pos : pos + size].decode("utf-8", errors="replace")
            pos += size + 1  # content is followed by a newline
        return files

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether `ancestor` is an ancestor of (or equal to) `descendant`."""
        out = self._run(["merge-base", "--is-ancestor", self.resolve(ancestor),
                         self.resolve(descendant)])
        if out.returncode not in (0, 1):
            raise GitError(f"cannot tell whether {ancestor} is an ancestor of {descendant}",
                           out.stderr.decode(errors="replace").strip(),
                           "fetch full history: actions/checkout with fetch-depth: 0")
        return out.returncode == 0

    def has_path(self, ref: str, path: str) -> bool:
        """Whether `path` (file or directory) exists in the tree of `ref`."""
        return self._run(["cat-file", "-e", f"{self.resolve(ref)}:{path}"]).returncode == 0

    def commits_touching(self, base: str, head: str, paths: Sequence[str]) -> list[str]:
        """Commits in base..head that change any of `paths`, newest first."""
        if not paths:
            return []
        out = self._run(["log", "--format=%H", f"{self.resolve(base)}..{self.resolve(head)}",
                         "--", *paths])
        if out.returncode != 0:
            raise GitError(f"git log {base}..{head} failed",
                           out.stderr.decode(errors="replace").strip(),
                           "check that both refs exist in this clone")
        return [line for line in out.stdout.decode().split() if line]

    def export(self, ref: str, dest: Path) -> None:
        """The tree of `ref` written to `dest` (git archive), without touching the checkout."""
        import io
        import tarfile

        out = self._run(["archive", "--format=tar", self.resolve(ref)])
        if out.returncode != 0:
            raise GitError(f"git archive {ref} failed", out.stderr.decode(errors="replace"),
                           "check that the ref exists in this clone")
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(out.stdout)) as archive:
            archive.extractall(dest, filter="data")


def parse_name_status(output: str) -> list[str]:
    """Parse `git diff --name-status -z`: `S\\0path\\0` or `R<score>\\0old\\0new\\0`."""
    fields = output.split("\0")
    paths: list[str] = []
    i = 0
    while i < len(fields):
        status = fields[i]
        if not status:
            i += 1
            continue
        if status[0] in "RC":
            paths.extend(p for p in fields[i + 1 : i + 3] if p)
            i += 3
        else:
            if i + 1 < len(fields) and fields[i + 1]:
                paths.append(fields[i + 1])
            i += 2
    return paths
