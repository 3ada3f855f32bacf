"""Benchmark: `mlops plan --changed` against planning every env the naive way.

    .venv/bin/python bench/plan_changed.py [--reps N] [--no-diagnostics] [--keep]
    make bench

A benchmark, not a test: it measures and prints (medians, ratios against a baseline
measured in the same run, whether each target was met), and never asserts on timing.
It exits 0 after printing; non-zero only when something it runs fails.

One run:
  1. starts a private embedded AWS (own state dir, free port) and applies bootstrap/;
  2. clones the repository into a tmp dir and commits two changes on two branches off
     main: a real change to modules/ml_bucket (used by every env) and a docs-only change;
  3. times, interleaved over --reps repetitions:
       (a) naive, equal work: for each env in turn, `terraform init` + `terraform plan -out`
           + `terraform show -json` (what `mlops plan --changed` produces per env: the plan
           and plan.json; same CLI config, plugin cache and backend config as mlops; own
           TF_DATA_DIR);
       (b) `mlops plan --changed --base main` for the module change;
       (c) `mlops plan --changed --base main` for the docs-only change;
       (d) bare `terraform plan -out` + `terraform show -json` of dev vs
           `mlops plan --env dev`, both on an initialised data dir (mlops' own overhead);
  4. prints the table, the ratios and the targets, and (unless --no-diagnostics) the
     measurements that explain the ratio: CPU use, parallel scaling on this machine, the
     cost of each Terraform call mlops makes;
  5. stops the cloud and removes the tmp dir, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mlops import context
from mlops.adapters.terraform import prepare
from mlops.commands.bootstrap import apply_bootstrap
from mlops.localcloud import control
from mlops.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BASE = "main"
MODULE_BRANCH = "bench/module-change"
DOCS_BRANCH = "bench/docs-change"
MODULE_FILE = "modules/ml_bucket/main.tf"
# The real change: every bucket made by ml_bucket gets one more tag (a planned attribute).
MODULE_ANCHOR = "merge(var.tags, {"
MODULE_EDIT = 'merge(var.tags, { benchmark = "plan-changed",'
TARGET_RATIO = 0.7  # (b)/(a) <= 0.7 on 2 cores (equal work: (a) makes plan.json too)
TARGET_DOCS_SECONDS = 2.0  # (c) < 2 s
TARGET_OVERHEAD = 0.05  # (d) < 5 %
# Never let real credentials or profiles reach a benchmark talking to the embedded AWS,
# nor an outer mlops/Terraform setting change what is measured.
SCRUBBED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_ENDPOINT_URL", "MLOPS_ROOT", "MLOPS_STATE_DIR", "TF_DATA_DIR",
            "TF_CLI_CONFIG_FILE", "TF_PLUGIN_CACHE_DIR", "TF_LOG", "TF_CLI_ARGS",
            "TF_CLI_ARGS_init", "TF_CLI_ARGS_plan")


class BenchError(Exception):
    """Something the benchmark runs failed: report it and exit non-zero."""


# --------------------------------------------------------------------------- measuring


@dataclass
class Sample:
    wall: float = 0.0
    cpu: float = 0.0  # user+sys of the child processes that finished inside the block
    server_cpu: float = 0.0  # user+sys of the embedded AWS process inside the block
    other_cpu: float = 0.0  # busy CPU of everything else on the machine (other users)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine (user nice system irq softirq steal)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    busy = sum(int(fields[i]) for i in (0, 1, 2, 5, 6, 7) if i < len(fields))
    return busy / os.sysconf("SC_CLK_TCK")


@dataclass
class Meter:
    server_pid: int

    @contextlib.contextmanager
    def measure(self) -> Iterator[Sample]:
        sample = Sample()
        cpu0, self0 = _children_cpu(), _self_cpu()
        server0, busy0, t0 = _process_cpu(self.server_pid), _machine_busy(), time.monotonic()
        try:
            yield sample
        finally:
            sample.wall = time.monotonic() - t0
            sample.cpu = _children_cpu() - cpu0
            sample.server_cpu = _process_cpu(self.server_pid) - server0
            own = sample.cpu + sample.server_cpu + _self_cpu() - self0
            sample.other_cpu = max(0.0, _machine_busy() - busy0 - own)


@dataclass
class Runner:
    """Runs commands with their output in a log file; a failure raises with its tail."""

    logs: Path
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, name: str, cmd: Sequence[str], env: Mapping[str, str], *,
            cwd: Path | None = None, ok: Sequence[int] = (0,)) -> Path:
        with self.lock:  # diagnostics run commands from several threads
            self.count += 1
            number = self.count
        log = self.logs / f"{number:03d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.log"
        with log.open("wb") as out:
            proc = subprocess.run(list(cmd), env=dict(env), cwd=cwd, stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  check=False)
        if proc.returncode not in ok:
            tail = "\n".join(log.read_text(errors="replace").strip().splitlines()[-25:])
            raise BenchError(f"{name} failed (exit {proc.returncode}): {' '.join(cmd)}\n"
                             f"{tail}")
        return log


# --------------------------------------------------------------------------- set-up


@dataclass
class Bench:
    tmp: Path
    repo: Path
    envs: list[str]
    base_env: dict[str, str]  # cloud client env + MLOPS_ROOT + shared plugin cache
    backend: dict[str, str]
    meter: Meter
    runner: Runner
    mlops: str
    results: dict[str, list[Sample]] = field(default_factory=dict)
    parts: dict[str, list[float]] = field(default_factory=dict)
    ratios: list[float] = field(default_factory=list)
    _tf_env: dict[str, dict[str, str]] = field(default_factory=dict)

    def record(self, key: str, sample: Sample) -> None:
        self.results.setdefault(key, []).append(sample)

    def part(self, key: str, seconds: float) -> None:
        self.parts.setdefault(key, []).append(seconds)

    def state_env(self, name: str) -> dict[str, str]:
        """The env mlops runs with, with its own state dir tmp/state-<name>."""
        return {**self.base_env, "MLOPS_STATE_DIR": str(self.tmp / f"state-{name}")}

    def tf_env(self, name: str) -> dict[str, str]:
        """What mlops runs terraform with (prepare(): CLI config, plugin cache), once."""
        if name not in self._tf_env:
            env = self.state_env(name)
            self._tf_env[name] = prepare(Settings.from_env(env), env)
        return self._tf_env[name]

    def terraform(self, name: str, env_name: str, args: Sequence[str], data_dir: Path, *,
                  ok: Sequence[int] = (0,)) -> Path:
        env = {**self.tf_env(name), "TF_DATA_DIR": str(data_dir)}
        root = self.repo / "envs" / env_name
        return self.runner.run(f"{name}-{env_name}-{args[0]}",
                               [env["TERRAFORM"], f"-chdir={root}", *args], env, ok=ok)

    def init_args(self) -> list[str]:
        return ["init", "-no-color", "-input=false",
                *(f"-backend-config={k}={v}" for k, v in self.backend.items())]

    def git(self, *args: str) -> str:
        proc = subprocess.run(
            ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost",
             "-c", "commit.gpgsign=false", *args],
            cwd=self.repo, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BenchError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def checkout(self, branch: str) -> None:
        self.git("checkout", "-q", branch)


def scrubbed_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in SCRUBBED}


def mlops_binary() -> str:
    here = Path(sys.executable).parent / "mlops"
    if here.exists():
        return str(here)
    found = shutil.which("mlops") or str(ROOT / ".venv" / "bin" / "mlops")
    return found


def prepare_clone(tmp: Path) -> Path:
    """A clone of the committed HEAD, whose local branch `main` is that HEAD (the code being
    measured), whatever branch the checkout is on."""
    repo = tmp / "repo"
    for cmd in (["git", "clone", "-q", str(ROOT), str(repo)],
                ["git", "-C", str(repo), "checkout", "-q", "-B", BASE]):
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BenchError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return repo


def commit_changes(bench: Bench) -> None:
    """Two branches off main: a real module change and a docs-only change."""
    bench.git("checkout", "-q", "-b", DOCS_BRANCH, BASE)
    readme = bench.repo / "README.md"
    readme.write_text(readme.read_text() + "\nBenchmarked by bench/plan_changed.py.\n")
    bench.git("commit", "-q", "-am", "docs: a docs-only change (benchmark)")

    bench.git("checkout", "-q", "-b", MODULE_BRANCH, BASE)
    module = bench.repo / MODULE_FILE
    text = module.read_text()
    if MODULE_ANCHOR not in text:
        raise BenchError(f"{MODULE_FILE} no longer contains {MODULE_ANCHOR!r}: update "
                         "MODULE_ANCHOR/MODULE_EDIT in bench/plan_changed.py")
    module.write_text(text.replace(MODULE_ANCHOR, MODULE_EDIT, 1))
    bench.git("commit", "-q", "-am", "ml_bucket: tag buckets with the benchmark (benchmark)")


def check_decisions(bench: Bench) -> None:
    """Untimed: the module change must affect every env and the docs change none, or
    the numbers would not mean what the table says."""
    env = bench.state_env("changed")
    for head, expected in ((MODULE_BRANCH, bench.envs), (DOCS_BRANCH, [])):
        proc = subprocess.run([bench.mlops, "changed", "--base", BASE, "--head", head],
                              env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BenchError(f"mlops changed --head {head} failed:\n{proc.stderr.strip()}")
        envs = json.loads(proc.stdout)["envs"]
        if envs != expected:
            raise BenchError(f"mlops changed --base {BASE} --head {head} says {envs}, "
                             f"the benchmark needs {expected}")


@contextlib.contextmanager
def fd_to_file(path: Path) -> Iterator[None]:
    """Send this process's stderr (fd 2, also what subprocesses inherit) to a file."""
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the measures


