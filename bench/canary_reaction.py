"""Benchmark: how fast a bad canary is rolled back, against the floor of what is possible.

    .venv/bin/python bench/canary_reaction.py [--runs N] [--poll S] [--rps R]
    make bench-canary

A benchmark, not a test: it measures and prints, never asserts on timing; it exits 0
after printing and non-zero only when something it runs fails.

Reaction time: from the first failing request of a bad candidate (client side, when it
was sent) to 100 % back on stable (the promotion observed the endpoint InService with the
canary's CurrentWeight at 0). The floor is what no controller can beat with these alarms:
the alarm's evaluation window (Period x EvaluationPeriods: a breach is only seen when its
period ends) + one poll (the controller looks that often) + two API round trips
(UpdateEndpointWeightsAndCapacities, then the DescribeEndpoint that sees it done),
the round trip measured in the same run. Printed: each run, the median and the ratio
reaction / floor (target: at most 1.2).

One run of the benchmark:
  1. starts a private embedded AWS (own state dir, free port); trains a good model (seed 1)
     and a bad one (`--fault error-rate=0.5`) with `mlops train`, puts them in a bucket;
  2. applies a small root that calls modules/sagemaker_endpoint itself (so the alarms are
     exactly the module's: 5xx rate and p99 latency per variant, 10 s periods, one
     evaluation period, as envs/dev): stable = good model at 100 %, canary = bad at 0 %;
  3. per measured run: waits until the canary's alarms are out of ALARM, starts open-loop
     InvokeEndpoint traffic, and runs the promotion loop of `mlops canary promote`
     (commands/canary.py `Promotion`, steps 10,100) until it rolls back; records the first
     failing request and the moment stable carried 100 % again;
  4. prints the table, stops the cloud and removes the tmp dir (also on failure, Ctrl-C).

The promotion loop is the command's own (decide, observe, restore); what the benchmark
leaves out is what happens before the loop (terraform output, the state lock), which is
not part of a reaction.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.adapters.terraform import Terraform, prepare
from mlops.errors import MlopsError
from mlops.localcloud import control
from mlops.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.2
BUCKET = "bench-canary-artifacts"
ENDPOINT = "bench-dev-churn"
SCRUBBED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_ENDPOINT_URL", "MLOPS_ROOT", "MLOPS_STATE_DIR", "TF_DATA_DIR",
            "TF_CLI_CONFIG_FILE", "TF_PLUGIN_CACHE_DIR", "TF_LOG", "TF_CLI_ARGS")

MAIN_TF = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}

provider "aws" {
  region            = "us-east-1"
  s3_use_path_style = true
}

locals {
  image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/bench-model-server:1.0"
}

module "endpoint" {
  source = "%(module)s"

  project            = "bench"
  env                = "dev"
  tier               = "dev"
  name               = "churn"
  tags               = { env = "dev", owner = "bench", cost = "bench" }
  execution_role_arn = "arn:aws:iam::123456789012:role/bench-sagemaker"
  ttl                = { hours = 1 }
  releases = {
    bench = {
      stable = { image = local.image, model_data_url = "%(good)s", initial_weight = 100 }
      canary = { image = local.image, model_data_url = "%(bad)s", initial_weight = 0 }
    }
  }
  active_release = "bench"
  alarms         = { period_seconds = 10, evaluation_periods = 1 }
}

output "endpoint" {
  value = {
    name                  = module.endpoint.endpoint_name
    config_name           = module.endpoint.endpoint_config_name
    endpoint_config_names = module.endpoint.endpoint_config_names
    alarm_names           = module.endpoint.alarm_names
  }
}
"""


class BenchError(Exception):
    """Something the benchmark runs failed: report it and exit non-zero."""


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


@dataclass
class Run:
    first_failure: float
    seen: float  # when the loop saw the alarm (its RollBack observation)
    restored: float
    rtt: float
    window: float
    poll: float

    @property
    def reaction(self) -> float:
        return self.restored - self.first_failure

    @property
    def floor(self) -> float:
        return self.window + self.poll + 2 * self.rtt

    @property
    def ratio(self) -> float:
        return self.reaction / self.floor


