"""The cost reaper's decisions: which SageMaker endpoints to delete and which GPU instances
to stop, and why. Pure: the command reads the account and acts; this module decides.

The rule this repository lives by: a dev endpoint alive overnight is a failure.

Ownership. A resource is this project's when its `project` tag says so, or, tag lost, its
name starts with `{project}-`; its env is its `env` tag, or its name's `{project}-{env}-`.
Resources of other projects sharing the account are never judged.

Scope. Without named envs, the reaper sweeps the envs whose policy allows it (reapable
and not protected). Named envs (`--envs`) are swept whatever their policy, so a protected
env is only ever touched when someone names it (aws-nuke's "say prod out loud").

A resource in scope is a *candidate* when, at `now`:
- its `expires_at` tag (RFC 3339 UTC) has passed;
- its `ttl_hours` tag is exceeded since its last deployment (an endpoint's
  LastModifiedTime, an instance's LaunchTime);
- it is older than the env's maximum age, or than `--max-age` when given (an endpoint's
  CreationTime, an instance's LaunchTime: how long it has been running);
- it lost one of the required tags (env, owner, cost): the cost-allocation tags every
  module sets from the start, so their deadline is the resource's creation.
Its deadline is the earliest of those moments.

cloud-custodian and aws-nuke conventions:
- grace period: a candidate is reaped once `now >= deadline + grace`; before that it is
  *due*, listed with the time it will go (the notice);
- opt-out: the tag `mlops:reaper-keep` whose value says why keeps a candidate (listed every
  run); an empty value is not an opt-out;
- cap per run: at most `cap` resources are reaped per run, the most overdue first; the rest
  are *capped* and go on a later run;
- dry run: the command decides the same and changes nothing.

Endpoints are deleted, keeping their endpoint configurations and models, so redeploying is
one `terraform apply`; instances are stopped, never terminated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from mlops.core import cost

REQUIRED_TAGS = ("env", "owner", "cost")
OPT_OUT_TAG = "mlops:reaper-keep"
EXPIRES_TAG = "expires_at"
TTL_TAG = "ttl_hours"
DEFAULT_GRACE = timedelta(hours=1)
DEFAULT_CAP = 10
# Accelerated instance families (GPU, Inferentia, Trainium, Gaudi): what costs by the hour.
ACCELERATED_RE = re.compile(r"^(p|g|gr|inf|trn|dl|vt)\d")
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")

Kind = Literal["endpoint", "instance"]


class Verdict(StrEnum):
    REAP = "reap"  # delete the endpoint / stop the instance in this run
    DUE = "due"  # a candidate within its grace period
    CAPPED = "capped"  # past its grace, over this run's cap: a later run
    KEPT = "kept"  # a candidate opted out with a reason
    OK = "ok"  # within every limit


@dataclass(frozen=True)
class EnvPolicy:
    """What the env's tier allows (core/envs.py's TierPolicy once environments are data)."""

    name: str
    reapable: bool  # the reaper sweeps it when no env is named
    protected: bool  # never swept unless named
    max_age_hours: float | None  # None: no age limit


@dataclass(frozen=True)
class Resource:
    kind: Kind
    id: str  # endpoint name / instance id
    name: str  # endpoint name / Name tag
    tags: Mapping[str, str]
    created: datetime
    deployed: datetime
    instances: tuple[tuple[str, int], ...] = ()  # (instance type, count) it runs
    region: str = ""  # where it runs (what it is deleted or stopped in)

    @property
    def label(self) -> str:
        if self.kind == "instance" and self.name and self.name != self.id:
            return f"instance {self.id} ({self.name})"
        return f"{self.kind} {self.id}"


@dataclass(frozen=True)
class Rules:
    now: datetime
    grace: timedelta = DEFAULT_GRACE
    cap: int = DEFAULT_CAP
    max_age: timedelta | None = None  # --max-age: replaces every swept env's maximum age


@dataclass(frozen=True)
class Decision:
    resource: Resource
    env: str
    verdict: Verdict
    reasons: tuple[str, ...] = ()
    reap_at: datetime | None = None  # deadline + grace (candidates only)
    notes: tuple[str, ...] = ()  # tags that could not be read, an opt-out without reason
    cost: tuple[cost.CostLine, ...] = ()  # what it costs per hour (negative: stopped)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.resource.kind, "id": self.resource.id, "name": self.resource.name,
            "env": self.env, "verdict": self.verdict.value, "reasons": list(self.reasons),
            "reap_at": _iso(self.reap_at) if self.reap_at else None, "notes": list(self.notes),
            "hourly": cost.total(self.cost).hourly,
        }


def parse_duration(text: str) -> timedelta:
    """'12h', '90m', '1d12h', '30s', '0' -> timedelta. Raises ValueError naming the input
    (a bare number other than 0 is refused: hours or minutes?)."""
    raw = text.strip().lower()
    if raw == "0":
        return timedelta(0)
    if not raw or _DURATION_RE.sub("", raw):
        raise ValueError(f"{text!r} is not a duration like 12h, 90m, 1d12h or 30s")
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u]
                                 for n, u in _DURATION_RE.findall(raw)))


def parse_time(text: str) -> datetime:
    """An RFC 3339 UTC timestamp (2025-01-31T18:00:00Z). Raises ValueError."""
    if not _RFC3339_UTC.match(text.strip()):
        raise ValueError(f"{text!r} is not an RFC 3339 UTC time like 2025-01-31T18:00:00Z")
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))


def is_accelerated(instance_type: str) -> bool:
    return bool(ACCELERATED_RE.match(instance_type))


def scope(policies: Mapping[str, EnvPolicy], named: Iterable[str] = ()) -> tuple[str, ...]:
    """The envs a run sweeps: the named ones, else every reapable, unprotected env."""
    chosen = set(named)
    if chosen:
        return tuple(name for name in policies if name in chosen)
    return tuple(name for name, p in policies.items() if p.reapable and not p.protected)


def attribute(resource: Resource, project: str, envs: Iterable[str]) -> str | None:
    """The env a resource of this project belongs to, or None when it is not ours.

    Ours: its `project` tag is this project, or (tag lost) its name starts `{project}-`.
    Its env: its `env` tag, else its name's `{project}-{env}-` prefix (the longest: prod-eu
    before prod). A resource tagged for an env this project does not have is not ours."""
    tagged_project = resource.tags.get("project", "").strip()
    if tagged_project != project and not (
            not tagged_project and resource.name.startswith(f"{project}-")):
        return None
    known = sorted(envs, key=len, reverse=True)
    tagged = resource.tags.get("env", "").strip()
    if tagged:
        return tagged if tagged in known else None
    for env in known:
        if resource.name.startswith(f"{project}-{env}-"):
            return env
    return None


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def violations(resource: Resource, policy: EnvPolicy,
               rules: Rules) -> tuple[list[tuple[datetime, str]], list[str]]:
    """([(deadline, why)] for every limit the resource is past, [notes])."""
    found: list[tuple[datetime, str]] = []
    notes: list[str] = []
    now = rules.now
    expires = resource.tags.get(EXPIRES_TAG, "").strip()
    if expires:
        try:
            at = parse_time(expires)
        except ValueError as err:
            notes.append(f"{EXPIRES_TAG} tag ignored: {err}")
        else:
            if at <= now:
                found.append((at, f"{EXPIRES_TAG} {expires} has passed"))
    ttl = resource.tags.get(TTL_TAG, "").strip()
    if ttl:
        try:
            ttl_hours = float(ttl)
            if ttl_hours <= 0:
                raise ValueError
        except ValueError:
            notes.append(f"{TTL_TAG} tag ignored: {ttl!r} is not a positive number of hours")
        else:
            deadline = resource.deployed + timedelta(hours=ttl_hours)
            if deadline <= now:
                found.append((deadline, f"{TTL_TAG} {ttl}: last deployed "
                                        f"{_hours(now - resource.deployed)} ago"))
    if rules.max_age is not None:
        max_age, source = rules.max_age, "--max-age"
    elif policy.max_age_hours is not None:
        max_age, source = timedelta(hours=policy.max_age_hours), f"{policy.name}'s maximum age"
    else:
        max_age = None
    if max_age is not None and resource.created + max_age <= now:
        found.append((resource.created + max_age,
                      f"older than {source} ({_hours(max_age)}): up "
                      f"{_hours(now - resource.created)}"))
    missing = [t for t in REQUIRED_TAGS if not resource.tags.get(t, "").strip()]
    if missing:
        found.append((resource.created, f"lost the required tag(s) {', '.join(missing)}"))
    return found, notes


def _cost_lines(resource: Resource, prices: cost.PriceTable | None) -> tuple[cost.CostLine, ...]:
    hourly = prices.hourly if prices is not None else {}
    return tuple(cost.CostLine(resource.id, itype, -count, hourly.get(itype))
                 for itype, count in resource.instances if count > 0)


def decide(resources: Iterable[Resource], project: str, policies: Mapping[str, EnvPolicy],
           swept: Sequence[str], rules: Rules,
           prices: cost.PriceTable | None = None) -> list[Decision]:
    """A decision for every resource of a swept env; others are not ours to judge."""
    decisions: list[Decision] = []
    for resource in resources:
        env = attribute(resource, project, policies)
        if env is None or env not in swept:
            continue
        found, notes = violations(resource, policies[env], rules)
        lines = _cost_lines(resource, prices)
        if not found:
            decisions.append(Decision(resource, env, Verdict.OK, notes=tuple(notes),
                                      cost=lines))
            continue
        reasons = tuple(why for _, why in sorted(found, key=lambda f: f[0]))
        reap_at = min(at for at, _ in found) + rules.grace
        keep = resource.tags.get(OPT_OUT_TAG)
        if keep is not None and not keep.strip():
            notes.append(f"the {OPT_OUT_TAG} tag has no reason, so it is not honoured: "
                         "say why in its value")
        if keep and keep.strip():
            verdict = Verdict.KEPT
            reasons = (*reasons, f"kept: {OPT_OUT_TAG} = {keep.strip()!r}")
        elif rules.now < reap_at:
            verdict = Verdict.DUE
        else:
            verdict = Verdict.REAP
        decisions.append(Decision(resource, env, verdict, reasons, reap_at, tuple(notes),
                                  lines))
    # The cap: the most overdue first; the rest wait for a later run.
    ready = sorted((d for d in decisions if d.verdict is Verdict.REAP),
                   key=lambda d: (d.reap_at or rules.now, d.resource.id))
    over = {id(d) for d in ready[max(rules.cap, 0):]}
    return [Decision(d.resource, d.env, Verdict.CAPPED, d.reasons, d.reap_at, d.notes, d.cost)
            if id(d) in over else d for d in decisions]


# ---------------------------------------------------------------- the report


@dataclass(frozen=True)
class Outcome:
    """What the command did with a REAP decision."""

    decision: Decision
    done: bool
    error: str = ""


@dataclass(frozen=True)
class Report:
    envs: tuple[str, ...]
    now: datetime
    decisions: tuple[Decision, ...]
    outcomes: tuple[Outcome, ...] = ()
    dry_run: bool = False

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if not o.done)

    def stopped(self) -> cost.CostTotal:
        """The hourly cost this run stopped (or, in a dry run, would stop)."""
        if self.dry_run:
            lines = [c for d in self.decisions if d.verdict is Verdict.REAP for c in d.cost]
        else:
            lines = [c for o in self.outcomes if o.done for c in o.decision.cost]
        return cost.total(lines)


_ORDER = {Verdict.REAP: 0, Verdict.CAPPED: 1, Verdict.DUE: 2, Verdict.KEPT: 3, Verdict.OK: 4}


def _action(decision: Decision, report: Report) -> str:
    kind = decision.resource.kind
    if decision.verdict is Verdict.REAP:
        outcome = next((o for o in report.outcomes if o.decision is decision), None)
        verb = "delete" if kind == "endpoint" else "stop"
        if report.dry_run:
            return f"would {verb}"
        if outcome is not None and not outcome.done:
            return f"FAILED to {verb}"
        return "deleted" if kind == "endpoint" else "stopped"
    if decision.verdict is Verdict.DUE and decision.reap_at is not None:
        return f"due {_iso(decision.reap_at)}"
    return {Verdict.CAPPED: "over the cap", Verdict.KEPT: "kept"}.get(decision.verdict, "ok")


def _running(line: cost.CostLine) -> str:
    """What a resource that stays costs: '$0.06/h (ml.t2.medium x1)'."""
    what = f"{line.instance_type} x{abs(line.count)}"
    if line.hourly is None:
        return f"$?/h ({what}, price unknown)"
    return f"${abs(line.hourly):,.2f}/h ({what})"


def render(report: Report) -> str:
    """Markdown for the terminal and the job summary."""
    title = f"## Cost reaper: {', '.join(report.envs) or 'no env'}"
    lines = [title + (" (dry run: nothing changed)" if report.dry_run else ""), ""]
    reaped = [d for d in report.decisions if d.verdict is Verdict.REAP]
    total = report.stopped()
    cost_text = f"{total.render()} stopped" if reaped else "no cost stopped"
    verb = "would reap" if report.dry_run else "reaped"
    ok = sum(d.verdict is Verdict.OK for d in report.decisions)
    lines.append(f"{len(report.decisions)} resource(s) checked at {_iso(report.now)}: "
                 f"{verb} {len(reaped)}, {cost_text}; {ok} within their limits.")
    listed = sorted((d for d in report.decisions if d.verdict is not Verdict.OK),
                    key=lambda d: (_ORDER[d.verdict], d.env, d.resource.id))
    if listed:
        lines += ["", "| action | env | resource | why | cost |", "|---|---|---|---|---|"]
        for d in listed:
            costs = ", ".join(c.render() if d.verdict is Verdict.REAP else _running(c)
                              for c in d.cost) or "-"
            why = "; ".join(d.reasons).replace("|", "\\|")
            lines.append(f"| {_action(d, report)} | {d.env} | {d.resource.label} | {why} | "
                         f"{costs} |")
    notes = [(d, n) for d in report.decisions for n in d.notes]
    for o in report.failed:
        lines.append(f"\n**Failed**: {o.decision.resource.label}: {o.error}")
    if notes:
        lines += ["", "Notes:"] + [f"- {d.resource.label}: {n}" for d, n in notes]
    if any(d.verdict is Verdict.REAP and d.resource.kind == "endpoint" for d in report.decisions):
        lines += ["", "A reaped endpoint keeps its endpoint configurations and models: "
                  "re-applying the env from main redeploys it."]
    return "\n".join(lines) + "\n"