def naive(bench: Bench, rep: int) -> None:
    """(a) every env in turn: terraform init + plan -out + show -json, fresh data dirs: the
    same work `mlops plan --changed` does per env, done by hand one after another."""
    bench.checkout(MODULE_BRANCH)
    base = bench.tmp / "naive" / f"rep{rep}"
    with bench.meter.measure() as total:
        for env_name in bench.envs:
            data_dir = base / env_name / "tfdata"
            data_dir.mkdir(parents=True)
            with bench.meter.measure() as init:
                bench.terraform("naive", env_name, bench.init_args(), data_dir)
            with bench.meter.measure() as plan:
                bench.terraform("naive", env_name,
                                ["plan", "-no-color", "-input=false",
                                 f"-out={base / env_name / 'plan.tfplan'}"], data_dir)
            with bench.meter.measure() as show:
                bench.terraform("naive", env_name,
                                ["show", "-json", str(base / env_name / "plan.tfplan")],
                                data_dir)
            bench.record(f"a.init.{env_name}", init)
            bench.record(f"a.plan.{env_name}", plan)
            bench.record(f"a.show.{env_name}", show)
    bench.record("a", total)


def init_times(log: Path) -> dict[str, float]:
    """`    ENV: init done in Xs` lines from an mlops log (the inits of `plan --changed` run
    at once with a warm plugin cache, so each line names its env)."""
    times: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        done = re.match(r"\s+(\S+): init done in ([0-9.]+)s$", line)
        if done:
            times[done.group(1)] = float(done.group(2))
    return times