@dataclass
class Load:
    """Open-loop InvokeEndpoint traffic on a thread: when each failing request was sent."""

    env: Mapping[str, str]
    rps: float
    failures: list[float] = field(default_factory=list)
    sent: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, rows: Sequence[list[float]]) -> None:
        from mlops.adapters.sagemaker import Runtime

        runtime = Runtime(self.env, max_connections=16)
        lock = threading.Lock()

        def send(index: int) -> None:
            started = time.time()
            body = json.dumps({"instances": [rows[index % len(rows)]]}).encode()
            result = runtime.invoke(ENDPOINT, body)
            if not result.ok:
                with lock:
                    self.failures.append(started)

        with ThreadPoolExecutor(max_workers=16) as pool:
            begin = time.monotonic()
            index = 0
            while not self.stop.is_set():
                delay = begin + index / self.rps - time.monotonic()
                if delay > 0:
                    self.stop.wait(delay)
                pool.submit(send, index)
                index += 1
            self.sent = index


def scrubbed() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in SCRUBBED}


def train(tmp: Path, env: Mapping[str, str]) -> dict[str, Path]:
    out = {}
    for name, extra in (("good", []), ("bad", ["--fault", "error-rate=0.5"])):
        directory = tmp / name
        proc = subprocess.run([sys.executable, "-m", "mlops", "train", "--seed",
                               "1" if name == "good" else "3", "--out", str(directory), *extra],
                              env=dict(env), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BenchError(f"mlops train failed:\n{proc.stderr}")
        out[name] = directory / "model.tar.gz"
    return out


def apply_root(tmp: Path, env: dict[str, str], urls: Mapping[str, str]) -> dict[str, Any]:
    root = tmp / "root"
    root.mkdir()
    (root / "main.tf").write_text(MAIN_TF % {"module": ROOT / "modules" / "sagemaker_endpoint",
                                             **urls})
    shutil.copy(ROOT / "envs" / "dev" / ".terraform.lock.hcl", root)
    tf = Terraform(workdir=root, env={**env, "TF_DATA_DIR": str(tmp / "tfdata")},
                   label="bench", out=sys.stderr)
    tf.init(backend=False)
    tf.apply(stream=False)
    value: dict[str, Any] = tf.outputs()["endpoint"]["value"]
    return value


def round_trip(client: Any, samples: int = 15) -> float:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        client.describe_endpoint(EndpointName=ENDPOINT)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def wait_alarms_clear(cloudwatch: Any, names: Sequence[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [a["StateValue"] for a in
                  cloudwatch.describe_alarms(AlarmNames=list(names))["MetricAlarms"]]
        if "ALARM" not in states:
            return
        time.sleep(1)
    raise BenchError(f"the canary's alarms stayed in ALARM for {timeout:.0f}s")


def one_run(env: dict[str, str], target: Any, store: Any, rows: Sequence[list[float]],
            *, poll: float, rps: float, number: int) -> Run:
    from mlops.adapters.cloudwatch import Alarms
    from mlops.adapters.sagemaker import Endpoints
    from mlops.commands.canary import ProgressLine, Promotion
    from mlops.commands.endpoint import wait_for
    from mlops.core import canary

    endpoints = Endpoints(env)
    endpoints.update_weights(ENDPOINT, canary.weights_for(0))
    wait_for(endpoints, ENDPOINT, lambda v: v.status == "InService", timeout=60,
             what="InService")
    canary_alarms = list(target.alarms["canary"].values())
    wait_alarms_clear(Alarms(env).client, canary_alarms)
    rtt = round_trip(endpoints.client)
    alarms = Alarms(env)
    first = alarms.describe(target.alarm_names())
    window = max(a.period * a.evaluation_periods for a in first)
    now = time.time()
    plan = canary.Plan(steps=(10.0, 100.0), bake=120, poll=poll, update_timeout=60,
                       started=now)
    record = canary.Record(env="bench", endpoint=ENDPOINT, config=target.config,
                           release="bench", steps=plan.steps, status="running", index=0,
                           phase=canary.SHIFT, since=now, started=now, heartbeat=now,
                           lease=canary.lease_seconds(poll), lock_id="bench", who="bench")
    load = Load(env, rps)
    thread = threading.Thread(target=load.run, args=(rows,), daemon=True)
    thread.start()
    try:
        promotion = Promotion(target, endpoints, alarms, store, plan, record,
                              progress=ProgressLine(tty=False))
        with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
            outcome = promotion.run(canary.Position(0, canary.SHIFT, now))
    finally:
        load.stop.set()
        thread.join(timeout=30)
    if outcome.kind != "rolled_back" or outcome.restored_at is None:
        raise BenchError(f"run {number}: expected a rollback, got {outcome.kind}: {outcome.why}")
    if not load.failures:
        raise BenchError(f"run {number}: no request failed: the bad canary got no traffic")
    seen = next(e.time for e in outcome.record.events if e.text.startswith("ROLL BACK"))
    return Run(min(load.failures), seen, outcome.restored_at, rtt, window, poll)


@contextlib.contextmanager
def private_cloud(tmp: Path, env: Mapping[str, str], delay: float
                  ) -> Iterator[control.CloudInfo]:
    paths = control.CloudPaths(tmp / "cloud")
    info = control.start(paths, control.free_port(),
                         {**env, "MLOPS_CLOUD_SAGEMAKER_DELAY_SECONDS": str(delay)})
    try:
        yield info
    finally:
        control.stop(paths)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs (default 5)")
    parser.add_argument("--poll", type=float, default=1.0,
                        help="the promotion's poll interval, seconds (default 1)")
    parser.add_argument("--rps", type=float, default=20.0,
                        help="InvokeEndpoint requests per second (default 20)")
    parser.add_argument("--sagemaker-delay", type=float, default=1.0,
                        help="the embedded SageMaker's least transition time, seconds "
                             "(default 1, as `mlops cloud up`)")
    args = parser.parse_args(argv)
    from mlops.adapters import aws, training
    from mlops.adapters.s3 import S3
    from mlops.commands.canary import Store
    from mlops.commands.endpoint import Target

    tmp = Path(tempfile.mkdtemp(prefix="mlops-bench-canary-"))
    base = {**scrubbed(), "MLOPS_ROOT": str(ROOT), "MLOPS_STATE_DIR": str(tmp / "state")}
    try:
        print("canary reaction benchmark: setting up (cloud, models, endpoint)", file=sys.stderr)
        with private_cloud(tmp, base, args.sagemaker_delay) as info:
            env = prepare(Settings.from_env(base), {**base, **control.client_env(info)})
            models = train(tmp, env)
            s3 = aws.client(env, "s3")
            s3.create_bucket(Bucket=BUCKET)
            urls = {}
            for name, path in models.items():
                s3.put_object(Bucket=BUCKET, Key=f"{name}/model.tar.gz", Body=path.read_bytes())
                urls[name] = f"s3://{BUCKET}/{name}/model.tar.gz"
            progress("applying modules/sagemaker_endpoint (stable: good at 100%, canary: bad "
                     "at 0%)")
            output = apply_root(tmp, env, urls)
            target = Target("bench", output["name"], output["config_name"],
                            dict(output["endpoint_config_names"]),
                            {v: dict(n) for v, n in output["alarm_names"].items()})
            store = Store(S3(env), BUCKET, "bench")
            rows = training.holdout_rows("breast_cancer")
            runs = []
            for number in range(1, args.runs + 1):
                progress(f"run {number}/{args.runs}: waiting for the canary's alarms to "
                         "clear, then traffic + promotion")
                run = one_run(env, target, store, rows, poll=args.poll, rps=args.rps,
                              number=number)
                progress(f"run {number}: reaction {run.reaction:.2f}s (floor {run.floor:.2f}s,"
                         f" ratio {run.ratio:.2f})")
                runs.append(run)
        report(runs, args)
    except BenchError as err:
        print(f"benchmark failed: {err}", file=sys.stderr)
        return 1
    except MlopsError as err:
        print(f"benchmark failed:\n{err.render()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def report(runs: Sequence[Run], args: argparse.Namespace) -> None:
    print(f"\nCanary reaction: first failing request -> 100% on stable "
          f"({len(runs)} runs, poll {args.poll:g}s, {args.rps:g} rps, embedded SageMaker "
          f"transitions >= {args.sagemaker_delay:g}s)\n")
    print("| run | alarm seen after | restored after | floor | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for number, run in enumerate(runs, 1):
        print(f"| {number} | {run.seen - run.first_failure:.2f} s | {run.reaction:.2f} s | "
              f"{run.floor:.2f} s | {run.ratio:.2f} |")
    reactions = [r.reaction for r in runs]
    ratios = [r.ratio for r in runs]
    floor = statistics.median(r.floor for r in runs)
    rtt = statistics.median(r.rtt for r in runs)
    print(f"\nfloor = alarm window {runs[0].window:g} s + poll {args.poll:g} s + 2 x API round "
          f"trip {rtt * 1000:.1f} ms = {floor:.2f} s")
    print(f"reaction: median {statistics.median(reactions):.2f} s, min {min(reactions):.2f} s, "
          f"max {max(reactions):.2f} s")
    worst = max(ratios)
    print(f"ratio reaction / floor: median {statistics.median(ratios):.2f}, max {worst:.2f} "
          f"(target <= {TARGET:g}: {'met' if worst <= TARGET else 'NOT met'})")


if __name__ == "__main__":
    raise SystemExit(main())
