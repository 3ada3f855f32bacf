"""Alarm-gated canary promotion, as decisions. Pure: no clients, no clock, no sleeping.

`mlops canary promote` (commands/canary.py) is a loop around `decide`: it observes the
endpoint (status, the canary's share of the desired and current weights) and the alarms
of both variants, asks `decide(observation, position, plan)` what to do, does it, and
persists where it is. Everything the loop needs to know about time comes in the
observation (`now`, epoch seconds).

A promotion walks `plan.steps` (canary percentages, ending at 100). Each step has three
phases:

  shift   ask for the step's weight (UpdateEndpointWeightsAndCapacities), once the
          endpoint is InService ("Cannot update in-progress endpoint" otherwise);
  settle  wait until the endpoint is InService with the current weight at the step;
  bake    keep the weight for `plan.bake` seconds, checking the alarms at every poll.

At every poll, before anything else: an endpoint that turned Failed, or any alarm of
either variant in ALARM, means roll back (100 % stable at once). One exception keeps a
promotion from being judged by its predecessor: the per-variant alarm names are reused
by every release, and after traffic leaves a bad variant its alarm can stay in ALARM for
`evaluation_periods + 2` periods (docs/models.md). An alarm already in ALARM *before this
promotion started* (StateUpdatedTimestamp) holds the promotion (no shift, no next step)
for up to `(evaluation_periods + 3) * period` after the start; if it is still in ALARM
then, the candidate is failing on its own and the promotion rolls back.

Resuming: `start` finds where a promotion is from its persisted Record and the endpoint
itself. The endpoint is the truth about the weight; the record says whether that weight
was already baked. It never skips a step or jumps a weight: a weight that is not one of
the steps is refused, not rounded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, Literal

from mlops.errors import MlopsError

DEFAULT_STEPS: tuple[float, ...] = (10, 25, 50, 100)
SHIFT, SETTLE, BAKE = "shift", "settle", "bake"
IN_SERVICE = "InService"
# DescribeEndpoint's EndpointStatus values that mean the endpoint cannot serve as asked.
FAILED = frozenset({"Failed", "UpdateRollbackFailed"})
ALARM = "ALARM"
EPSILON = 0.05  # percent: weights are floats on the wire
OPERATION = "mlops canary promote"  # the state lock's Operation while a promotion runs
RECORD_FORMAT = "mlops-canary/1"
MAX_EVENTS = 300
KIND_LABELS = {"errors_5xx": "5xx", "latency": "p99"}

Status = Literal["running", "promoted", "rolled_back", "halted"]


# ---------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------


def parse_steps(text: str) -> tuple[float, ...]:
    """`10,25,50,100` -> (10.0, 25.0, 50.0, 100.0): increasing percentages ending at 100."""
    try:
        steps = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as err:
        raise MlopsError(f"--steps {text!r} is not a list of numbers", "",
                         "e.g. --steps 10,25,50,100") from err
    if not steps or steps[-1] != 100 or any(not 0 < s <= 100 for s in steps) or \
            any(b <= a for a, b in pairwise(steps)):
        raise MlopsError(f"--steps {text!r} is not a promotion",
                         "steps are the canary's share of traffic in percent, strictly "
                         "increasing, each in (0, 100], the last one 100 (fully promoted)",
                         "e.g. --steps 10,25,50,100 or --steps 5,100")
    return steps


def share(canary: float, stable: float) -> float:
    """The canary's share of traffic, in percent, from two relative weights."""
    total = canary + stable
    return 0.0 if total <= 0 else 100.0 * canary / total


def weights_for(percent: float) -> dict[str, float]:
    """Variant weights that give the canary `percent` of the traffic."""
    return {"canary": float(percent), "stable": float(100 - percent)}


def near(a: float, b: float) -> bool:
    return abs(a - b) <= EPSILON


def pct(value: float) -> str:
    return f"{value:g}%"


@dataclass(frozen=True)
class Alarm:
    """One CloudWatch alarm, as DescribeAlarms returns it."""

    name: str
    variant: str  # stable, canary
    kind: str  # the key in the module's alarm_names output: errors_5xx, latency
    state: str  # OK, ALARM, INSUFFICIENT_DATA
    reason: str
    updated: float  # StateUpdatedTimestamp, epoch seconds
    period: float  # seconds
    evaluation_periods: int

    def grace_end(self, started: float) -> float:
        """Until when an ALARM that began before the promotion may be its predecessor's."""
        return started + (self.evaluation_periods + 3) * self.period


