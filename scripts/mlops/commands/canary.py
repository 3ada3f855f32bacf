"""`mlops canary promote|abort --env ENV`: shift traffic to the candidate step by step while
its alarms watch, or put it all back on stable.

  mlops canary promote --env ENV [--steps 10,25,50,100] [--bake S] [--poll S]
                       [--update-timeout S] [--restart]
  mlops canary abort --env ENV

promote finds the endpoint and its alarms in the env root's outputs (the module creates a
5xx-rate and a p99-latency alarm per variant), then loops around one pure decision
(core/canary.py): at each step UpdateEndpointWeightsAndCapacities, wait for InService, bake,
and check both variants' alarms at every poll. An alarm in ALARM, or a Failed endpoint:
100 % back on stable at once, report the alarm, its reason, the step and the time, exit 10.
Success: the candidate carries 100 %; the follow-up change that makes it the stable
release in tfvars is opened as a pull request (or printed), so the next plan shows no drift.

- Exclusion: it holds the env's Terraform state lock (Operation "mlops canary promote"), so
  an apply cannot reset the weights under it (the provider's UpdateEndpoint sends no
  RetainAllVariantProperties: any config change puts the config's weights back), and it is
  refused while an apply runs.
- Resumable: progress is kept in the state bucket (deployments/<env>/canary.json) with a
  heartbeat; a re-run after a crash takes over the dead run's lock once its lease expires
  and continues where the endpoint is, never skipping a step or jumping a weight.
- Progress on stderr; a timeline in $GITHUB_STEP_SUMMARY.

Exit codes: 0 promoted, 10 rolled back (alarm or Failed endpoint), 11 halted (aborted, or
weights changed outside the promotion), 12 timed out waiting for the endpoint (re-run to
continue), 8 the state lock is held, 2 any other error.

abort: 100 % back on stable now, even while a promotion runs (it sees the abort at its next
poll and stops); refused while a Terraform run holds the lock or a config is deploying.
It proposes the same Git change as a rollback: the release back to its rollback target.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from mlops import argtypes, context, ui
from mlops.adapters.cloudwatch import Alarms
from mlops.adapters.s3 import S3
from mlops.adapters.sagemaker import EndpointBusy, Endpoints, EndpointView
from mlops.adapters.statelock import LockError, LockHeld, StateLock, default_who
from mlops.commands.endpoint import (
    DEFAULT_UPDATE_TIMEOUT,
    Target,
    describe_existing,
    find_target,
    update_when_free,
    wait_for,
)
from mlops.core import canary, release
from mlops.core.canary import (
    Advance,
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
from mlops.core.statelock import LockInfo
from mlops.errors import MlopsError

EXIT_ROLLED_BACK = 10
EXIT_HALTED = 11
EXIT_TIMED_OUT = 12
RESTORE_INTERVAL = 0.2  # seconds between DescribeEndpoint while restoring stable
QUIET_PROGRESS = 10.0  # seconds between unchanged progress lines when not on a terminal


class CanaryStopped(MlopsError):
    def __init__(self, what: str, why: str, fix: str, exit_code: int) -> None:
        super().__init__(what, why, fix)
        self.exit_code = exit_code


def register(sub: Any) -> None:
    parser = sub.add_parser("canary", help="promote or abort an env's canary, gated by its alarms",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    promote = verbs.add_parser("promote", help="shift traffic to the canary step by step",
                               description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    promote.add_argument("--env", required=True, type=argtypes.env_name,
                         help="the env whose canary is promoted")
    promote.add_argument("--steps", default=",".join(f"{s:g}" for s in canary.DEFAULT_STEPS),
                         help="the canary's share at each step, percent (default 10,25,50,100)")
    promote.add_argument("--bake", type=argtypes.optional_seconds, default=None, metavar="S",
                         help="seconds at each step (default, or empty: twice the longest "
                              "alarm window)")
    promote.add_argument("--poll", type=argtypes.optional_seconds, default=None, metavar="S",
                         help="seconds between checks (default, or empty: a fifth of the "
                              "shortest alarm period, 1-15)")
    promote.add_argument("--update-timeout", type=float, default=DEFAULT_UPDATE_TIMEOUT,
                         metavar="S", help="longest wait for the endpoint to take an update "
                                           f"(default {DEFAULT_UPDATE_TIMEOUT:g})")
    promote.add_argument("--restart", action="store_true",
                         help="start again from the endpoint's weight, ignoring a recorded "
                              "rollback or abort of this release")
    _git_options(promote)
    promote.set_defaults(func=run_promote)

    abort = verbs.add_parser("abort", help="put 100%% of the traffic back on stable now")
    abort.add_argument("--env", required=True, type=argtypes.env_name,
                       help="the env whose canary is aborted")
    abort.add_argument("--reason", default="", type=argtypes.reason,
                       help="why (one line): in the promotion's record and the follow-up PR "
                       "(rollback.yml passes its reason input)")
    abort.add_argument("--update-timeout", type=float, default=DEFAULT_UPDATE_TIMEOUT,
                       metavar="S", help="longest wait for the endpoint (default "
                                         f"{DEFAULT_UPDATE_TIMEOUT:g})")
    _git_options(abort)
    abort.set_defaults(func=run_abort)


def _git_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", help="OWNER/NAME for the follow-up pull request (default: "
                                       "GITHUB_REPOSITORY, else github_repo in mlops.yaml)")
    parser.add_argument("--base", help="branch the pull request targets (default: the "
                                       "repository's default branch)")


# ---------------------------------------------------------------------------------------
# Where progress lives: the state bucket
# ---------------------------------------------------------------------------------------


@dataclass
class Store:
    s3: S3
    bucket: str
    env: str

    def read(self) -> Record | None:
        key = canary.record_key(self.env)
        body = self.s3.get(self.bucket, key)
        if body is None:
            return None
        try:
            return Record.from_json(body)
        except ValueError as err:
            raise MlopsError(f"s3://{self.bucket}/{key} is not a canary progress record",
                             str(err), "move it out of the way, then re-run") from err

    def write(self, record: Record) -> None:
        self.s3.write(self.bucket, canary.record_key(self.env), record.to_json().encode())

    def read_abort(self, config: str) -> str:
        """Who asked to abort the release serving `config`, when, and why if they said
        ("" if nobody)."""
        import json

        body = self.s3.get(self.bucket, canary.abort_key(self.env))
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict) or data.get("config") != config:
            return ""
        why = f" ({data['reason']})" if data.get("reason") else ""
        return f"{data.get('who', 'someone')} at {data.get('time', '?')}{why}"

    def write_abort(self, config: str, who: str, reason: str = "") -> None:
        import json

        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.s3.write(self.bucket, canary.abort_key(self.env), json.dumps(
            {"config": config, "who": who, "time": now, "reason": reason}).encode())

    def clear_abort(self) -> None:
        self.s3.delete(self.bucket, canary.abort_key(self.env))


def who_am_i(env: Mapping[str, str]) -> str:
    """user@host, and the workflow run when in GitHub Actions."""
    who = default_who()
    if env.get("GITHUB_RUN_ID"):
        who += f" (run {env['GITHUB_RUN_ID']})"
    return who


def take_lock(lock: StateLock, store: Store, info: str, who: str, *,
              clock: Callable[[], float] = time.time,
              sleep: Callable[[float], None] = time.sleep) -> LockInfo:
    """The env's state lock for a promotion. A promotion that crashed left its lock: once
    its heartbeat has been silent for its lease, this run takes the lock over."""
    seen: float | None = None
    while True:
        try:
            return lock.acquire(canary.OPERATION, info, who)
        except LockHeld as held:
            record = store.read()
            decision, wait = canary.takeover(held.lock.operation, held.lock.id, record, clock())
            if decision == "take":
                assert record is not None
                ui.info(f"taking over the state lock {held.lock.id} of a promotion that "
                        f"stopped ({record.who}; silent for {clock() - record.heartbeat:.0f}s, "
                        f"lease {record.lease:g}s)")
                lock.release(held.lock.id)
                continue
            if decision == "wait" and record is not None and \
                    (seen is None or record.heartbeat == seen):
                if seen is None:
                    ui.info(f"a promotion by {record.who} holds the lock; its heartbeat is "
                            f"{clock() - record.heartbeat:.0f}s old: waiting up to {wait:.0f}s "
                            "to see whether it is still running")
                seen = record.heartbeat
                sleep(wait)
                continue
            raise


# ---------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    kind: str  # "promoted", "rolled_back", "halted", "timeout"
    why: str
    step: str
    record: Record
    restored_at: float | None = None
    alarms: tuple[canary.Alarm, ...] = ()


class ProgressLine:
    """One line of progress on stderr: rewritten in place on a terminal, else printed
    when it says something new (or every QUIET_PROGRESS seconds)."""

    def __init__(self, tty: bool | None = None) -> None:
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.last_key = ""
        self.last_time = 0.0

    def show(self, line: str, now: float) -> None:
        key = "".join(c for c in line if not c.isdigit())
        if self.tty:
            print("\r" + line.ljust(110)[:150], end="", file=sys.stderr, flush=True)
        elif key != self.last_key or now - self.last_time >= QUIET_PROGRESS:
            ui.info(line)
            self.last_key, self.last_time = key, now

    def end(self) -> None:
        if self.tty:
            print(file=sys.stderr)


@dataclass
class Promotion:
    target: Target
    endpoints: Endpoints
    alarms: Alarms
    store: Store
    plan: Plan
    record: Record
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    progress: ProgressLine = field(default_factory=ProgressLine)

    def observe(self) -> Observation:
        view = describe_existing(self.endpoints, self.target)
        found = self.alarms.describe(self.target.alarm_names())
        aborted = self.store.read_abort(self.record.config)
        return Observation(
            now=self.clock(), status=view.status, failure_reason=view.failure_reason,
            desired=canary.share(view.weight("canary"), view.weight("stable")),
            current=canary.share(view.weight("canary", current=True),
                                 view.weight("stable", current=True)),
            alarms=found, aborted=aborted)

    def note(self, now: float, pos: Position, text: str) -> None:
        label = canary.step_label(self.plan, pos.index)
        text = text.removeprefix(f"{label}: ")
        self.record = self.record.with_event(now, label, text)
        ui.info(f"{label}: {text}")

    def save(self, pos: Position, now: float) -> None:
        self.record = replace(self.record.at(pos), heartbeat=now)
        self.store.write(self.record)

    def run(self, pos: Position) -> Outcome:
        try:
            return self._run(pos)
        finally:
            self.progress.end()

    def _run(self, pos: Position) -> Outcome:
        self.save(pos, self.clock())
        while True:
            obs = self.observe()
            action = canary.decide(obs, pos, self.plan)
            doing = action.why if isinstance(action, Wait) else ""
            self.progress.show(canary.progress_line(obs, pos, self.plan, doing), obs.now)
            if isinstance(action, Shift):
                try:
                    self.endpoints.update_weights(self.target.endpoint,
                                                  canary.weights_for(action.weight))
                except EndpointBusy:
                    self.save(pos, obs.now)  # the decision waits, bounded by update_timeout
                    self.sleep(self.plan.poll)
                    continue
                self.note(obs.now, pos, f"shift: canary {canary.pct(action.weight)}, stable "
                                        f"{canary.pct(100 - action.weight)}")
                pos = replace(pos, phase=canary.SETTLE, since=obs.now)
                self.save(pos, obs.now)
                self.sleep(min(self.plan.poll, 1.0))
            elif isinstance(action, Advance):
                self.note(obs.now, pos, action.why)
                pos = action.to
                self.save(pos, obs.now)
            elif isinstance(action, Wait):
                self.save(pos, obs.now)
                self.sleep(action.seconds)
            elif isinstance(action, Done):
                self.note(obs.now, pos, "promoted: " + action.why)
                self.record = replace(self.record, status="promoted", outcome=action.why)
                self.save(pos, obs.now)
                return Outcome("promoted", action.why, canary.step_label(self.plan, pos.index),
                               self.record)
            elif isinstance(action, RollBack):
                label = canary.step_label(self.plan, pos.index)
                self.note(obs.now, pos, "ROLL BACK: " + action.why)
                self.save(pos, obs.now)
                restored = self.restore_stable(obs)
                self.note(self.clock(), pos, f"100% on stable again, {restored - obs.now:.1f}s "
                                             "after the alarm was seen")
                self.record = replace(self.record, status="rolled_back",
                                      outcome=f"{label}: {action.why}")
                self.save(pos, self.clock())
                return Outcome("rolled_back", action.why, label, self.record, restored,
                               action.alarms)
            else:
                assert isinstance(action, Halt)
                label = canary.step_label(self.plan, pos.index)
                self.note(obs.now, pos, f"halted: {action.why}")
                if action.kind != "timeout":  # a timeout leaves it running: re-run continues
                    self.record = replace(self.record, status="halted", outcome=action.why)
                self.save(pos, obs.now)
                return Outcome("timeout" if action.kind == "timeout" else "halted",
                               action.why, label, self.record)

    def restore_stable(self, obs: Observation) -> float:
        """100 % on stable at once; the time (clock) it was InService that way."""
        return restore_stable(self.endpoints, self.target, failed=obs.status in canary.FAILED,
                              timeout=self.plan.update_timeout, clock=self.clock,
                              sleep=self.sleep)


def restore_stable(endpoints: Endpoints, target: Target, *, failed: bool, timeout: float,
                   clock: Callable[[], float] = time.time,
                   sleep: Callable[[float], None] = time.sleep) -> float:
    """All traffic back on the stable variant: UpdateEndpointWeightsAndCapacities (retried
    while another update is in progress), then InService with the canary's current weight
    at 0. A Failed endpoint takes no weights: it is swapped to the retained release instead
    (UpdateEndpoint), which serves the stable model alone."""
    if failed:
        view = describe_existing(endpoints, target)
        serving = target.release_of(view.config)
        others = [r for r in target.configs if r != serving]
        if len(others) != 1:
            raise MlopsError(f"the endpoint {target.endpoint} is Failed and cannot take new "
                             "weights", f"there is no single retained release to swap to "
                             f"(retained besides {serving}: {', '.join(others) or 'none'})",
                             f"mlops endpoint rollback --env {target.env} --to RELEASE")
        config = target.configs[others[0]]
        ui.info(f"the endpoint is Failed: swapping it to release {others[0]} ({config})")
        update_when_free(lambda: endpoints.update_config(target.endpoint, config),
                         timeout=timeout, interval=RESTORE_INTERVAL, sleep=sleep)
        wait_for(endpoints, target.endpoint,
                 lambda v: v.status == canary.IN_SERVICE and v.config == config,
                 timeout=timeout, what="the retained release", interval=RESTORE_INTERVAL,
                 sleep=sleep)
        return clock()
    update_when_free(lambda: endpoints.update_weights(target.endpoint, canary.weights_for(0)),
                     timeout=timeout, interval=RESTORE_INTERVAL, sleep=sleep)

    def restored(view: EndpointView) -> bool:
        return view.status == canary.IN_SERVICE and canary.near(
            canary.share(view.weight("canary", current=True),
                         view.weight("stable", current=True)), 0)

    wait_for(endpoints, target.endpoint, restored, timeout=timeout,
             what="100% on stable", interval=RESTORE_INTERVAL, sleep=sleep)
    return clock()


# ---------------------------------------------------------------------------------------
# mlops canary promote
# ---------------------------------------------------------------------------------------


def check_can_promote(view: EndpointView, target: Target) -> None:
    if view.pending_config:
        raise MlopsError(f"the endpoint {target.endpoint} is deploying {view.pending_config}",
                         "a config deployment is in progress", "re-run when it is InService")
    if view.config != target.config:
        live, state = target.release_of(view.config), target.release_of(target.config)
        raise MlopsError(
            f"the endpoint {target.endpoint} serves {view.config} (release {live}), but "
            f"Terraform's state says {target.config} (release {state})",
            "the endpoint was swapped outside Terraform (an endpoint rollback not yet "
            "merged and applied?): promoting now would act on a release Git does not serve",
            f"merge the pending change and apply {target.env}, then re-run")
    if "canary" not in view.variants or "stable" not in view.variants:
        raise MlopsError(f"release {target.release_of(view.config)} of {target.env} has no "
                         "canary: nothing to promote",
                         "a promotion shifts traffic from the stable variant to the canary",
                         f"release a candidate: mlops release --env {target.env} --model URI")


def write_step_summary(env: Mapping[str, str], record: Record, title: str) -> None:
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as out:
            out.write(canary.timeline_markdown(record, title) + "\n")
    except OSError as err:
        ui.info(f"warning: could not write the step summary {path}: {err}")


def run_promote(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    ctx = context.load(env)
    ctx.config.require_env(args.env)
    steps = canary.parse_steps(args.steps)
    for name, value, least in (("--bake", args.bake, 0.0), ("--poll", args.poll, 0.1),
                               ("--update-timeout", args.update_timeout, 1.0)):
        if value is not None and not value >= least:
            raise MlopsError(f"{name} {value:g} is too small", "", f"use at least {least:g}")
    lock = ctx.state_lock(args.env)
    store = Store(S3(ctx.env, client=lock.s3), lock.bucket, args.env)
    who = who_am_i(ctx.env)
    info = f"env {args.env}: canary promotion, steps {args.steps}"
    held = take_lock(lock, store, info, who)
    try:
        outcome = _promote(ctx, args, steps, store, held, who)
    finally:
        try:
            lock.release(held.id)
        except LockError as err:
            ui.info(f"warning: {err.what} ({err.why})")
    return _report(ctx, args, outcome)


def _promote(ctx: context.Context, args: argparse.Namespace, steps: tuple[float, ...],
             store: Store, held: LockInfo, who: str) -> Outcome:
    target = find_target(ctx, args.env)
    endpoints, alarms = Endpoints(ctx.env), Alarms(ctx.env)
    view = describe_existing(endpoints, target)
    check_can_promote(view, target)
    first = alarms.describe(target.alarm_names())
    poll = args.poll or canary.default_poll(first)
    bake = canary.default_bake(first) if args.bake is None else args.bake
    window = max(a.period * a.evaluation_periods for a in first)
    if bake < window:
        ui.info(f"warning: --bake {bake:g}s is shorter than the alarm window ({window:g}s): "
                "a step can pass before its alarms have judged it")
    now = time.time()
    previous = store.read()
    found = canary.start(previous, config=view.config, steps=steps, now=now,
                         desired=canary.share(view.weight("canary"), view.weight("stable")),
                         restart=args.restart, aborted=store.read_abort(view.config))
    release_key = target.release_of(view.config) or view.config
    ui.step(f"{args.env}: canary promotion of release {release_key} on {target.endpoint}: "
            f"{found.why}")
    if found.promoted:
        assert previous is not None
        return Outcome("promoted", "promoted already", "", previous)
    if args.restart:
        store.clear_abort()
    resumed = found.resumed and previous is not None
    record = Record(
        env=args.env, endpoint=target.endpoint, config=view.config, release=release_key,
        steps=steps, status="running", index=found.position.index,
        phase=found.position.phase, since=now,
        started=previous.started if resumed and previous else now, heartbeat=now,
        lease=canary.lease_seconds(poll), lock_id=held.id, who=who,
        events=previous.events if resumed and previous else ())
    record = record.with_event(now, canary.step_label(Plan(steps, bake, poll, 0, 0),
                                                      found.position.index),
                               ("resumed: " if found.resumed else "started: ") + found.why)
    plan = Plan(steps, bake, poll, args.update_timeout, record.started)
    ui.info(f"bake {bake:g}s per step, poll every {poll:g}s; alarms: "
            f"{canary.alarm_summary(first)}")
    return Promotion(target, endpoints, alarms, store, plan, record).run(found.position)


def _report(ctx: context.Context, args: argparse.Namespace, outcome: Outcome) -> int:
    from mlops.commands.release import propose

    record = outcome.record
    title = {"promoted": "promoted", "rolled_back": "rolled back", "halted": "halted",
             "timeout": "timed out"}[outcome.kind]
    write_step_summary(ctx.env, record,
                       f"Canary promotion of `{args.env}`, release `{record.release}`: {title}")
    command = f"mlops canary promote --env {args.env}"
    if outcome.kind == "promoted":
        ui.step(f"{args.env}: release {record.release} promoted: the candidate carries 100%")
        propose(ctx, args.env, _promoted_change(args.env, record.release), repo=args.repo,
                base=args.base, command=command)
        return 0
    if outcome.kind == "timeout":
        raise CanaryStopped(
            f"the canary promotion of release {record.release} in {args.env} timed out at "
            f"{outcome.step}", outcome.why,
            f"re-run `{command}` once the endpoint is InService: it continues at this step",
            EXIT_TIMED_OUT)
    why = outcome.why
    propose(ctx, args.env,
            _dropped_change(args.env, record.release, f"its canary was {title}: {why}"),
            repo=args.repo, base=args.base, command=command)
    if outcome.kind == "rolled_back":
        at = (datetime.fromtimestamp(outcome.restored_at, UTC).strftime("%H:%M:%S UTC")
              if outcome.restored_at else "?")
        raise CanaryStopped(
            f"rolled back the canary of release {record.release} in {args.env} at "
            f"{outcome.step}: 100% on stable again at {at}", why,
            "the candidate failed its alarms in production; nothing else changed. The "
            "pull request above sets Git back; release a fixed model to try again",
            EXIT_ROLLED_BACK)
    raise CanaryStopped(f"the canary promotion of release {record.release} in {args.env} "
                        f"halted at {outcome.step}", why,
                        f"see the reason; to start over: {command} --restart", EXIT_HALTED)


def _promoted_change(env_name: str, release_key: str
                     ) -> Callable[[release.Serving, str], release.Change]:
    """The follow-up of a promotion, when the tfvars still say what was promoted."""
    def decide(serving: release.Serving, text: str) -> release.Change:
        current = serving.active_release()
        if serving.active != release_key or current is None or "canary" not in current:
            ui.info(f"the tfvars' active release is {serving.active or '(none)'}"
                    + (" without a canary" if serving.active == release_key else "")
                    + f", not release {release_key} with its canary: no follow-up proposed")
            return release.Change(env_name, "promote", serving, serving,
                                  "nothing to propose", "")
        return release.plan_promoted(serving, env_name)
    return decide


def _dropped_change(env_name: str, release_key: str, why: str
                    ) -> Callable[[release.Serving, str], release.Change]:
    """The follow-up of a rollback or an abort, when the tfvars still say that release."""
    def decide(serving: release.Serving, text: str) -> release.Change:
        if serving.active != release_key:
            ui.info(f"the tfvars' active release is {serving.active or '(none)'}, not "
                    f"{release_key}: no follow-up proposed")
            return release.Change(env_name, "rollback", serving, serving,
                                  "nothing to propose", "")
        return release.plan_canary_dropped(serving, env_name, why)
    return decide


# ---------------------------------------------------------------------------------------
# mlops canary abort
# ---------------------------------------------------------------------------------------


def run_abort(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from mlops.commands.release import propose

    ctx = context.load(env)
    ctx.config.require_env(args.env)
    lock = ctx.state_lock(args.env)
    store = Store(S3(ctx.env, client=lock.s3), lock.bucket, args.env)
    who = who_am_i(ctx.env)
    holder = lock.read()
    if holder is not None and holder.operation != canary.OPERATION:
        raise LockHeld(args.env, holder, datetime.now(UTC))
    own = None if holder is not None else lock.acquire("mlops canary abort",
                                                       f"env {args.env}: canary abort", who)
    try:
        target = find_target(ctx, args.env)
        endpoints = Endpoints(ctx.env)
        view = describe_existing(endpoints, target)
        if view.pending_config:
            raise MlopsError(f"the endpoint {target.endpoint} is deploying "
                             f"{view.pending_config}", "a config deployment is in progress",
                             "wait until it is InService, then re-run")
        if "canary" not in view.variants:
            raise MlopsError(f"release {target.release_of(view.config)} of {args.env} has no "
                             "canary: nothing to abort", "", "")
        release_key = target.release_of(view.config) or view.config
        # a running promotion stops at its next poll, and says who and why
        store.write_abort(view.config, who, args.reason)
        share = canary.share(view.weight("canary"), view.weight("stable"))
        ui.step(f"{args.env}: aborting the canary of release {release_key} (at "
                f"{canary.pct(round(share, 2))}): 100% back on stable")
        started = time.time()
        deadline = started + args.update_timeout
        while True:  # a promotion's last shift may land after ours: until it sticks
            restore_stable(endpoints, target, failed=view.status in canary.FAILED,
                           timeout=max(1.0, deadline - time.time()))
            after = describe_existing(endpoints, target)
            if after.config != view.config or canary.near(
                    canary.share(after.weight("canary"), after.weight("stable")), 0):
                break
            if time.time() > deadline:
                raise MlopsError("the canary's weight keeps being set back",
                                 "something else updates the weights", "find what and stop it")
        ui.info(f"100% on stable after {time.time() - started:.1f}s")
        because = f"aborted by {who}" + (f": {args.reason}" if args.reason else "")
        record = store.read()
        if own is not None and record is not None and record.config == view.config and \
                record.status == "running":
            store.write(replace(record, status="halted", outcome=because)
                        .with_event(time.time(), "abort", because))
    finally:
        if own is not None:
            try:
                lock.release(own.id)
            except LockError as err:
                ui.info(f"warning: {err.what} ({err.why})")
    propose(ctx, args.env,
            _dropped_change(args.env, release_key, f"its canary was {because}"),
            repo=args.repo, base=args.base, command=f"mlops canary abort --env {args.env}")
    return 0
