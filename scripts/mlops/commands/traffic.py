"""`mlops traffic --env ENV [--endpoint NAME] --rps R --duration S [--json]`

Real InvokeEndpoint load on an endpoint: an open-loop schedule of R requests per second
for S seconds, each one held-out row of the training data set (the rows every model of
that data set was scored on; `--data`, default breast_cancer). A progress line while it
runs; per variant, at the end: requests, success rate, latency p50/p90/p99 (client side,
milliseconds) and error codes. `--json` prints the same as JSON on stdout. Interrupted
(Ctrl-C, SIGINT, or SIGTERM), it stops sending and still reports what was sent (exit 130).

The endpoint defaults to the env root's `endpoint` output (what Terraform created).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from mlops import argtypes, context, ui
from mlops.core import model as spec
from mlops.core import traffic
from mlops.errors import MlopsError

PROGRESS_EVERY = 5.0  # seconds between progress lines when stderr is not a terminal
MAX_RPS = 500.0
MAX_DURATION = 3600.0


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "traffic", help="send real InvokeEndpoint load and report per-variant results",
        description="Open-loop InvokeEndpoint load with held-out rows; per-variant success "
                    "rate and latency percentiles.")
    parser.add_argument("--env", required=True, type=argtypes.env_name,
                        help="env of the endpoint")
    parser.add_argument("--endpoint", default=None,
                        help="endpoint name (default: the env root's endpoint output)")
    parser.add_argument("--rps", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds of load")
    parser.add_argument("--data", default=spec.DEFAULT_DATASET, choices=spec.DATASETS,
                        help="data set whose held-out rows are the payloads (must match the "
                             f"model; default {spec.DEFAULT_DATASET})")
    parser.add_argument("--content-type", choices=("json", "csv"), default="json",
                        help="payload format (default json)")
    parser.add_argument("--target-variant", default=None,
                        help="send every request to this variant (InvokeEndpoint TargetVariant)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def check_load(rps: float, duration: float) -> None:
    if not 0 < rps <= MAX_RPS:
        raise MlopsError(f"--rps {rps:g} is out of range", "a local load generator, not a "
                         "benchmark farm", f"use a rate in (0, {MAX_RPS:g}]")
    if not 0 < duration <= MAX_DURATION:
        raise MlopsError(f"--duration {duration:g} is out of range", "",
                         f"use seconds in (0, {MAX_DURATION:g}]")


def endpoint_of(env: Mapping[str, str], env_name: str) -> str:
    from mlops.commands.plan import init_env

    ctx = context.load(env)
    with ui.stage(f"{env_name}: read the endpoint name from Terraform's outputs"):
        outputs = init_env(ctx, env_name).outputs()
    endpoint = (outputs.get("endpoint") or {}).get("value") or {}
    if not endpoint.get("name"):
        raise MlopsError(f"env {env_name} serves no endpoint",
                         "its terraform.tfvars has serving disabled, or it is not applied",
                         "release a model to it first, or pass --endpoint")
    return str(endpoint["name"])


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM stops the load like Ctrl-C (a KeyboardInterrupt), so a caller that started
    it as a process can end it early and still get the report. SIGINT alone is not enough:
    a process started in the background by a shell ignores it. Only the main thread can
    set handlers; in-process callers on other threads simply run to the end."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def payload(row: list[float], kind: str) -> tuple[bytes, str]:
    if kind == "csv":
        return (",".join(repr(v) for v in row) + "\n").encode(), "text/csv"
    return json.dumps({"instances": [row]}).encode(), "application/json"


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from mlops.adapters import training
    from mlops.adapters.sagemaker import Runtime

    check_load(args.rps, args.duration)
    context.load(env).config.require_env(args.env)
    endpoint = args.endpoint or endpoint_of(env, args.env)
    rows = training.holdout_rows(args.data)
    offsets = traffic.schedule(args.rps, args.duration)
    workers = int(min(64, max(4, args.rps)))
    runtime = Runtime(env, max_connections=workers)
    outcomes: list[traffic.Outcome] = []
    lock = threading.Lock()

    def send(index: int) -> None:
        body, content_type = payload(rows[index % len(rows)], args.content_type)
        result = runtime.invoke(endpoint, body, content_type=content_type,
                                target_variant=args.target_variant)
        with lock:
            outcomes.append(traffic.Outcome(result.variant, result.ok, result.latency_ms,
                                            result.error))

    ui.step(f"traffic: {len(offsets)} requests to {endpoint} at {args.rps:g} rps "
            f"for {args.duration:g}s ({args.data} held-out rows)")
    tty = sys.stderr.isatty()
    started = time.monotonic()
    last_progress = started
    interrupted = False
    with stop_on_sigterm(), ThreadPoolExecutor(max_workers=workers,
                                               thread_name_prefix="traffic") as pool:
        try:
            for index, offset in enumerate(offsets):
                delay = started + offset - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(send, index)
                now = time.monotonic()
                if now - last_progress >= (1.0 if tty else PROGRESS_EVERY):
                    last_progress = now
                    with lock:
                        line = traffic.progress(index + 1, len(offsets), now - started,
                                                traffic.summarize(list(outcomes)))
                    print(("\r" if tty else "    ") + line, end="" if tty else "\n",
                          file=sys.stderr, flush=True)
        except KeyboardInterrupt:  # Ctrl-C, SIGINT, SIGTERM: stop sending, report the sent
            interrupted = True
    elapsed = time.monotonic() - started
    if tty:
        print(file=sys.stderr)
    if interrupted:
        ui.info(f"interrupted after {elapsed:.1f}s: the report covers the "
                f"{len(outcomes)} requests sent")
    doc = traffic.report(traffic.summarize(outcomes), endpoint=endpoint, sent=len(outcomes),
                         elapsed=elapsed, rps=args.rps)
    print(json.dumps(doc, indent=2) if args.json else traffic.render(doc))
    return 130 if interrupted else 0