def mlops_changed(bench: Bench, rep: int, *, docs: bool) -> None:
    """(b)/(c) `mlops plan --changed --base main` with a fresh state dir (as in CI)."""
    key, branch = ("c", DOCS_BRANCH) if docs else ("b", MODULE_BRANCH)
    bench.checkout(branch)
    env = bench.state_env(f"{key}-rep{rep}")
    out = bench.tmp / "out" / f"{key}-rep{rep}"
    with bench.meter.measure() as sample:
        log = bench.runner.run(f"mlops-plan-changed-{key}",
                               [bench.mlops, "plan", "--changed", "--base", BASE,
                                "--out", str(out)], env)
    bench.record(key, sample)
    planned = json.loads((out / "changed.json").read_text())["envs"]
    expected = [] if docs else bench.envs
    if planned != expected:
        raise BenchError(f"mlops plan --changed planned {planned}, expected {expected}")
    if not docs:
        inits = init_times(log)
        bench.part("b.inits", sum(inits.values()))
        bench.part("b.init_max", max(inits.values(), default=0.0))
        for env_name in bench.envs:
            if not (out / env_name / "plan.tfplan").is_file():
                raise BenchError(f"mlops plan --changed wrote no plan for {env_name}")


def overhead_bare(bench: Bench, rep: int) -> None:
    """(d) bare: terraform plan -out + terraform show -json, on dev's initialised dir."""
    bench.checkout(MODULE_BRANCH)
    data_dir = bench.tmp / "state-overhead" / "tfdata" / "dev"
    plan = bench.tmp / "out" / f"bare-rep{rep}.tfplan"
    with bench.meter.measure() as sample:
        with bench.meter.measure() as plan_part:
            bench.terraform("overhead", "dev",
                            ["plan", "-no-color", "-input=false", f"-out={plan}"], data_dir)
        with bench.meter.measure() as json_part:
            log = bench.terraform("overhead", "dev", ["show", "-json", str(plan)], data_dir)
    bench.record("d.bare", sample)
    bench.record("call.plan", plan_part)
    bench.record("call.show_json", json_part)
    json.loads(log.read_text())  # it really is the plan JSON

    # The pieces mlops adds or saves, measured one by one (not part of the (d) figures).
    with bench.meter.measure() as reinit:
        bench.terraform("overhead", "dev", bench.init_args(), data_dir)
    bench.record("call.reinit", reinit)
    with bench.meter.measure() as startup:
        bench.runner.run("mlops-version", [bench.mlops, "--version"], bench.base_env)
    bench.part("d.startup", startup.wall)
    ctx = context.load(bench.tf_env("overhead"))
    started = time.monotonic()
    ctx.caller_account(fresh=True)  # STS: what a plan asked before init; now only on failure
    bench.part("d.sts", time.monotonic() - started)


