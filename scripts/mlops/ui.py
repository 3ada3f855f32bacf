"""Progress lines for long operations. Everything human goes to stderr; stdout is data."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


def step(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def info(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


@contextmanager
def stage(message: str, subject: str = "") -> Iterator[None]:
    """`==> message`, then `done in Xs` (`<subject> done in Xs` when stages run in
    parallel and their lines interleave)."""
    step(message)
    started = time.monotonic()
    yield
    info(f"{subject + ' ' if subject else ''}done in {time.monotonic() - started:.1f}s")