@dataclass(frozen=True)
class Observation:
    now: float  # epoch seconds
    status: str  # EndpointStatus
    failure_reason: str
    desired: float  # the canary's share of the DesiredWeights, percent
    current: float  # ... of the CurrentWeights
    alarms: tuple[Alarm, ...]
    aborted: str = ""  # "" or who asked to abort (`mlops canary abort`) and when


@dataclass(frozen=True)
class Plan:
    steps: tuple[float, ...]
    bake: float  # seconds at each step
    poll: float  # seconds between observations
    update_timeout: float  # longest wait for the endpoint to take an update
    started: float  # when the promotion started (epoch seconds)


@dataclass(frozen=True)
class Position:
    index: int  # into plan.steps
    phase: str  # SHIFT, SETTLE, BAKE
    since: float  # when the phase began


# ---------------------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shift:
    weight: float


@dataclass(frozen=True)
class Wait:
    seconds: float
    why: str


@dataclass(frozen=True)
class Advance:
    to: Position
    why: str


@dataclass(frozen=True)
class RollBack:
    why: str
    alarms: tuple[Alarm, ...] = ()


@dataclass(frozen=True)
class Done:
    why: str = "the candidate carries 100% of the traffic"


@dataclass(frozen=True)
class Halt:
    why: str
    kind: Literal["timeout", "out_of_band", "aborted"]


Action = Shift | Wait | Advance | RollBack | Done | Halt


def step_label(plan: Plan, index: int) -> str:
    return f"step {index + 1}/{len(plan.steps)} ({pct(plan.steps[index])})"


def decide(obs: Observation, pos: Position, plan: Plan) -> Action:
    """The next action of a promotion at `pos`, given what was just observed."""
    if obs.aborted:
        return Halt(f"aborted by {obs.aborted}", "aborted")
    if obs.status in FAILED:
        return RollBack(f"the endpoint is {obs.status}: {obs.failure_reason or 'no reason given'}")
    firing = [a for a in obs.alarms if a.state == ALARM]
    fresh = tuple(a for a in firing
                  if a.updated >= plan.started or obs.now >= a.grace_end(plan.started))
    if fresh:
        return RollBack("; ".join(f"alarm {a.name} is in ALARM: {a.reason}" for a in fresh),
                        fresh)
    held = [a for a in firing if a not in fresh]
    hold_why = ""
    if held:
        first = held[0]
        hold_why = (f"alarm {first.name} has been in ALARM since before this promotion "
                    f"(a previous candidate's?): holding up to "
                    f"{max(0.0, first.grace_end(plan.started) - obs.now):.0f}s more for it "
                    "to clear")
    target = plan.steps[pos.index]
    label = step_label(plan, pos.index)

    if pos.phase == SHIFT:
        if near(obs.desired, target):
            return Advance(replace(pos, phase=SETTLE, since=obs.now),
                           f"{label}: the endpoint already asks for {pct(target)}")
        if held:
            return Wait(plan.poll, hold_why)
        if obs.status != IN_SERVICE:
            waited = obs.now - pos.since
            if waited > plan.update_timeout:
                return Halt(f"{label}: the endpoint has been {obs.status} for {waited:.0f}s "
                            f"(longer than {plan.update_timeout:g}s): cannot shift the weight",
                            "timeout")
            return Wait(plan.poll, f"{label}: the endpoint is {obs.status}; waiting to shift")
        return Shift(target)

    if not near(obs.desired, target):
        return Halt(f"{label}: the canary's weight was changed outside this promotion "
                    f"(the endpoint asks for {pct(obs.desired)}, the promotion set "
                    f"{pct(target)})", "out_of_band")

    if pos.phase == SETTLE:
        if obs.status == IN_SERVICE and near(obs.current, target):
            return Advance(replace(pos, phase=BAKE, since=obs.now),
                           f"{label}: InService at {pct(target)}")
        waited = obs.now - pos.since
        if waited > plan.update_timeout:
            return Halt(f"{label}: the endpoint has been {obs.status} for {waited:.0f}s "
                        f"(longer than {plan.update_timeout:g}s) with the canary at "
                        f"{pct(obs.current)} of {pct(target)}", "timeout")
        return Wait(plan.poll, f"{label}: {obs.status}, canary at {pct(obs.current)}")

    left = plan.bake - (obs.now - pos.since)
    if left > 0:
        return Wait(min(plan.poll, left), f"{label}: baking, {left:.0f}s left")
    if held:
        return Wait(plan.poll, hold_why)
    if pos.index + 1 == len(plan.steps):
        return Done()
    return Advance(Position(pos.index + 1, SHIFT, obs.now), f"{label}: baked")