def overhead_mlops(bench: Bench, rep: int) -> None:
    """(d) `mlops plan --env dev` on the same initialised data dir."""
    bench.checkout(MODULE_BRANCH)
    out = bench.tmp / "out" / f"mlops-dev-rep{rep}"
    with bench.meter.measure() as sample:
        bench.runner.run("mlops-plan-dev", [bench.mlops, "plan", "--env", "dev",
                                            "--out", str(out)], bench.state_env("overhead"))
    bench.record("d.mlops", sample)


# --------------------------------------------------------------------------- diagnostics


def plans_at_a_time(bench: Bench) -> dict[int, Sample]:
    """Plans alone (no init, no show) of all envs, 1, 2, ... at a time, on the data dirs
    the last naive run initialised: how much parallel planning gives on this machine."""
    bench.checkout(MODULE_BRANCH)
    base = bench.tmp / "naive" / f"rep{len(bench.results['a']) - 1}"
    scaling: dict[int, Sample] = {}
    for jobs in range(1, len(bench.envs) + 1):
        def one(env_name: str, jobs: int = jobs) -> None:
            bench.terraform(f"scaling{jobs}", env_name,
                            ["plan", "-no-color", "-input=false",
                             f"-out={base / env_name / f'scaling{jobs}.tfplan'}"],
                            base / env_name / "tfdata")
        with bench.meter.measure() as sample, ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(one, bench.envs))
        scaling[jobs] = sample
        progress(f"diagnostics: {jobs} plan(s) at a time: {sample.wall:.1f}s wall, "
                 f"{sample.cpu:.1f}s CPU")
    return scaling


