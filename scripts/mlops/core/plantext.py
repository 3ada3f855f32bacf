"""The text plan from `terraform plan`'s own output, so no second `terraform show` (which
loads every provider's schema again: as much CPU as the plan itself) is needed. Pure."""

from __future__ import annotations

import re

# Progress lines terraform prints while refreshing, before it renders the plan.
_PROGRESS = re.compile(
    r"^\S.*: (Refreshing state\.\.\.|Reading\.\.\.|Read complete after \S+"
    r"|Still reading\.\.\. \[[^\]]*\])( \[[^\]]*\])?$")
_RULE = re.compile(r"^─+$")


def from_plan_stdout(stdout: str) -> str:
    """What `terraform show -no-color PLANFILE` prints, from `terraform plan -no-color`'s
    stdout: without the refresh progress before it and the "Saved the plan to" trailer
    after it (printed when TF_IN_AUTOMATION is unset)."""
    lines = stdout.splitlines()
    start = 0
    while start < len(lines) and (not lines[start].strip() or _PROGRESS.match(lines[start])):
        start += 1
    body = lines[start:]
    for i, line in enumerate(body):
        if line.startswith("Saved the plan to:"):
            end = i
            while end > 0 and (not body[end - 1].strip() or _RULE.match(body[end - 1].strip())):
                end -= 1
            body = body[:end]
            break
    return "\n".join(body).rstrip("\n") + "\n" if body else ""
