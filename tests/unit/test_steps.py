"""core/steps.py (how a run of steps reads) and mlops.runner (where their output goes)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from mlops.core import steps
from mlops.core.steps import StepResult
from mlops.errors import MlopsError
from mlops.runner import Step, StepRunner


@pytest.mark.parametrize(("title", "slug"), [
    ("plan dev (what a pull request gets)", "plan-dev-what-a-pull-request-gets"),
    ("bootstrap/: state bucket, OIDC provider, roles", "bootstrap-state-bucket-oidc"),  # MAX_SLUG
    ("!!!", "step"),
])
def test_slug(title: str, slug: str) -> None:
    assert steps.slug(title) == slug
    assert steps.log_name(3, title) == f"03-{slug}.log"


@pytest.mark.parametrize(("seconds", "text"), [(0.04, "0.0s"), (9.96, "10.0s"),
                                                (59.9, "59.9s"), (61, "1m01s"),
                                                (3600, "60m00s")])
def test_duration(seconds: float, text: str) -> None:
    assert steps.duration(seconds) == text


@pytest.mark.parametrize(("value", "expected"), [
    (None, ()),
    ("one line", ("one line",)),
    (["a", "", "b\nc"], ("a", "b", "c")),
    (["1", "2", "3", "4", "5", "6"], ("1", "2", "3", "… and 3 more lines")),
    ("x" * 150, ("x" * (steps.MAX_WIDTH - 1) + "…",)),
])
def test_excerpt(value: str | list[str] | None, expected: tuple[str, ...]) -> None:
    assert steps.excerpt(value) == expected


def test_step_lines_align_and_indent_the_excerpt() -> None:
    result = StepResult(2, "bootstrap/", "ok", 12.34, "l/02.log", ("state bucket b", "two"))
    line, detail, _ = steps.step_lines(result)
    assert line.startswith(" 2. bootstrap/ ....") and line.endswith("ok        12.3s")
    assert len(line) == len(steps.step_lines(StepResult(10, "x", "failed", 1, "l"))[0])
    assert detail == "      state bucket b"


def test_failure_lines_show_the_tail_and_the_log() -> None:
    log = "\n".join(f"line {i}" for i in range(40))
    lines = steps.failure_lines(StepResult(4, "t", "failed", 1.0, ".mlops/demo/04-t.log"),
                                log)
    assert lines[0] == "      last 15 of 40 log lines:"
    assert lines[1] == "      | line 25" and lines[-2] == "      | line 39"
    assert lines[-1] == "      full log: .mlops/demo/04-t.log"


def test_summary_table() -> None:
    table = steps.summary_table([
        StepResult(1, "start", "ok", 1.0, "d/01-start.log"),
        StepResult(2, "plan", "failed", 70.0, "d/02-plan.log"),
        StepResult(3, "apply", "skipped", 0.0, "d/03-apply.log"),
        StepResult(4, "stop", "ok", 0.5, "d/04-stop.log")])
    # two columns, read down then across
    assert table[0].split() == ["step", "(its", "log)", "outcome", "time"] * 2
    assert table[1].split() == ["01-start.log", "ok", "1.0s", "03-apply", "skipped", "0.0s"]
    assert table[2].split() == ["02-plan.log", "FAILED", "1m10s", "04-stop.log", "ok", "0.5s"]
    assert table[-1] == "  total: FAILED at step 2, 1m12s (full logs: d/)"
    assert len(table) == 4


def test_a_long_story_keeps_a_short_table_within_the_terminal() -> None:
    title = "step number {} with a rather long title indeed".format
    results = [StepResult(n, title(n), "ok", 2.0, f".mlops/demo/{steps.log_name(n, title(n))}")
               for n in range(1, 24)]
    table = steps.summary_table(results)
    assert len(table) == 1 + 12 + 1
    assert max(len(line) for line in table) <= steps.LINE_WIDTH
    names = " ".join(table)
    assert all(r.log.rsplit("/", 1)[-1] in names for r in results)


def test_names_too_wide_for_two_columns_fall_back_to_one() -> None:
    wide = [StepResult(n, "t", "ok", 1.0, "d/" + "x" * 60 + f"{n}.log") for n in (1, 2)]
    assert len(steps.summary_table(wide)) == 1 + 2 + 1


@pytest.mark.parametrize(("excerpt", "lines"), [
    ((), 1), (("short",), 1), (("x" * 80,), 2), (("a", "b"), 3)])
def test_a_short_single_excerpt_stays_on_the_steps_line(excerpt: tuple[str, ...],
                                                        lines: int) -> None:
    shown = steps.step_lines(StepResult(3, "plan dev", "ok", 4.0, "l", excerpt))
    assert len(shown) == lines and all(len(line) <= steps.LINE_WIDTH for line in shown)
    if excerpt == ("short",):
        assert shown[0].endswith("4.0s  short")


# ---------------------------------------------------------------- the runner


def _noisy() -> str:
    print("stdout of the step")
    print("stderr of the step", file=sys.stderr)
    return "the excerpt"


def _fails() -> str:
    print("working...")
    raise MlopsError("it broke", "because", "do this")


def _crashes() -> str:
    return str({}["missing"])  # type: ignore[index]


def test_runner_logs_each_step_and_shows_one_line_per_step(tmp_path: Path) -> None:
    console = io.StringIO()
    ran: list[str] = []
    plan = [Step("first step", _noisy), Step("second", _fails),
            Step("never runs", lambda: ran.append("x")),
            Step("cleanup", lambda: "cleaned", always=True)]
    runner = StepRunner(tmp_path / "logs", console=console, shown_dir="logs")
    results = runner.run(plan)
    assert [r.outcome for r in results] == ["ok", "failed", "skipped", "ok"]
    assert ran == []
    first = (tmp_path / "logs" / "01-first-step.log").read_text()
    assert first == "stdout of the step\nstderr of the step\n"
    second = (tmp_path / "logs" / "02-second.log").read_text()
    assert "working...\nerror: it broke\n  why: because\n  fix: do this" in second
    assert not (tmp_path / "logs" / "03-never-runs.log").exists()
    shown = console.getvalue()
    assert "stdout of the step" not in shown  # in the log only
    assert " 1. first step ." in shown and "  the excerpt\n" in shown
    assert "      | error: it broke" in shown and "      full log: logs/02-second.log" in shown
    assert "cleaned" in shown


def test_a_crash_is_logged_as_a_traceback(tmp_path: Path) -> None:
    console = io.StringIO()
    results = StepRunner(tmp_path, console=console).run([Step("crash", _crashes)])
    assert results[0].outcome == "failed"
    assert "KeyError: 'missing'" in (tmp_path / "01-crash.log").read_text()
    assert "KeyError" in console.getvalue()


def test_verbose_shows_everything_and_still_logs(tmp_path: Path) -> None:
    console = io.StringIO()
    StepRunner(tmp_path, console=console, verbose=True).run([Step("noisy", _noisy)])
    assert "stdout of the step" in console.getvalue()
    assert "stdout of the step" in (tmp_path / "01-noisy.log").read_text()


def test_old_logs_are_removed(tmp_path: Path) -> None:
    (tmp_path / "07-old.log").write_text("stale")
    StepRunner(tmp_path, console=io.StringIO()).run([Step("new", lambda: None)])
    assert sorted(p.name for p in tmp_path.glob("*.log")) == ["01-new.log"]


def test_ctrl_c_still_runs_the_cleanup_then_stops(tmp_path: Path) -> None:
    def interrupted() -> str:
        raise KeyboardInterrupt

    cleaned: list[bool] = []
    runner = StepRunner(tmp_path, console=io.StringIO())
    with pytest.raises(KeyboardInterrupt):
        runner.run([Step("long", interrupted),
                    Step("cleanup", lambda: cleaned.append(True), always=True)])
    assert cleaned == [True]
