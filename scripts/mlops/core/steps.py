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
LINE_WIDTH = 120  # what a terminal shows: no line is longer
INDENT = "      "
MAX_WIDTH = LINE_WIDTH - len(INDENT)  # an excerpt line, indented under its step
TAIL_LINES = 15
TITLE_WIDTH = 44
MAX_SLUG = 34  # two columns of log names fit in LINE_WIDTH
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
        if len("-".join([*kept, word])) > MAX_SLUG:
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


def after_head(result: StepResult) -> list[str]:
    """What follows a step's head once it ran: its tail, then its excerpt. A one-line
    excerpt that fits goes on the step's own line; longer ones are indented under it."""
    tail = step_tail(result)
    room = LINE_WIDTH - len(step_head(result.number, result.title)) - len(tail) - 2
    if len(result.excerpt) == 1 and len(result.excerpt[0]) <= room:
        return [f"{tail}  {result.excerpt[0]}"]
    return [tail, *(f"{INDENT}{line}" for line in result.excerpt)]


def step_lines(result: StepResult) -> list[str]:
    """The step's line and its excerpt (on the line when it fits, else indented under it)."""
    first, *rest = after_head(result)
    return [step_head(result.number, result.title) + first, *rest]


def failure_lines(result: StepResult, log_text: str, tail: int = TAIL_LINES) -> list[str]:
    """What a failed step shows: the last lines of its log, and where the whole log is."""
    lines = [line for line in log_text.splitlines() if line.strip()]
    shown = [clip(line, LINE_WIDTH - len(INDENT) - 2) for line in lines[-tail:]]
    cut = len(lines) - len(shown)
    head = (f"      last {len(shown)} of {len(lines)} log lines:" if cut
            else "      its log:")
    return [head, *(f"      | {line}" for line in shown), f"      full log: {result.log}"]


def summary_table(results: Sequence[StepResult], columns: int = 2) -> list[str]:
    """The steps as their logs (whose names carry the step's number and title), each with
    its outcome and duration, in `columns` columns read down then across, and the total:
    a table that stays short when the story is long."""
    cells = [(f"{r.log.rsplit('/', 1)[-1]}" if r.outcome != "skipped" else
              f"{r.number:02d}-{slug(r.title)}", _MARK[r.outcome], duration(r.seconds))
             for r in results]
    name_width = max([len(c[0]) for c in cells] + [4])
    cell_width = name_width + 16
    if 2 + columns * (cell_width + 2) - 2 > LINE_WIDTH:
        columns = 1
    rows_count = -(-len(cells) // columns) if cells else 0
    header = f"{'step (its log)':<{name_width}}  {'outcome':<8}{'time':>6}"
    rows = ["  " + "  ".join(header.ljust(cell_width)
                            for _ in range(min(columns, len(cells)) or 1)).rstrip()]
    for row in range(rows_count):
        parts = []
        for column in range(columns):
            index = column * rows_count + row
            if index < len(cells):
                name, mark, took = cells[index]
                parts.append(f"{name:<{name_width}}  {mark:<8}{took:>6}")
        rows.append(("  " + "  ".join(parts)).rstrip())
    total = sum(r.seconds for r in results)
    failed = [r for r in results if r.outcome == "failed"]
    verdict = "all ok" if not failed else f"FAILED at step {failed[0].number}"
    logs = {r.log.rsplit("/", 1)[0] + "/" for r in results if "/" in r.log}
    where = f" (full logs: {logs.pop()})" if len(logs) == 1 else ""
    rows.append(f"  total: {verdict}, {duration(total)}{where}")
    return rows
