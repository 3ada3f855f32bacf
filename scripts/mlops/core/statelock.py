"""Terraform's S3 native state lock, as data. Pure.

Terraform >= 1.10 with `use_lockfile = true` locks a state by writing the object
`<state key>.tflock` with `PutObject` and `If-None-Match: *` (it fails when the object
exists), holding the JSON of its `statemgr.LockInfo`:

    {"ID": "...", "Operation": "...", "Info": "...", "Who": "user@host",
     "Version": "1.11.4", "Created": "2025-01-01T12:00:00.123456789Z", "Path": "bucket/key"}

and unlocks by reading the object, checking its ID, then deleting it
(hashicorp/terraform internal/backend/remote-state/s3/client.go: lockWithFile,
unlockWithFile; internal/states/statemgr/locker.go: LockInfo). `Created` is Go's
`time.Time` JSON: RFC 3339 with up to nine fraction digits, trailing zeros trimmed.

mlops writes the same object, so a lock it holds (the canary's promotion, an unlock
check) is one Terraform itself honours and prints, and the other way round.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

LOCK_SUFFIX = ".tflock"
# Younger than this, a lock may belong to a run that is still applying: `mlops unlock`
# refuses it without --force. Longer than any plan; an apply that holds a lock this long
# is printing progress in its own job log.
SAFETY_AGE = timedelta(minutes=15)

_GO_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


def lock_key(state_key: str) -> str:
    """The lock object's key for a state key (`envs/dev/terraform.tfstate.tflock`)."""
    return state_key + LOCK_SUFFIX


def parse_go_time(text: str) -> datetime:
    """Go's time.Time JSON (RFC 3339, up to nanoseconds) -> an aware datetime (microseconds)."""
    match = _GO_TIME.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time")
    base, fraction, zone = match.groups()
    micros = (fraction or "").ljust(6, "0")[:6]
    tz = "+00:00" if zone == "Z" else zone
    return datetime.fromisoformat(f"{base}.{micros}{tz}").astimezone(UTC)


def format_go_time(moment: datetime) -> str:
    """An aware datetime -> Go's time.Time JSON for UTC (fraction trimmed like Go's)."""
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


@dataclass(frozen=True)
class LockInfo:
    """statemgr.LockInfo."""

    id: str
    operation: str
    info: str
    who: str
    version: str
    created: datetime
    path: str

    def to_json(self) -> str:
        return json.dumps({"ID": self.id, "Operation": self.operation, "Info": self.info,
                           "Who": self.who, "Version": self.version,
                           "Created": format_go_time(self.created), "Path": self.path},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> LockInfo:
        """Parse a lock object. Raises ValueError saying what is wrong."""
        try:
            data: Any = json.loads(text)
        except ValueError as err:
            raise ValueError(f"the lock object is not JSON: {err}") from err
        if not isinstance(data, dict) or not isinstance(data.get("ID"), str) or not data["ID"]:
            raise ValueError("the lock object has no ID")
        created = data.get("Created")
        return cls(id=data["ID"], operation=str(data.get("Operation") or ""),
                   info=str(data.get("Info") or ""), who=str(data.get("Who") or ""),
                   version=str(data.get("Version") or ""),
                   created=parse_go_time(created) if isinstance(created, str) and created
                   else datetime.fromtimestamp(0, UTC),
                   path=str(data.get("Path") or ""))

    def age(self, now: datetime) -> timedelta:
        return now - self.created

    def describe(self, now: datetime | None = None) -> str:
        """Terraform's "Lock Info:" block, plus the age when `now` is given."""
        since = format_go_time(self.created)
        if now is not None:
            since += f" ({human_age(self.age(now))} ago)"
        return ("Lock Info:\n"
                f"  ID:        {self.id}\n"
                f"  Path:      {self.path}\n"
                f"  Operation: {self.operation}\n"
                f"  Who:       {self.who}\n"
                f"  Version:   {self.version}\n"
                f"  Created:   {since}\n"
                f"  Info:      {self.info}")


_INFO_LINE = re.compile(r"^\s*(ID|Path|Operation|Who|Version|Created|Info):[ \t]*(.*)$",
                        re.MULTILINE)


def parse_lock_info_text(output: str) -> LockInfo | None:
    """The "Lock Info:" block Terraform prints when it cannot take a lock (statemgr
    LockInfo.String), or None. `Created` there is Go's time.String(), e.g.
    `2025-06-01 11:58:30.123456789 +0000 UTC`."""
    start = output.find("Lock Info:")
    if start < 0:
        return None
    fields: dict[str, str] = {}
    for match in _INFO_LINE.finditer(output[start:]):
        fields.setdefault(match.group(1), match.group(2).strip())
    if not fields.get("ID"):
        return None
    created = datetime.fromtimestamp(0, UTC)
    go = re.match(r"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d+))? ([+-]\d{4})",
                  fields.get("Created", ""))
    if go:
        date, clock, fraction, zone = go.groups()
        with contextlib.suppress(ValueError):  # an odd Created line: the epoch
            created = parse_go_time(f"{date}T{clock}{'.' + fraction if fraction else ''}"
                                    f"{zone[:3]}:{zone[3:]}")
    return LockInfo(id=fields["ID"], operation=fields.get("Operation", ""),
                    info=fields.get("Info", ""), who=fields.get("Who", ""),
                    version=fields.get("Version", ""), created=created,
                    path=fields.get("Path", ""))


def new_lock(*, operation: str, info: str, who: str, version: str, now: datetime,
             path: str, lock_id: str | None = None) -> LockInfo:
    return LockInfo(id=lock_id or str(uuid.uuid4()), operation=operation, info=info, who=who,
                    version=version, created=now.astimezone(UTC), path=path)


def human_age(age: timedelta) -> str:
    seconds = max(0, int(age.total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d"


def unlock_command(env: str, lock_id: str) -> str:
    return f"mlops unlock --env {env} --lock-id {lock_id}"


def held_message(env: str, lock: LockInfo, now: datetime) -> tuple[str, str, str]:
    """(what, why, fix) for a lock someone else holds: the lock id, who holds it, the
    operation, since when, and the exact unlock command to run after checking."""
    what = (f"the state of {env} is locked by another run: {lock.who or 'unknown holder'} "
            f"({lock.operation or 'unknown operation'}) since "
            f"{format_go_time(lock.created)}, {human_age(lock.age(now))} ago; lock id {lock.id}")
    why = ("another run holds the state lock: two runs must never change one state at once\n"
           + lock.describe(now))
    fix = ("wait for that run to finish and re-run. Only if nobody is applying (check the "
           f"holder's job or terminal): `{unlock_command(env, lock.id)}`")
    return what, why, fix


@dataclass(frozen=True)
class UnlockDecision:
    allowed: bool
    reason: str


def decide_unlock(lock: LockInfo | None, lock_id: str, *, force: bool, now: datetime,
                  safety_age: timedelta = SAFETY_AGE) -> UnlockDecision:
    """Whether `mlops unlock --lock-id lock_id [--force]` may delete this lock."""
    if lock is None:
        return UnlockDecision(False, "there is no lock: nothing to unlock")
    if lock_id != lock.id:
        return UnlockDecision(False, f"--lock-id {lock_id} is not the current lock "
                                     f"{lock.id}: the lock changed hands, or the id is mistyped")
    age = lock.age(now)
    if age < safety_age and not force:
        return UnlockDecision(False, f"the lock is only {human_age(age)} old (younger than "
                                     f"{human_age(safety_age)}): its run may still be applying")
    return UnlockDecision(True, "forced" if age < safety_age else
                          f"the lock is {human_age(age)} old")
