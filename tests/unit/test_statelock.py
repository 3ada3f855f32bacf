"""core/statelock.py on literal inputs: Terraform's LockInfo JSON, Go's time format, the
held-lock message and the unlock decision table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from mlops.core import statelock
from mlops.core.statelock import LockInfo

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)

# As Terraform 1.11 writes it (json.Marshal of statemgr.LockInfo; Go's RFC3339Nano time).
TERRAFORM_LOCK = json.dumps({
    "ID": "0bd7b1e5-52f6-7f6b-3d44-6c2b1f3d3a10", "Operation": "OperationTypeApply",
    "Info": "", "Who": "runner@fv-az123", "Version": "1.11.4",
    "Created": "2025-06-01T11:58:30.123456789Z",
    "Path": "mlops-demo-tfstate-123456789012/envs/dev/terraform.tfstate"})


@pytest.mark.parametrize(("text", "expected"), [
    ("2025-06-01T11:58:30.123456789Z", datetime(2025, 6, 1, 11, 58, 30, 123456, tzinfo=UTC)),
    ("2025-06-01T11:58:30Z", datetime(2025, 6, 1, 11, 58, 30, tzinfo=UTC)),
    ("2025-06-01T11:58:30.5Z", datetime(2025, 6, 1, 11, 58, 30, 500000, tzinfo=UTC)),
    ("2025-06-01T13:58:30.1+02:00", datetime(2025, 6, 1, 11, 58, 30, 100000, tzinfo=UTC)),
])
def test_parses_gos_time_format(text: str, expected: datetime) -> None:
    assert statelock.parse_go_time(text) == expected


@pytest.mark.parametrize("bad", ["", "2025-06-01 11:58:30", "yesterday", "2025-06-01T11:58:30"])
def test_rejects_what_is_not_rfc3339(bad: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        statelock.parse_go_time(bad)


@pytest.mark.parametrize(("moment", "text"), [
    (datetime(2025, 6, 1, 11, 58, 30, tzinfo=UTC), "2025-06-01T11:58:30Z"),
    (datetime(2025, 6, 1, 11, 58, 30, 120000, tzinfo=UTC), "2025-06-01T11:58:30.12Z"),
])
def test_formats_like_go_trimming_zeros(moment: datetime, text: str) -> None:
    assert statelock.format_go_time(moment) == text


def test_reads_terraforms_lock_and_writes_the_same_fields() -> None:
    lock = LockInfo.from_json(TERRAFORM_LOCK)
    assert (lock.id, lock.operation, lock.who, lock.version) == (
        "0bd7b1e5-52f6-7f6b-3d44-6c2b1f3d3a10", "OperationTypeApply", "runner@fv-az123", "1.11.4")
    back = json.loads(lock.to_json())
    assert sorted(back) == ["Created", "ID", "Info", "Operation", "Path", "Version", "Who"]
    assert LockInfo.from_json(lock.to_json()) == lock


@pytest.mark.parametrize("bad", ["not json", "[]", '{"Who": "x"}', '{"ID": ""}'])
def test_garbage_lock_objects_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        LockInfo.from_json(bad)


def test_lock_key_is_terraforms() -> None:
    assert statelock.lock_key("envs/dev/terraform.tfstate") == "envs/dev/terraform.tfstate.tflock"


def test_held_message_names_id_holder_operation_age_and_the_unlock_command() -> None:
    lock = LockInfo.from_json(TERRAFORM_LOCK)
    what, why, fix = statelock.held_message("dev", lock, NOW)
    assert "runner@fv-az123" in what and "OperationTypeApply" in what
    assert "2025-06-01T11:58:30.123456Z" in what and "89s ago" in what
    assert lock.id in what and "Lock Info:" in why
    assert f"`mlops unlock --env dev --lock-id {lock.id}`" in fix
    assert "nobody is applying" in fix


OLD = LockInfo("old-id", "OperationTypeApply", "", "a@b", "1.11.4", NOW - timedelta(hours=2), "p")
YOUNG = LockInfo("young-id", "OperationTypeApply", "", "a@b", "1.11.4",
                 NOW - timedelta(minutes=3), "p")


@pytest.mark.parametrize(("lock", "given", "force", "allowed", "reason"), [
    (None, "x", False, False, "there is no lock"),
    (OLD, "other-id", False, False, "is not the current lock old-id"),
    (OLD, "other-id", True, False, "is not the current lock old-id"),
    (YOUNG, "young-id", False, False, "only 3m old (younger than 15m)"),
    (YOUNG, "young-id", True, True, "forced"),
    (OLD, "old-id", False, True, "2h00m old"),
], ids=["no-lock", "wrong-id", "wrong-id-forced", "young", "young-forced", "old"])
def test_unlock_decision(lock: LockInfo | None, given: str, force: bool, allowed: bool,
                         reason: str) -> None:
    decision = statelock.decide_unlock(lock, given, force=force, now=NOW)
    assert decision.allowed is allowed and reason in decision.reason, decision
