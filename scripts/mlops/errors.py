"""User-facing errors: what happened, why, and how to fix it."""

from __future__ import annotations


class MlopsError(Exception):
    """An error the user can act on. The CLI prints it and exits non-zero, no traceback."""

    exit_code = 2

    def __init__(self, what: str, why: str = "", fix: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.why = why
        self.fix = fix

    def render(self) -> str:
        lines = [f"error: {self.what}"]
        if self.why:
            lines.append(f"  why: {self.why}")
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)
