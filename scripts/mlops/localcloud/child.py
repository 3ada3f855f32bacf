"""`python -m mlops.localcloud.child PARENT_PID serve ...`: a hosted variant's process.

Asks Linux to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG), checks
the parent is still the one that started it (it may have died before the prctl), then
runs the model server in this same interpreter. So a variant never outlives the
embedded AWS, even when that is SIGKILLed and has no chance to stop it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        os._exit(1)  # the parent is already gone: nobody would stop us


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not argv[0].isdigit():
        print("usage: python -m mlops.localcloud.child PARENT_PID serve ...", file=sys.stderr)
        return 2
    die_with_parent(int(argv[0]))
    from model_server.cli import main as serve

    return serve(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