# Schedules of raw terraform calls for --what-if: (label, shows after each plan,
# start each env's plan as soon as its init is done, run the inits in the pool too).
SHOW_JSON = ("show", "-json")
SCHEDULES: tuple[tuple[str, tuple[tuple[str, ...], ...], bool, bool], ...] = (
    ("inits in turn, then plans + show -json", (SHOW_JSON,), False, False),
    ("as mlops: each plan starts when its init is done", (SHOW_JSON,), True, False),
    ("  + inits in parallel too (cache pre-filled)", (SHOW_JSON,), True, True),
)


def what_if(bench: Bench, rep: int) -> None:
    """The work mlops does per env, as raw terraform calls (no Python), on fresh data
    dirs, scheduled as now and as the changes the report proposes would schedule it."""
    bench.checkout(MODULE_BRANCH)
    for index, (label, shows, pipelined, parallel_init) in enumerate(SCHEDULES):
        schedule = Schedule(bench, bench.tmp / "whatif" / f"rep{rep}-{index}", f"whatif{index}",
                            shows, parallel_init)
        with bench.meter.measure() as sample:
            schedule.run(pipelined=pipelined)
        bench.record(f"whatif.{index}", sample)
        progress(f"what-if rep {rep + 1}: {label.strip()}: {sample.wall:.1f}s")


@dataclass
class Schedule:
    bench: Bench
    base: Path
    tag: str
    shows: tuple[tuple[str, ...], ...]
    parallel_init: bool

    def init(self, env_name: str) -> None:
        data_dir = self.base / env_name / "tfdata"
        data_dir.mkdir(parents=True)
        self.bench.terraform(self.tag, env_name, self.bench.init_args(), data_dir)

    def work(self, env_name: str) -> None:
        if self.parallel_init:
            self.init(env_name)
        plan = self.base / env_name / "plan.tfplan"
        data_dir = self.base / env_name / "tfdata"
        self.bench.terraform(self.tag, env_name,
                             ["plan", "-no-color", "-input=false", f"-out={plan}"], data_dir)
        for show in self.shows:
            self.bench.terraform(self.tag, env_name, [*show, str(plan)], data_dir)

    def run(self, *, pipelined: bool) -> None:
        envs = self.bench.envs
        with ThreadPoolExecutor(max_workers=max(1, min(len(envs), os.cpu_count() or 1))) as pool:
            if self.parallel_init:
                list(pool.map(self.work, envs))
            elif pipelined:
                futures = []
                for env_name in envs:
                    self.init(env_name)
                    futures.append(pool.submit(self.work, env_name))
                for future in futures:
                    future.result()
            else:
                for env_name in envs:
                    self.init(env_name)
                list(pool.map(self.work, envs))


# --------------------------------------------------------------------------- report


