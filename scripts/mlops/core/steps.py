"""How a run of steps reads on the terminal (the demo, and later runbooks): one line per
step with its outcome and duration, a short excerpt of its result, the tail of the log of a
step that failed, and a summary table. Pure: `mlops.runner` runs the steps and writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["ok", "failed", "skipped"]
MAX_EXCERPT_LINES = 4
MAX_WIDTH = 100
TAIL_LINES = 15
TITLE_WIDTH = 44
_MARK = {"ok": "ok", "failed": "FAILED", "skipped": "skipped"}


@dataclass(frozen=True)
class StepResult:
    number: int
    title: str
    outcome: Outcome
    seconds: float
    log: str  # path of the step's full log, as shown
    excerpt: tuple[str, ...] = ()


def slug(title: str) -> str:
    """A file-name-safe short form of a step title: "plan dev (the PR)" -> "plan-dev-the-pr"."""
    kept: list[str] = []
    for word in re.findall(r"[a-z0-9]+", title.lower()):
        if len("-".join([*kept, word])) > 40:
            break
        kept.append(word)
    return "-".join(kept) or "step"


def log_name(number: int, title: str) -> str:
    return f"{number:02d}-{slug(title)}.log"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def clip(line: str, width: int = MAX_WIDTH) -> str:
    line = line.rstrip()
    return line if len(line) <= width else line[: width - 1] + "…"


def excerpt(value: str | Iterable[str] | None, max_lines: int = MAX_EXCERPT_LINES) -> tuple[
        str, ...]:
    """What a step returned, as at most `max_lines` clipped, non-empty lines (the last
    one says how many more there were)."""
    if value is None:
        return ()
    lines = value.splitlines() if isinstance(value, str) else [
        sub for item in value for sub in str(item).splitlines()]
    lines = [clip(line) for line in lines if line.strip()]
    if len(lines) > max_lines:
        hidden = len(lines) - (max_lines - 1)
        lines = [*lines[: max_lines - 1], f"… and {hidden} more line{'s' * (hidden != 1)}"]
    return tuple(lines)


def step_head(number: int, title: str) -> str:
    """The start of a step's line, written before it runs (its result follows)."""
    return f"{number:2d}. {title} ".ljust(TITLE_WIDTH + 5, ".") + " "


def step_tail(result: StepResult) -> str:
    return f"{_MARK[result.outcome]:<7} {duration(result.seconds):>7}"


def step_lines(result: StepResult) -> list[str]:
    """The step's line and its excerpt, indented under it."""
    return [step_head(result.number, result.title) + step_tail(result),
            *(f"      {line}" for line in result.excerpt)]


def failure_lines(result: StepResult, log_text: str, tail: int = TAIL_LINES) -> list[str]:
    """What a failed step shows: the last lines of its log, and where the whole log is."""
    lines = [line for line in log_text.splitlines() if line.strip()]
    shown = [clip(line, MAX_WIDTH + 20) for line in lines[-tail:]]
    cut = len(lines) - len(shown)
    head = (f"      last {len(shown)} of {len(lines)} log lines:" if cut
            else "      its log:")
    return [head, *(f"      | {line}" for line in shown), f"      full log: {result.log}"]


def summary_table(results: Sequence[StepResult]) -> list[str]:
    """The steps, their outcome, duration and log, and the total."""
    width = max([len(r.title) for r in results] + [4]) + 4
    rows = [f"  {'step':<{width}}{'outcome':<9}{'time':>8}  log"]
    for r in results:
        name = f"{r.number:02d} {r.title}"
        rows.append(f"  {name:<{width}}{_MARK[r.outcome]:<9}{duration(r.seconds):>8}  "
                    f"{r.log if r.outcome != 'skipped' else ''}".rstrip())
    total = sum(r.seconds for r in results)
    failed = [r for r in results if r.outcome == "failed"]
    verdict = "all ok" if not failed else f"FAILED at step {failed[0].number}"
    rows.append(f"  {'total: ' + verdict:<{width + 9}}{duration(total):>8}")
    return rows