# ---------------------------------------------------------------------------------------
# The persisted record, resuming, and the lease
# ---------------------------------------------------------------------------------------


def lease_seconds(poll: float) -> float:
    """How long a promotion's heartbeat may be silent before a re-run takes over its lock."""
    return 10.0 + 3.0 * poll


@dataclass(frozen=True)
class Event:
    time: float
    step: str
    text: str


@dataclass(frozen=True)
class Record:
    """A promotion's progress, kept in the state bucket (deployments/<env>/canary.json):
    what a crashed runner leaves for the next run, and the timeline it reports."""

    env: str
    endpoint: str
    config: str  # the EndpointConfig the endpoint serves: identifies the release
    release: str
    steps: tuple[float, ...]
    status: Status
    index: int
    phase: str
    since: float
    started: float
    heartbeat: float
    lease: float
    lock_id: str
    who: str
    events: tuple[Event, ...] = field(default=())
    outcome: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        data["format"] = RECORD_FORMAT
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> Record:
        try:
            data: Any = json.loads(text)
            if not isinstance(data, dict) or data.pop("format", None) != RECORD_FORMAT:
                raise ValueError(f"not an {RECORD_FORMAT} document")
            data["steps"] = tuple(float(s) for s in data["steps"])
            data["events"] = tuple(Event(**e) for e in data.get("events", []))
            return cls(**data)
        except (TypeError, KeyError, ValueError) as err:
            raise ValueError(f"not a canary progress record: {err}") from err

    def with_event(self, time: float, step: str, text: str) -> Record:
        events = (*self.events, Event(time, step, text))[-MAX_EVENTS:]
        return replace(self, events=events)

    def at(self, pos: Position) -> Record:
        return replace(self, index=pos.index, phase=pos.phase, since=pos.since)


@dataclass(frozen=True)
class Start:
    position: Position
    resumed: bool
    why: str
    promoted: bool = False  # the release was promoted already: nothing to do


def start(record: Record | None, *, config: str, steps: Sequence[float], desired: float,
          now: float, restart: bool = False, aborted: str = "") -> Start:
    """Where a promotion of the release serving `config` begins or resumes."""
    ours = record is not None and record.config == config
    if ours and not restart:
        assert record is not None
        if record.status == "promoted" and near(desired, 100):
            return Start(Position(len(steps) - 1, BAKE, now), True,
                         "this release was promoted already", promoted=True)
        if record.status in ("rolled_back", "halted") or aborted:
            why = record.outcome or aborted or record.status
            raise MlopsError(
                f"the promotion of release {record.release} in {record.env} was stopped: {why}",
                "a release rolled back by its alarms (or aborted) is not promoted again "
                "by a re-run",
                f"release a fixed candidate (mlops release --env {record.env} --model URI); "
                "to try this one again anyway: mlops canary promote --env "
                f"{record.env} --restart")
        if record.status == "running" and tuple(record.steps) == tuple(steps):
            k = record.index
            if near(desired, steps[k]):
                return Start(Position(k, SETTLE, now), True,
                             f"resuming at step {k + 1}/{len(steps)} ({pct(steps[k])}): the "
                             f"endpoint is there; baking it again in full")
            before = steps[k - 1] if k > 0 else None
            if record.phase == SHIFT and ((before is None and desired < steps[0]) or
                                          (before is not None and near(desired, before))):
                return Start(Position(k, SHIFT, now), True,
                             f"resuming at step {k + 1}/{len(steps)} ({pct(steps[k])}): "
                             + ("the previous step was baked" if k else
                                "nothing was shifted yet"))
    elif aborted and not restart:
        raise MlopsError(f"a canary abort is recorded for this release ({aborted})",
                         "an aborted release is not promoted again by a re-run",
                         "release a fixed candidate, or re-run with --restart")
    for index, weight in enumerate(steps):
        if near(desired, weight):
            return Start(Position(index, SETTLE, now), False,
                         f"starting at step {index + 1}/{len(steps)}: the canary carries "
                         f"{pct(weight)} already")
    if desired < steps[0]:
        return Start(Position(0, SHIFT, now), False,
                     f"starting: the canary carries {pct(desired)}; first step "
                     f"{pct(steps[0])}")
    raise MlopsError(
        f"the canary carries {pct(desired)}, which is not one of the steps "
        f"{', '.join(pct(s) for s in steps)}",
        "a promotion never jumps a weight or goes back on its own",
        "pass --steps that include it, or put 100% back on stable (mlops canary abort) "
        "and re-run with --restart")


