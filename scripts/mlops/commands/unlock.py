"""`mlops unlock --env ENV --lock-id ID [--force]`: release an env's state lock that a
crashed or killed run left behind.

It shows the lock (who, operation, since when) and deletes it only when --lock-id names
the lock held now (so a lock that changed hands is never broken), and the lock is older
than the safety age (15 minutes: its run cannot still be applying unnoticed) unless
--force is given. Release is Terraform's own: read, check the ID, delete.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mlops import argtypes, context, ui
from mlops.core import statelock
from mlops.errors import MlopsError


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "unlock", help="release an env's state lock left by a crashed run",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, type=argtypes.env_name,
                        help="the env whose state lock to release")
    parser.add_argument("--lock-id", required=True,
                        help="the ID of the lock to release (printed by the failed run)")
    parser.add_argument("--force", action="store_true",
                        help="release a lock younger than the safety age (15m)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    ctx = context.load(env)
    ctx.config.require_env(args.env)
    lock = ctx.state_lock(args.env)
    now = datetime.now(UTC)
    current = lock.read()
    if current is not None:
        print(current.describe(now), flush=True)
    decision = statelock.decide_unlock(current, args.lock_id, force=args.force, now=now)
    if not decision.allowed:
        fix = "nothing to do"
        if current is not None and current.id != args.lock_id:
            fix = (f"check the lock above; if its run died, "
                   f"`{statelock.unlock_command(args.env, current.id)}`")
        elif current is not None:
            fix = ("check that nobody is applying (the holder's job or terminal), then add "
                   f"--force: `{statelock.unlock_command(args.env, current.id)} --force`")
        raise MlopsError(f"not unlocking {args.env}: {decision.reason}",
                         f"the lock is {lock.where}", fix)
    lock.release(args.lock_id)
    ui.step(f"{args.env}: released lock {args.lock_id} held by {current.who if current else '?'}"
            f" ({decision.reason})")
    return 0
