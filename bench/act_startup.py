"""Benchmark: what running a workflow under act costs, before any step does real work.

    .venv/bin/python bench/act_startup.py [--reps N]

A benchmark, not a test: it measures and prints medians and ratios against a baseline
measured in the same run, and never asserts on timing.

It times, interleaved over --reps repetitions:
  (a) baseline: `bash -c true`, the one step run directly;
  (b) act: a one-job workflow whose one step is `true`, run on the host
      (-P ubuntu-24.04=-self-hosted): act's own start-up, parse, plan and job set-up;
  (c) act: a one-job workflow of checkout + setup-python (the stand-ins) + `true`: what
      every job of this repository's workflows pays before its first mlops step;
  (d) (c) plus `python -m pip install -e .`, as the workflows install mlops.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "workflows"))

from actrunner import Act, Repo, repository_payload  # noqa: E402

CHECKOUT = "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0"
SETUP_PYTHON = "actions/setup-python@e797f83bcb11b83ae66e0230d6156d7c80228e7c # v6.0.0"


def workflow(steps: str) -> str:
    return ("name: bench\non: push\npermissions: {}\njobs:\n  one:\n    runs-on: ubuntu-24.04\n"
            f"    steps:\n{steps}")


EMPTY = workflow("      - run: \"true\"\n")
SETUP = workflow(
    f"      - uses: {CHECKOUT}\n        with:\n          persist-credentials: false\n"
    f"      - uses: {SETUP_PYTHON}\n        with:\n          python-version: \"3.12\"\n"
    "          cache: pip\n          cache-dependency-path: pyproject.toml\n"
    "      - run: \"true\"\n")
INSTALL = SETUP.replace('      - run: "true"\n', "      - run: python -m pip install -q -e .\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="act-bench-") as tmp:
        act = Act(home=Path(tmp), repo=Repo.from_checkout(Path(tmp) / "repo"))
        act.repo.commit("bench workflows", {
            ".github/workflows/bench-empty.yml": EMPTY,
            ".github/workflows/bench-setup.yml": SETUP,
            ".github/workflows/bench-install.yml": INSTALL,
        })
        payload = {"ref": "refs/heads/main", "repository": repository_payload()}
        times: dict[str, list[float]] = {"bash": [], "empty": [], "setup": [], "install": []}
        for _ in range(args.reps):
            started = time.monotonic()
            subprocess.run(["bash", "-c", "true"], check=True, env=dict(os.environ))
            times["bash"].append(time.monotonic() - started)
            for name in ("empty", "setup", "install"):
                run = act.run(f"bench-{name}.yml", "push", payload)
                if run.returncode != 0:
                    print(run.tail(), file=sys.stderr)
                    return 1
                times[name].append(run.seconds)
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"act start-up, median of {args.reps} (load average {os.getloadavg()[0]:.1f}):")
    print(f"  (a) bash -c true                        {median['bash'] * 1000:8.1f} ms")
    print(f"  (b) act, one job, one step              {median['empty'] * 1000:8.1f} ms"
          f"  ({median['empty'] / median['bash']:.0f}x (a))")
    print(f"  (c) + checkout + setup-python stand-ins {median['setup'] * 1000:8.1f} ms"
          f"  (+{(median['setup'] - median['empty']) * 1000:.0f} ms over (b))")
    print(f"  (d) + pip install -e .                  {median['install'] * 1000:8.1f} ms"
          f"  (+{(median['install'] - median['setup']) * 1000:.0f} ms over (c))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
