"""Deployment records: what was applied to an env, when, by whom, from which commit and
review, with what outcome. Pure: the format, the object keys, and the choices made from a
history (the latest, the rollback target).

Records live in the state bucket under `deployments/<env>/`:
  records/<inverted time>-<id>.json   one object per apply, rollback or destroy, written
                                      once (If-None-Match: *) and never changed: the
                                      history. The inverted millisecond time makes S3's
                                      ascending key order newest-first.
  latest.json                         a copy of the newest record, so reading the latest
                                      is one GetObject.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

SCHEMA_VERSION = 1
PREFIX = "deployments"
_INVERT = 9_999_999_999_999  # ms; keys stay 13 digits until the year 2286

Kind = Literal["apply", "rollback", "destroy"]
Result = Literal["applied", "failed", "partial"]
KINDS: tuple[str, ...] = ("apply", "rollback", "destroy")
RESULTS: tuple[str, ...] = ("applied", "failed", "partial")


def env_prefix(env: str) -> str:
    return f"{PREFIX}/{env}/"


def records_prefix(env: str) -> str:
    return f"{PREFIX}/{env}/records/"


def latest_key(env: str) -> str:
    return f"{PREFIX}/{env}/latest.json"


def _cell(text: str) -> str:
    """Free text in one Markdown table cell: one line, no column breaks."""
    return " ".join(text.split()).replace("|", "\\|")[:300]


def check_reason(text: str) -> str:
    """A deployment's reason as a person typed it: one line of at most 300 characters
    (raises ValueError saying what is wrong). Empty is allowed: only the dispatch
    workflows require one."""
    reason = " ".join(text.split())
    if len(reason) > 300:
        raise ValueError(f"the reason is {len(reason)} characters long; keep it to 300")
    if any(ord(c) < 32 for c in reason):
        raise ValueError("the reason holds control characters")
    return reason


@dataclass(frozen=True)
class Record:
    env: str
    kind: Kind
    outcome: Result
    commit: str
    time: datetime
    actor: str
    fingerprint: str = ""
    reviewed: bool = False
    review: str = ""  # the guard's outcome, e.g. "apply" or "unreviewed (no-pull-request)"
    pr: int | None = None
    pr_url: str = ""
    run_url: str = ""
    state_serial_before: int | None = None
    state_serial_after: int | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)  # sensitive ones: "(sensitive)"
    changes: Mapping[str, int] = field(default_factory=dict)  # plan counts
    destroyed: tuple[str, ...] = ()  # destroy: the addresses destroyed
    rolled_back_from: str = ""  # rollback: the commit deployed before
    error: str = ""  # masked, short
    reason: str = ""  # why a person ran it (workflow_dispatch's reason input), as given
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def key(self) -> str:
        millis = int(self.time.timestamp() * 1000)
        stamp = self.time.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"{records_prefix(self.env)}{_INVERT - millis:013d}-{stamp}-{self.id}.json"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = self.time.astimezone(UTC).isoformat().replace("+00:00", "Z")
        data["outputs"] = dict(self.outputs)
        data["changes"] = dict(self.changes)
        data["destroyed"] = list(self.destroyed)
        return {"version": SCHEMA_VERSION, **data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        """Raises ValueError saying what is wrong."""
        if not isinstance(data, Mapping) or data.get("version") != SCHEMA_VERSION:
            raise ValueError(f"not a deployment record of version {SCHEMA_VERSION}")
        if data.get("kind") not in KINDS or data.get("outcome") not in RESULTS:
            raise ValueError(f"deployment record has kind {data.get('kind')!r} and outcome "
                             f"{data.get('outcome')!r}")
        try:
            when = datetime.fromisoformat(str(data["time"]).replace("Z", "+00:00"))
            pr = data.get("pr")
            return cls(
                env=str(data["env"]), kind=data["kind"], outcome=data["outcome"],
                commit=str(data.get("commit") or ""), time=when,
                actor=str(data.get("actor") or ""),
                fingerprint=str(data.get("fingerprint") or ""),
                reviewed=bool(data.get("reviewed")), review=str(data.get("review") or ""),
                pr=None if pr is None else int(pr), pr_url=str(data.get("pr_url") or ""),
                run_url=str(data.get("run_url") or ""),
                state_serial_before=_int_or_none(data.get("state_serial_before")),
                state_serial_after=_int_or_none(data.get("state_serial_after")),
                outputs=dict(data.get("outputs") or {}),
                changes={str(k): int(v) for k, v in (data.get("changes") or {}).items()},
                destroyed=tuple(str(a) for a in data.get("destroyed") or ()),
                rolled_back_from=str(data.get("rolled_back_from") or ""),
                error=str(data.get("error") or ""), reason=str(data.get("reason") or ""),
                id=str(data.get("id") or ""))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"deployment record is malformed: {err!r}") from err

    @classmethod
    def from_json(cls, text: str | bytes) -> Record:
        try:
            data = json.loads(text)
        except ValueError as err:
            raise ValueError(f"deployment record is not JSON: {err}") from err
        return cls.from_dict(data)

    @property
    def succeeded(self) -> bool:
        return self.outcome == "applied"

    def summary_markdown(self) -> str:
        """For $GITHUB_STEP_SUMMARY."""
        icon = {"applied": "✅", "failed": "❌", "partial": "⚠️"}[self.outcome]
        lines = [f"### {icon} {self.kind} of `{self.env}`: {self.outcome}", "",
                 "| | |", "|---|---|",
                 f"| commit | `{self.commit[:12] or '?'}` |"]
        if self.pr is not None:
            lines.append(f"| pull request | [#{self.pr}]({self.pr_url}) |" if self.pr_url
                         else f"| pull request | #{self.pr} |")
        lines += [f"| review | {self.review or ('reviewed' if self.reviewed else 'unreviewed')} |",
                  f"| fingerprint | `{self.fingerprint[:12] or '-'}` |",
                  f"| actor | {self.actor} |",
                  *([f"| reason | {_cell(self.reason)} |"] if self.reason else []),
                  f"| time | {self.to_dict()['time']} |"]
        if self.state_serial_before is not None or self.state_serial_after is not None:
            lines.append(f"| state serial | {self.state_serial_before} → "
                         f"{self.state_serial_after} |")
        if self.rolled_back_from:
            lines.append(f"| rolled back from | `{self.rolled_back_from[:12]}` |")
        if self.destroyed:
            lines.append(f"| destroyed | {len(self.destroyed)} resources |")
        if self.error:
            lines.append(f"| error | {self.error.splitlines()[0][:200]} |")
        lines.append(f"| record | `{self.key()}` |")
        return "\n".join(lines) + "\n"


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


_KEY = re.compile(r"^(\d{13})-")


def newest_first(keys: Iterable[str], env: str) -> list[str]:
    """Record keys of `env`, newest first (their natural S3 order)."""
    prefix = records_prefix(env)
    return sorted(k for k in keys if k.startswith(prefix)
                  and _KEY.match(k[len(prefix):]) and k.endswith(".json"))


def deployed(history: Sequence[Record]) -> list[Record]:
    """Successful applies and rollbacks, newest first (history is newest first)."""
    return [r for r in history if r.kind in ("apply", "rollback") and r.succeeded]


def rollback_target(history: Sequence[Record]) -> tuple[Record, Record] | None:
    """(current, target): the latest successful deployment, and the one before it that
    deployed a different commit. None when there is no such pair."""
    done = deployed(history)
    if not done:
        return None
    current = done[0]
    for record in done[1:]:
        if record.commit and record.commit != current.commit:
            return current, record
    return None


def record_for_commit(history: Sequence[Record], commit: str) -> Record | None:
    """The newest successful deployment of `commit` (a full or abbreviated sha)."""
    for record in deployed(history):
        if commit and record.commit.startswith(commit):
            return record
    return None