def med(samples: Sequence[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(bench: Bench, reps: int, scaling: dict[int, Sample] | None) -> None:
    r = bench.results
    cores = os.cpu_count() or 1
    tf_env = bench.tf_env("naive")
    tf_version = subprocess.run([tf_env["TERRAFORM"], "version"], capture_output=True,
                                text=True, check=False, env=tf_env).stdout.splitlines()[0]

    def walls(key: str) -> list[float]:
        return [s.wall for s in r[key]]

    def m(key: str, attr: str = "wall") -> float:
        return med([getattr(s, attr) for s in r[key]])

    print()
    print("mlops plan --changed benchmark")
    print(f"  machine: {platform.machine()}, {cores} cores ({platform.system()} "
          f"{platform.release()}); {tf_version}; Python {platform.python_version()}")
    print(f"  reps: {reps} (interleaved; order reversed on odd reps); envs: "
          f"{', '.join(bench.envs)}; all times are wall seconds unless marked CPU")
    print()
    rows = [
        ("a", f"(a) naive: init+plan+show -json, {len(bench.envs)} in turn"),
        ("b", "(b) mlops plan --changed (module change)"),
        ("c", "(c) mlops plan --changed (docs only)"),
        ("d.bare", "(d) bare plan -out + show -json (dev)"),
        ("d.mlops", "(d) mlops plan --env dev"),
    ]
    print(f"  {'measure':<44}{'median':>8}{'min':>8}{'max':>8}{'CPU':>8}{'cloud':>7}"
          f"{'other':>7}")
    for key, label in rows:
        print(f"  {label:<44}{m(key):8.2f}{min(walls(key)):8.2f}{max(walls(key)):8.2f}"
              f"{m(key, 'cpu'):8.2f}{m(key, 'server_cpu'):7.2f}{m(key, 'other_cpu'):7.2f}")
    print("  CPU: user+sys s of terraform/mlops; cloud: of the embedded AWS; other: of "
          "every other process on the machine")
    every = [s for samples in r.values() for s in samples]
    background = sum(s.other_cpu for s in every) / max(sum(s.wall for s in every), 1e-9)
    print(f"  background load from other processes during the run: {background:.2f} of "
          f"{cores} cores" + ("  <- busy machine: expect noisy numbers" if background > 0.2
                              else ""))

    a, b, c = m("a"), m("b"), m("c")
    ratio = b / a
    per_rep = [sb.wall / sa.wall for sa, sb in zip(r["a"], r["b"], strict=True)]
    overhead = m("d.mlops") / m("d.bare") - 1
    per_rep_over = [sm.wall / sb.wall - 1 for sb, sm in zip(r["d.bare"], r["d.mlops"],
                                                              strict=True)]
    print()
    print("  targets (information, not assertions)")
    print(f"  (b)/(a)           {ratio:7.2f}   target <= {TARGET_RATIO}   "
          f"{met(ratio <= TARGET_RATIO):<8}(per rep {', '.join(f'{x:.2f}' for x in per_rep)})")
    print(f"  (c) docs only     {c:6.2f}s   target < {TARGET_DOCS_SECONDS:.0f} s    "
          f"{met(c < TARGET_DOCS_SECONDS)}")
    print(f"  (d) overhead      {overhead * 100:+6.1f}%   target < {TARGET_OVERHEAD * 100:.0f}%"
          f"      {met(overhead < TARGET_OVERHEAD):<8}(per rep "
          f"{', '.join(f'{x * 100:+.0f}%' for x in per_rep_over)})")

    print()
    print("  why: the cost of each terraform call (dev, medians; init on a fresh data dir)")
    calls = [("init, fresh data dir", [s for e in bench.envs for s in r[f"a.init.{e}"]]),
             ("init again, same backend (mlops skips it)", r["call.reinit"]),
             ("plan -out", r["call.plan"]),
             ("show -json (plan.json)", r["call.show_json"])]
    for label, samples in calls:
        print(f"    {label:<44}{med([s.wall for s in samples]):6.2f}s  "
              f"CPU {med([s.cpu for s in samples]):5.2f}s")
    print(f"    mlops start-up (`mlops --version`)          {med(bench.parts['d.startup']):6.2f}s")
    print(f"    sts:GetCallerIdentity (no longer on the happy path) "
          f"{med(bench.parts['d.sts']):6.2f}s (in-process)")
    b_inits = med(bench.parts["b.inits"])
    floor = m("b", "cpu") / cores
    print(f"  (a) and (b) do the same work per env: init + plan + show -json "
          f"((a) {m('a', 'cpu'):.1f}s CPU, (b) {m('b', 'cpu'):.1f}s CPU).")
    print(f"  CPU floor: plans are CPU-bound, so on {cores} cores (b) cannot beat "
          f"{floor:.1f}s, a ratio of {floor / a:.2f} against this run's (a) "
          f"({floor / m('a', 'cpu'):.2f} of (a)'s CPU time).")
    print(f"  (b)'s inits: {b_inits:.2f}s in all, the longest {med(bench.parts['b.init_max']):.2f}s"
          f" ({med(bench.parts['b.init_max']) / b * 100:.0f}% of (b)): with the plugin cache "
          "warm they run at once, and each env plans as soon as its own init is done.")
    print(f"  (d) mlops adds {m('d.mlops') - m('d.bare'):+.2f}s to bare plan + show -json: "
          "start-up, summary, masking and files (init skipped, no AWS call of its own).")

    if scaling:
        print()
        print("  why: the same plans alone (no init, no show), k at a time")
        one = scaling[1].wall
        for jobs, sample in scaling.items():
            print(f"    {jobs} at a time {sample.wall:7.2f}s   CPU {sample.cpu:6.2f}s   "
                  f"speed-up {one / sample.wall:4.2f}x   cores busy "
                  f"{sample.cpu / sample.wall:4.2f}   other {sample.other_cpu:5.2f}s")
    if "whatif.0" in r:
        print()
        print("  what-if: mlops' terraform calls as raw terraform on fresh data dirs, "
              f"{min(len(bench.envs), cores)} at a time (medians)")
        for index, (label, *_) in enumerate(SCHEDULES):
            key = f"whatif.{index}"
            print(f"    {label:<50}{m(key):7.2f}s  CPU {m(key, 'cpu'):6.2f}s  "
                  f"ratio to (a) {m(key) / a:5.2f}")


def report_overhead(bench: Bench, reps: int) -> None:
    """The (d) figures alone (--only-overhead)."""
    r = bench.results
    bare, mlops = r["d.bare"], r["d.mlops"]
    over = med([s.wall for s in mlops]) / med([s.wall for s in bare]) - 1
    every = [s for samples in r.values() for s in samples]
    background = sum(s.other_cpu for s in every) / max(sum(s.wall for s in every), 1e-9)
    print()
    print(f"mlops plan --env dev against bare plan -out + show -json, {reps} interleaved reps")
    for label, samples in (("bare plan -out + show -json", bare),
                           ("mlops plan --env dev", mlops)):
        walls = [s.wall for s in samples]
        print(f"  {label:<30} median {med(walls):6.2f}s  min {min(walls):6.2f}s  "
              f"CPU {med([s.cpu for s in samples]):6.2f}s")
    print(f"  overhead {over * 100:+.1f}% (target < {TARGET_OVERHEAD * 100:.0f}%: "
          f"{met(over < TARGET_OVERHEAD)}); of the minimums "
          f"{min(s.wall for s in mlops) / min(s.wall for s in bare) * 100 - 100:+.1f}%; "
          "per rep " + ", ".join(f"{m.wall / b.wall * 100 - 100:+.0f}%"
                                 for b, m in zip(bare, mlops, strict=True)))
    print(f"  mlops start-up (`mlops --version`) {med(bench.parts['d.startup']):.2f}s; background "
          f"load from other processes {background:.2f} of {os.cpu_count() or 1} cores")


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--no-diagnostics", action="store_true",
                        help="skip the plans-k-at-a-time diagnostics after the reps")
    parser.add_argument("--what-if", action="store_true",
                        help="also time the schedules the report proposes (raw terraform; "
                             "adds about 2 minutes per rep)")
    parser.add_argument("--only-overhead", action="store_true",
                        help="time only (d), mlops plan --env dev against bare plan + show "
                             "-json (use more --reps: it is the noisiest figure)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the tmp dir (clone, logs, plans) for inspection")
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be >= 1")
    return args


def run(args: argparse.Namespace, tmp: Path) -> None:
    logs = tmp / "logs"
    logs.mkdir()
    (tmp / "out").mkdir()
    progress(f"tmp dir {tmp}; logs in {logs}")
    repo = prepare_clone(tmp)
    base_env = {**scrubbed_environ(), "MLOPS_ROOT": str(repo),
                "TF_PLUGIN_CACHE_DIR": str(tmp / "plugin-cache")}
    cloud_env = {**base_env, "MLOPS_STATE_DIR": str(tmp / "state-cloud")}
    paths = control.CloudPaths.under(Settings.from_env(cloud_env).state_dir)
    info = control.start(paths, control.free_port(), cloud_env)
    try:
        progress(f"embedded AWS at {info.endpoint} (pid {info.pid})")
        client = {**base_env, **control.client_env(info)}
        ctx = context.load({**client, "MLOPS_STATE_DIR": str(tmp / "state-cloud")})
        with fd_to_file(logs / "000-bootstrap.log"):
            apply_bootstrap(ctx)
        # Every env of the repository lives in the bootstrapped account and shares its state
        # bucket, so dev's backend settings are every env's.
        bench = Bench(tmp=tmp, repo=repo, envs=list(ctx.config.envs), base_env=client,
                      backend=ctx.backend_config("dev"), meter=Meter(info.pid),
                      runner=Runner(logs), mlops=mlops_binary())
        progress(f"bootstrap applied; state bucket {bench.backend['bucket']}")
        commit_changes(bench)
        check_decisions(bench)
        measure(bench, args)
    finally:
        control.stop(paths)
        progress("embedded AWS stopped")


def measure(bench: Bench, args: argparse.Namespace) -> None:
    # Warm-up, untimed: fill the plugin cache, page in the provider binary, and leave
    # dev's data dir for (d) initialised (that is what "after init" means there).
    progress("warm-up: init every env once, plan dev once")
    for env_name in bench.envs:
        bench.terraform("warmup", env_name, bench.init_args(),
                        bench.tmp / "warmup" / env_name)
    bench.checkout(MODULE_BRANCH)
    bench.runner.run("warmup-mlops-plan-dev", [bench.mlops, "plan", "--env", "dev", "--out",
                                               str(bench.tmp / "out" / "warmup")],
                     bench.state_env("overhead"))

    steps: list[tuple[str, Callable[[Bench, int], None]]] = [
        ("(a) naive", naive),
        ("(b) mlops plan --changed, module", lambda b, i: mlops_changed(b, i, docs=False)),
        ("(c) mlops plan --changed, docs", lambda b, i: mlops_changed(b, i, docs=True)),
        ("(d) bare plan + show -json", overhead_bare),
        ("(d) mlops plan --env dev", overhead_mlops),
    ]
    if args.only_overhead:
        steps = steps[3:]
    for rep in range(args.reps):
        for name, step in steps if rep % 2 == 0 else reversed(steps):
            progress(f"rep {rep + 1}/{args.reps}: {name}")
            step(bench, rep)
        if args.only_overhead:
            continue
        a, b = bench.results["a"][-1].wall, bench.results["b"][-1].wall
        progress(f"rep {rep + 1}: (a) {a:.1f}s  (b) {b:.1f}s  ratio {b / a:.2f}")
    if args.only_overhead:
        report_overhead(bench, args.reps)
        return
    if args.what_if:
        for rep in range(args.reps):
            what_if(bench, rep)
    scaling = None if args.no_diagnostics else plans_at_a_time(bench)
    report(bench, args.reps, scaling)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (CI cancel, timeout) must still run the finally blocks that clean up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    try:
        run(args, tmp)
    except BenchError as err:
        print(f"bench: FAILED: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # an MlopsError from bootstrap, the cloud, ...
        render = getattr(err, "render", None)
        print(f"bench: FAILED: {render() if render else repr(err)}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            progress(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
