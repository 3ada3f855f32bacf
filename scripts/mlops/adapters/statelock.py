"""The state lock of one env, in its S3 bucket, exactly as Terraform's S3 backend keeps it
(`use_lockfile = true`; see core/statelock.py). A lock mlops holds is one Terraform
honours: `terraform apply` is refused and prints our Who/Operation; and the converse.

    lock = ctx.state_lock("dev")            # context.Context wires bucket and state key
    lock.read()                             # LockInfo | None
    held = lock.acquire("mlops canary promote", "release v7")   # or LockHeld
    lock.release(held.id)                   # checks the ID first, like Terraform
    with lock.held("mlops canary promote", "release v7") as info: ...
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from mlops import __version__, ui
from mlops.core import statelock
from mlops.core.statelock import LockInfo
from mlops.errors import MlopsError


class LockHeld(MlopsError):
    """Someone else holds the lock. Carries the holder's LockInfo."""

    exit_code = 8

    def __init__(self, env: str, lock: LockInfo, now: datetime) -> None:
        super().__init__(*statelock.held_message(env, lock, now))
        self.lock = lock


class LockError(MlopsError):
    """The lock object could not be read, written or released."""


def default_who() -> str:
    """user@hostname, as Terraform writes it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    return f"{user}@{socket.gethostname()}"


def _code(err: Any) -> str:
    return str(getattr(err, "response", {}).get("Error", {}).get("Code", ""))


class StateLock:
    def __init__(self, s3: Any, bucket: str, state_key: str, env: str, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.state_key = state_key
        self.key = statelock.lock_key(state_key)
        self.env = env
        self.clock = clock

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def read(self) -> LockInfo | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except ClientError as err:
            if _code(err) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise LockError(f"could not read the state lock {self.where}", str(err),
                            "check the credentials may s3:GetObject on the state bucket") from err
        except BotoCoreError as err:
            raise LockError(f"could not read the state lock {self.where}", str(err),
                            "check AWS_ENDPOINT_URL and the network") from err
        try:
            return LockInfo.from_json(body)
        except ValueError as err:
            raise LockError(f"the state lock {self.where} is not a Terraform lock", str(err),
                            "inspect the object; if it is garbage, delete it by hand") from err

    def state_serial(self) -> int | None:
        """The serial of the state object (None when there is no state yet)."""
        import json

        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.state_key)["Body"].read()
        except ClientError as err:
            if _code(err) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise LockError(f"could not read the state s3://{self.bucket}/{self.state_key}",
                            str(err), "check the credentials may s3:GetObject on it") from err
        except BotoCoreError as err:
            raise LockError(f"could not read the state s3://{self.bucket}/{self.state_key}",
                            str(err), "check AWS_ENDPOINT_URL and the network") from err
        try:
            serial = json.loads(body).get("serial")
        except (ValueError, AttributeError):
            return None
        return int(serial) if isinstance(serial, int) else None

    def acquire(self, operation: str, info: str = "", who: str | None = None) -> LockInfo:
        """Write the lock if nobody holds it (PutObject If-None-Match: *), else LockHeld."""
        from botocore.exceptions import BotoCoreError, ClientError

        lock = statelock.new_lock(operation=operation, info=info, who=who or default_who(),
                                  version=f"mlops {__version__}", now=self.clock(),
                                  path=f"{self.bucket}/{self.state_key}")
        try:
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=lock.to_json().encode(),
                               ContentType="application/json", IfNoneMatch="*")
        except ClientError as err:
            # 412 PreconditionFailed: the object exists. 409 ConditionalRequestConflict:
            # a concurrent conditional write to the same key won.
            if _code(err) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                holder = self.read()
                if holder is None:  # released between our put and our read: say so plainly
                    raise LockError(f"the state lock {self.where} changed while we took it",
                                    "another run took or released it at the same moment",
                                    "re-run") from err
                raise LockHeld(self.env, holder, self.clock()) from err
            raise LockError(f"could not write the state lock {self.where}", str(err),
                            "check the credentials may s3:PutObject on the lock object") from err
        except BotoCoreError as err:
            raise LockError(f"could not write the state lock {self.where}", str(err),
                            "check AWS_ENDPOINT_URL and the network") from err
        return lock

    def release(self, lock_id: str) -> None:
        """Delete the lock after checking it is `lock_id` (Terraform's unlockWithFile)."""
        current = self.read()
        if current is None:
            raise LockError(f"there is no state lock {self.where} to release",
                            "it was released already (or force-unlocked by someone)",
                            "nothing to do")
        if current.id != lock_id:
            raise LockError(f"the state lock of {self.env} is {current.id}, not {lock_id}",
                            "the lock changed hands: releasing it would break another run",
                            "leave it; check who holds it with `mlops unlock --env "
                            f"{self.env} --lock-id {lock_id}` (which shows the holder)")
        self.delete()

    def delete(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.s3.delete_object(Bucket=self.bucket, Key=self.key)
        except (ClientError, BotoCoreError) as err:
            raise LockError(f"could not delete the state lock {self.where}", str(err),
                            "check the credentials may s3:DeleteObject on the lock object"
                            ) from err

    @contextmanager
    def held(self, operation: str, info: str = "", who: str | None = None) -> Iterator[LockInfo]:
        """Hold the lock for the block; released on the way out, whatever happens."""
        lock = self.acquire(operation, info, who)
        try:
            yield lock
        finally:
            try:
                self.release(lock.id)
            except LockError as err:
                ui.info(f"warning: {err.what} ({err.why})")
