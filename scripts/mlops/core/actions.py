"""GitHub Actions runner file and workflow-command formats. Pure.

- `::add-mask::VALUE` (workflow commands, "Masking a value in a log"): the runner replaces
  VALUE with *** in every later log line. It must be printed before anything that could
  print VALUE. A value with a newline cannot be masked as one line: refused.
- `$GITHUB_ENV` (workflow commands, "Setting an environment variable"): `NAME=value` lines,
  or for a value with newlines the multiline form `NAME<<DELIMITER` ... `DELIMITER`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def mask_command(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("a value with a line break cannot be masked as one value")
    return f"::add-mask::{value}"


def env_file_text(values: Mapping[str, str], delimiter: str | None = None) -> str:
    """Lines to append to $GITHUB_ENV for `values` (names checked)."""
    out: list[str] = []
    for name, value in values.items():
        if not _NAME.match(name) or name.upper().startswith("GITHUB_"):
            raise ValueError(f"{name!r} cannot be set through GITHUB_ENV")
        if "\n" in value or "\r" in value:
            marker = delimiter or f"ghadelimiter_{uuid.uuid4()}"
            if marker in value:
                raise ValueError("the delimiter occurs in the value")
            out += [f"{name}<<{marker}", value, marker]
        else:
            out.append(f"{name}={value}")
    return "\n".join(out) + "\n" if out else ""
