"""core/canary.py: every branch of `decide`, of `start` (resuming) and of `takeover`, as
tables; the steps, the record format and what people read."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from mlops.core import canary
from mlops.core.canary import (
    BAKE,
    SETTLE,
    SHIFT,
    Advance,
    Alarm,
    Done,
    Halt,
    Observation,
    Plan,
    Position,
    Record,
    RollBack,
    Shift,
    Wait,
)
from mlops.errors import MlopsError

T0 = 1_700_000_000.0  # the promotion started here
PLAN = Plan(steps=(10, 25, 50, 100), bake=30, poll=2, update_timeout=60, started=T0)


def alarm(state: str = "OK", *, variant: str = "canary", kind: str = "errors_5xx",
          updated: float = T0 - 500, reason: str = "Threshold Crossed: ...") -> Alarm:
    return Alarm(f"mlops-demo-dev-churn-{variant}-{kind}", variant, kind, state, reason,
                 updated, period=10, evaluation_periods=1)


OK_ALARMS = (alarm(), alarm(kind="latency"), alarm(variant="stable"),
             alarm(variant="stable", kind="latency"))


def obs(now: float = T0 + 100, *, status: str = "InService", desired: float = 25,
        current: float | None = None, alarms: tuple[Alarm, ...] = OK_ALARMS,
        reason: str = "", aborted: str = "") -> Observation:
    return Observation(now, status, reason, desired, desired if current is None else current,
                       alarms, aborted)


def at(index: int, phase: str, since: float = T0 + 90) -> Position:
    return Position(index, phase, since)


FIRING_NOW = alarm("ALARM", updated=T0 + 95, reason="Threshold Crossed: 1 out of the last 1 "
                   "datapoints [50.0 (12:00:00)] was greater than the threshold (5.0)")
FIRING_BEFORE = alarm("ALARM", updated=T0 - 5)  # a previous candidate's, perhaps
GRACE_END = T0 + (1 + 3) * 10  # evaluation_periods + 3 periods after the start

CASES: list[tuple[str, Observation, Position, Any]] = [
    # safety first, in every phase
    ("abort requested", obs(aborted="ci@runner at 12:00"), at(1, BAKE),
     Halt("aborted by ci@runner at 12:00", "aborted")),
    ("endpoint failed", obs(status="Failed", reason="capacity"), at(1, BAKE),
     RollBack("the endpoint is Failed: capacity")),
    ("update rollback failed", obs(status="UpdateRollbackFailed"), at(2, SHIFT),
     RollBack("the endpoint is UpdateRollbackFailed: no reason given")),
    ("alarm fires while baking", obs(alarms=(*OK_ALARMS[1:], FIRING_NOW)), at(1, BAKE),
     RollBack(f"alarm {FIRING_NOW.name} is in ALARM: {FIRING_NOW.reason}", (FIRING_NOW,))),
    ("alarm fires while settling", obs(status="Updating", current=10,
                                       alarms=(FIRING_NOW,)), at(1, SETTLE),
     RollBack(f"alarm {FIRING_NOW.name} is in ALARM: {FIRING_NOW.reason}", (FIRING_NOW,))),
    ("alarm fires before the shift", obs(desired=10, alarms=(FIRING_NOW,)), at(1, SHIFT),
     RollBack(f"alarm {FIRING_NOW.name} is in ALARM: {FIRING_NOW.reason}", (FIRING_NOW,))),
    ("stale alarm past its grace", obs(GRACE_END, desired=10, alarms=(FIRING_BEFORE,)),
     at(0, BAKE, T0),
     RollBack(f"alarm {FIRING_BEFORE.name} is in ALARM: {FIRING_BEFORE.reason}",
              (FIRING_BEFORE,))),
    # shift
    ("shift", obs(desired=10), at(1, SHIFT), Shift(25)),
    ("already at the step's weight", obs(desired=25), at(1, SHIFT),
     Advance(at(1, SETTLE, T0 + 100), "step 2/4 (25%): the endpoint already asks for 25%")),
    ("endpoint busy: wait to shift", obs(status="Updating", desired=10), at(1, SHIFT),
     Wait(2, "step 2/4 (25%): the endpoint is Updating; waiting to shift")),
    ("endpoint busy too long", obs(T0 + 200, status="Updating", desired=10),
     at(1, SHIFT, T0 + 100),
     Halt("step 2/4 (25%): the endpoint has been Updating for 100s (longer than 60s): "
          "cannot shift the weight", "timeout")),
    ("stale alarm holds the shift", obs(T0 + 10, desired=10, alarms=(FIRING_BEFORE,)),
     at(1, SHIFT, T0),
     Wait(2, f"alarm {FIRING_BEFORE.name} has been in ALARM since before this promotion "
             "(a previous candidate's?): holding up to 30s more for it to clear")),
    # settle
    ("settled", obs(), at(1, SETTLE), Advance(at(1, BAKE, T0 + 100),
                                              "step 2/4 (25%): InService at 25%")),
    ("settling", obs(status="Updating", current=10), at(1, SETTLE),
     Wait(2, "step 2/4 (25%): Updating, canary at 10%")),
    ("InService but not yet current", obs(current=10), at(1, SETTLE),
     Wait(2, "step 2/4 (25%): InService, canary at 10%")),
    ("stuck Updating", obs(T0 + 200, status="Updating", current=10), at(1, SETTLE, T0 + 100),
     Halt("step 2/4 (25%): the endpoint has been Updating for 100s (longer than 60s) with "
          "the canary at 10% of 25%", "timeout")),
    ("weights changed out of band while settling", obs(desired=0), at(1, SETTLE),
     Halt("step 2/4 (25%): the canary's weight was changed outside this promotion (the "
          "endpoint asks for 0%, the promotion set 25%)", "out_of_band")),
    # bake
    ("baking", obs(T0 + 100), at(1, BAKE, T0 + 90), Wait(2, "step 2/4 (25%): baking, 20s left")),
    ("last seconds of the bake", obs(T0 + 119), at(1, BAKE, T0 + 90),
     Wait(1, "step 2/4 (25%): baking, 1s left")),
    ("baked: next step", obs(T0 + 120), at(1, BAKE, T0 + 90),
     Advance(at(2, SHIFT, T0 + 120), "step 2/4 (25%): baked")),
    ("baked at 100%: done", obs(T0 + 120, desired=100), at(3, BAKE, T0 + 90), Done()),
    ("baked but a stale alarm still holds", obs(T0 + 35, desired=10,
                                                 alarms=(FIRING_BEFORE,)), at(0, BAKE, T0),
     Wait(2, f"alarm {FIRING_BEFORE.name} has been in ALARM since before this promotion "
             "(a previous candidate's?): holding up to 5s more for it to clear")),
    ("weights changed out of band while baking", obs(desired=0), at(1, BAKE),
     Halt("step 2/4 (25%): the canary's weight was changed outside this promotion (the "
          "endpoint asks for 0%, the promotion set 25%)", "out_of_band")),
    ("an OK alarm never stops anything", obs(T0 + 120, alarms=(alarm("OK"),)),
     at(1, BAKE, T0 + 90), Advance(at(2, SHIFT, T0 + 120), "step 2/4 (25%): baked")),
    ("insufficient data is not an alarm", obs(T0 + 120, alarms=(alarm("INSUFFICIENT_DATA"),)),
     at(1, BAKE, T0 + 90), Advance(at(2, SHIFT, T0 + 120), "step 2/4 (25%): baked")),
]


@pytest.mark.parametrize(("name", "observation", "position", "expected"), CASES,
                         ids=[c[0] for c in CASES])
def test_decide(name: str, observation: Observation, position: Position,
                expected: Any) -> None:
    assert canary.decide(observation, position, PLAN) == expected


def test_every_action_kind_is_covered_by_the_table() -> None:
    kinds = {type(c[3]) for c in CASES}
    assert kinds == {Shift, Wait, Advance, RollBack, Done, Halt}
    phases = {c[2].phase for c in CASES}
    assert phases == {SHIFT, SETTLE, BAKE}


# -- steps -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "steps"), [
    ("10,25,50,100", (10, 25, 50, 100)), ("5, 100", (5, 100)), ("100", (100,)),
    ("0.5,100", (0.5, 100)),
])
def test_steps(text: str, steps: tuple[float, ...]) -> None:
    assert canary.parse_steps(text) == steps


@pytest.mark.parametrize("text", ["", "10,50", "50,25,100", "10,10,100", "0,100", "10,x,100",
                                  "10,150", "-5,100"])
def test_bad_steps_are_refused(text: str) -> None:
    with pytest.raises(MlopsError, match="--steps"):
        canary.parse_steps(text)


def test_weights_and_shares() -> None:
    assert canary.weights_for(25) == {"canary": 25.0, "stable": 75.0}
    assert canary.share(*canary.weights_for(25).values()) == 25
    assert canary.share(1, 9) == pytest.approx(10)
    assert canary.share(0, 0) == 0


# -- resuming ---------------------------------------------------------------------------------


STEPS = (10.0, 25.0, 50.0, 100.0)


def record(**kw: Any) -> Record:
    base = Record(env="dev", endpoint="ep", config="cfg-a", release="m-1", steps=STEPS,
                  status="running", index=2, phase=BAKE, since=T0, started=T0,
                  heartbeat=T0 + 50, lease=16, lock_id="lock-1", who="ci@runner")
    return replace(base, **kw)


START_CASES: list[tuple[str, Record | None, float, dict[str, Any], Any]] = [
    ("fresh, below the first step", None, 0, {}, (at(0, SHIFT, T0 + 100), False)),
    ("fresh, at the release's weight", None, 10, {}, (at(0, SETTLE, T0 + 100), False)),
    ("fresh, at a later step", None, 50, {}, (at(2, SETTLE, T0 + 100), False)),
    ("crash while baking: bake again", record(), 50, {}, (at(2, SETTLE, T0 + 100), True)),
    ("crash after the shift, before it was recorded", record(phase=SHIFT), 50, {},
     (at(2, SETTLE, T0 + 100), True)),
    ("crash after step k baked: continue at k+1", record(phase=SHIFT), 25, {},
     (at(2, SHIFT, T0 + 100), True)),
    ("crash before the first shift", record(index=0, phase=SHIFT), 5, {},
     (at(0, SHIFT, T0 + 100), True)),
    ("record of another release", record(config="cfg-old"), 10, {},
     (at(0, SETTLE, T0 + 100), False)),
    ("steps changed: follow the endpoint", record(steps=(20.0, 100.0)), 50, {},
     (at(2, SETTLE, T0 + 100), False)),
    ("record disagrees with the endpoint", record(index=3, phase=SHIFT), 10, {},
     (at(0, SETTLE, T0 + 100), False)),
    ("restart after a rollback", record(status="rolled_back"), 0, {"restart": True},
     (at(0, SHIFT, T0 + 100), False)),
]


@pytest.mark.parametrize(("name", "rec", "desired", "kw", "expected"), START_CASES,
                         ids=[c[0] for c in START_CASES])
def test_start(name: str, rec: Record | None, desired: float, kw: dict[str, Any],
               expected: tuple[Position, bool]) -> None:
    found = canary.start(rec, config="cfg-a", steps=STEPS, desired=desired, now=T0 + 100, **kw)
    assert (found.position, found.resumed) == expected, found.why
    assert not found.promoted


def test_start_after_a_promotion_has_nothing_to_do() -> None:
    found = canary.start(record(status="promoted"), config="cfg-a", steps=STEPS, desired=100,
                         now=T0)
    assert found.promoted


@pytest.mark.parametrize(("rec", "desired", "aborted", "message"), [
    (record(status="rolled_back", outcome="alarm x"), 0, "", "was stopped: alarm x"),
    (record(status="halted", outcome="aborted by me"), 0, "", "was stopped: aborted by me"),
    (record(), 25, "me at 12:00", "was stopped: me at 12:00"),
    (None, 0, "me at 12:00", "a canary abort is recorded"),
    (None, 30, "", "not one of the steps 10%, 25%, 50%, 100%"),
])
def test_start_refuses(rec: Record | None, desired: float, aborted: str, message: str) -> None:
    with pytest.raises(MlopsError) as err:
        canary.start(rec, config="cfg-a", steps=STEPS, desired=desired, now=T0,
                     aborted=aborted)
    assert message in err.value.render(), err.value.render()


# -- the lock of a crashed promotion ---------------------------------------------------------


@pytest.mark.parametrize(("operation", "lock_id", "rec", "now", "expected"), [
    (None, None, None, T0, ("free", 0.0)),
    ("OperationTypeApply", "lock-1", record(), T0 + 50, ("refuse", 0.0)),
    (canary.OPERATION, "lock-2", record(), T0 + 50, ("refuse", 0.0)),
    (canary.OPERATION, "lock-1", None, T0 + 50, ("refuse", 0.0)),
    (canary.OPERATION, "lock-1", record(status="promoted"), T0 + 100, ("refuse", 0.0)),
    (canary.OPERATION, "lock-1", record(), T0 + 60, ("wait", 6.5)),
    (canary.OPERATION, "lock-1", record(), T0 + 66.1, ("take", 0.0)),
], ids=["free", "terraform holds it", "another promotion's lock", "no record",
        "finished promotion", "lease still running", "lease expired"])
def test_takeover(operation: str | None, lock_id: str | None, rec: Record | None, now: float,
                  expected: tuple[str, float]) -> None:
    assert canary.takeover(operation, lock_id, rec, now) == expected


def test_lease_grows_with_the_poll() -> None:
    assert canary.lease_seconds(2) == 16 and canary.lease_seconds(10) == 40


# -- the record and what people read ----------------------------------------------------------


def test_record_round_trips_through_json() -> None:
    rec = record().with_event(T0 + 1, "step 1/4 (10%)", "shift to 10%")
    assert Record.from_json(rec.to_json()) == rec


@pytest.mark.parametrize("text", ["{}", "[]", "not json", '{"format": "other"}',
                                  '{"format": "mlops-canary/1", "env": "dev"}'])
def test_bad_records_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a canary progress record"):
        Record.from_json(text)


def test_timeline_and_progress_line() -> None:
    rec = record(events=()).with_event(T0, "step 1/4 (10%)", "shifted | now").with_event(
        T0 + 61, "step 2/4 (25%)", "rolled back")
    text = canary.timeline_markdown(rec, "Canary promotion of dev: rolled back")
    assert text.splitlines()[0] == "### Canary promotion of dev: rolled back"
    assert "| 22:13:20 | step 1/4 (10%) | shifted / now |" in text
    assert "| 22:14:21 | step 2/4 (25%) | rolled back |" in text
    line = canary.progress_line(obs(T0 + 100, current=25), at(1, BAKE, T0 + 90), PLAN)
    assert line == ("step 2/4 (25%) canary 25% [InService] baking, 20s left | canary 5xx OK, "
                    "canary p99 OK, stable 5xx OK, stable p99 OK")
    waiting = canary.progress_line(obs(T0 + 100, status="Updating", current=10), at(1, SHIFT),
                                   PLAN, "step 2/4 (25%): the endpoint is Updating; waiting")
    assert waiting.startswith("step 2/4 (25%) canary 10% [Updating] the endpoint is Updating; "
                              "waiting | canary 5xx OK"), waiting
