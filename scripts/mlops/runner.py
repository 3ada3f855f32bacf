"""A small step runner: each step's output (what mlops prints, Terraform's streamed logs,
sub-commands run in-process) goes to a log file of its own, and the terminal shows one line
per step, its duration, outcome and a short excerpt of its result (mlops.core.steps).

    steps = [Step("plan dev", lambda: plan(...)), Step("stop", stop, always=True)]
    results = StepRunner(log_dir, verbose=False).run(steps)

A step is a title and a function returning its excerpt (a string, lines, or None). It
fails by raising: an MlopsError is written to its log (error/why/fix), anything else as a
traceback. After a failure the remaining steps are skipped, except those marked `always`
(cleanup: stopping a cloud). With `verbose`, everything also goes to the terminal.

Output is captured at the Python level (sys.stdout / sys.stderr while the step runs):
Terraform's output reaches it through mlops' Terraform adapter, which echoes the lines it
reads. A subprocess writing to the inherited file descriptors directly would not be caught.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from mlops.core import steps
from mlops.errors import MlopsError

Excerpt = str | Iterable[str] | None


@dataclass(frozen=True)
class Step:
    title: str
    run: Callable[[], Excerpt]
    always: bool = False  # runs even after an earlier step failed (cleanup)


class _Tee:
    """A text stream writing to several (the log, and with --verbose the terminal)."""

    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


class StepRunner:
    def __init__(self, log_dir: Path, *, verbose: bool = False, console: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic, shown_dir: str | None = None
                 ) -> None:
        self.log_dir = log_dir
        self.verbose = verbose
        self.console = console or sys.stderr
        self.clock = clock
        self.shown_dir = shown_dir or str(log_dir)  # how the logs' directory is shown

    def _say(self, text: str = "", end: str = "\n") -> None:
        self.console.write(text + end)
        self.console.flush()

    def run(self, plan: Sequence[Step]) -> list[steps.StepResult]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for old in self.log_dir.glob("*.log"):
            old.unlink()
        results: list[steps.StepResult] = []
        failed = False
        interrupted: BaseException | None = None
        for number, step in enumerate(plan, 1):
            name = steps.log_name(number, step.title)
            shown = f"{self.shown_dir.rstrip('/')}/{name}"
            if failed and not step.always:
                results.append(steps.StepResult(number, step.title, "skipped", 0.0, shown))
                continue
            result, stopped = self._run_one(number, step, self.log_dir / name, shown)
            results.append(result)
            failed = failed or result.outcome == "failed"
            interrupted = interrupted or stopped
        if interrupted is not None:  # Ctrl-C: the cleanup steps ran; now stop
            raise interrupted
        return results

    def _run_one(self, number: int, step: Step, log: Path, shown: str
                 ) -> tuple[steps.StepResult, BaseException | None]:
        head = steps.step_head(number, step.title)
        self._say(head, end="\n" if self.verbose else "")
        started = self.clock()
        value: Excerpt = None
        outcome: steps.Outcome = "ok"
        interrupted: BaseException | None = None
        with log.open("w", encoding="utf-8") as out:
            stream: TextIO = _Tee(out, self.console) if self.verbose else out  # type: ignore[assignment]
            with redirect_stdout(stream), redirect_stderr(stream):
                try:
                    value = step.run()
                except MlopsError as err:
                    outcome = "failed"
                    print(err.render(), file=stream)
                except KeyboardInterrupt as err:
                    outcome, interrupted = "failed", err
                    print("interrupted", file=stream)
                except Exception:
                    outcome = "failed"
                    traceback.print_exc(file=stream)
        result = steps.StepResult(number, step.title, outcome, self.clock() - started, shown,
                                  steps.excerpt(value) if outcome == "ok" else ())
        first, *rest = steps.after_head(result)
        self._say(head + first if self.verbose else first)
        for line in rest:
            self._say(line)
        if outcome == "failed":
            for line in steps.failure_lines(result, log.read_text(errors="replace")):
                self._say(line)
        return result, interrupted

    def summary(self, results: Sequence[steps.StepResult]) -> None:
        self._say()
        for line in steps.summary_table(results):
            self._say(line)