def takeover(lock_operation: str | None, lock_id: str | None, record: Record | None,
             now: float) -> tuple[str, float]:
    """What a new run does about the env's state lock: ("free", 0), ("take", 0) for a
    crashed promotion's lock, ("wait", seconds) while a promotion's lease runs, or
    ("refuse", 0) for any other holder."""
    if lock_id is None:
        return "free", 0.0
    if lock_operation != OPERATION or record is None or record.lock_id != lock_id or \
            record.status != "running":
        return "refuse", 0.0
    silent = now - record.heartbeat
    if silent > record.lease:
        return "take", 0.0
    return "wait", record.lease - silent + 0.5


# ---------------------------------------------------------------------------------------
# What people read: the progress line and the timeline
# ---------------------------------------------------------------------------------------


def progress_line(obs: Observation, pos: Position, plan: Plan, doing: str = "") -> str:
    """One line: step, weight, endpoint status, what it is doing (`doing`, e.g. a Wait's
    reason, else the phase and the bake time left), and every alarm's state."""
    label = step_label(plan, pos.index)
    phase = {SHIFT: "shifting", SETTLE: "waiting for InService", BAKE: "baking"}[pos.phase]
    if pos.phase == BAKE:
        phase += f", {max(0.0, plan.bake - (obs.now - pos.since)):.0f}s left"
    if doing:
        phase = doing.removeprefix(f"{label}: ")
    alarms = ", ".join(f"{a.variant} {KIND_LABELS.get(a.kind, a.kind)} {a.state}"
                       for a in obs.alarms)
    return f"{label} canary {pct(round(obs.current, 2))} [{obs.status}] {phase} | {alarms}"


def alarm_summary(alarms: Iterable[Alarm]) -> str:
    return ", ".join(f"{a.name} {a.state}" for a in alarms)


def _clock(time: float) -> str:
    return datetime.fromtimestamp(time, UTC).strftime("%H:%M:%S")


def timeline_markdown(record: Record, title: str) -> str:
    """The step summary of a promotion: a heading and one row per event."""
    rows = "\n".join(f"| {_clock(e.time)} | {e.step} | {e.text.replace('|', '/')} |"
                     for e in record.events)
    day = datetime.fromtimestamp(record.started, UTC).strftime("%Y-%m-%d")
    return (f"### {title}\n\n"
            f"Endpoint `{record.endpoint}`, release `{record.release}`, steps "
            f"{', '.join(pct(s) for s in record.steps)}; times are UTC on {day}.\n\n"
            "| time | step | event |\n|---|---|---|\n" + rows + "\n")


def record_key(env: str) -> str:
    """Where a promotion's progress lives in the state bucket (beside issue 8's deployment
    records, outside their records/ prefix)."""
    return f"deployments/{env}/canary.json"


def abort_key(env: str) -> str:
    """Where `mlops canary abort` leaves its request for a running promotion to see."""
    return f"deployments/{env}/canary-abort.json"


def default_bake(alarms: Sequence[Alarm]) -> float:
    """Twice the longest alarm window (period x evaluation periods): long enough for every
    alarm to have judged the step on data of its own."""
    return 2.0 * max((a.period * a.evaluation_periods for a in alarms), default=60.0)


def default_poll(alarms: Sequence[Alarm]) -> float:
    """A fifth of the shortest alarm period, between 1 and 15 seconds."""
    return min(15.0, max(1.0, min((a.period for a in alarms), default=60.0) / 5.0))
