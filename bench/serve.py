"""Benchmark: the model server's `/invocations` against a plain single-threaded server.

    .venv/bin/python bench/serve.py [--seconds S] [--concurrency 1,8,32] [--rows N]
    make bench-serve

A benchmark, not a test: it measures and prints, and never asserts on timing. It exits 0
after printing; non-zero only when something it runs fails (a server that does not start,
or requests that fail).

One run:
  1. trains the model (`mlops train --seed 1`, the demo's model) into a tmp dir;
  2. starts, as separate processes on free ports:
       (a) the model server exactly as it ships (`model-server serve`, one uvicorn process);
       (b) the baseline: `http.server.HTTPServer` (single-threaded, one request at a time,
           HTTP/1.0 as it defaults to) whose handler parses the same body and calls the
           same `Predictor.predict`;
  3. for each concurrency C: C client threads, each with its own HTTP/1.1 connection
     (kept alive when the server allows it; http.server closes it after each request, as
     a plain server does), POST one held-out row (application/json) back to back for --seconds,
     against (a) then (b) then (a) again, interleaved so that machine noise hits both; the
     first second of each is warm-up and not counted;
  4. prints requests per second, p50 and p99 latency, the server's CPU time per request
     (from /proc: the one number other load on the machine cannot inflate) and errors per
     server and level, the ratios server/baseline, and whether the targets are met: at
     least 3x the baseline's throughput at C=32, and a p99 at C=1 no worse than the
     baseline's.

The client runs on the same machine (2 cores here): it takes CPU from both servers alike.
On a shared machine, latency percentiles move with everything else that runs; compare
the ratios of one run, and the CPU per request.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_THROUGHPUT_RATIO = 3.0  # at the highest concurrency

BASELINE = textwrap.dedent('''
    """The baseline: Python's http.server, one request at a time, the same predict path."""
    import http.server, socket, sys
    from pathlib import Path
    from model_server.artifact import load_dir
    from model_server.predictor import Predictor, RequestError, ModelFailure, parse, render

    predictor = Predictor(load_dir(Path(sys.argv[1])))

    class Handler(http.server.BaseHTTPRequestHandler):
        # HTTP/1.0, http.server's default: one request per connection. (A single-threaded
        # server that kept connections alive would serve one client and starve the rest.)

        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                out, status = render(predictor.predict(
                    parse(body, self.headers.get("Content-Type"))), "application/json"), 200
            except RequestError as err:
                out, status = err.message.encode(), err.status
            except ModelFailure as err:
                out, status = str(err).encode(), 500
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    class Server(http.server.HTTPServer):
        request_queue_size = 256  # every client gets in line; none is refused

    server = Server(("127.0.0.1", 0), Handler, bind_and_activate=False)
    server.socket = socket.socket(fileno=int(sys.argv[2]))
    server.serve_forever()
''')


@dataclass
class Level:
    server: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    cpu: float = 0.0  # server CPU seconds during the measured part

    @property
    def cpu_ms(self) -> float:
        """Server CPU per request: what the machine's load cannot inflate."""
        return self.cpu / self.requests * 1000 if self.requests else float("nan")

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    return sock


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and all its threads, from /proc."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def server(kind: str, model_dir: Path, work: Path) -> Iterator[tuple[int, int]]:
    sock = listening_socket()
    port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if kind == "model-server":
        argv = [sys.executable, "-m", "model_server", "serve", "--model-dir", str(model_dir),
                "--fd", str(sock.fileno())]
    else:
        script = work / "baseline.py"
        script.write_text(BASELINE)
        argv = [sys.executable, str(script), str(model_dir), str(sock.fileno())]
    with (work / f"{kind}.log").open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                pass_fds=(sock.fileno(),))
    sock.close()
    try:
        wait_ready(port, kind, proc, work)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_ready(port: int, kind: str, proc: subprocess.Popen[bytes], work: Path) -> None:
    path = "/ping" if kind == "model-server" else "/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (work / f"{kind}.log").read_text()
            raise SystemExit(f"{kind} exited {proc.returncode}: {log}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"{kind} did not become ready")


def load(port: int, pid: int, kind: str, concurrency: int, seconds: float, body: bytes,
         warmup: float = 1.0) -> Level:
    stop = time.monotonic() + warmup + seconds
    counted_from = time.monotonic() + warmup
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    headers = {"Content-Type": "application/json", "Accept": "application/json"}

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            started = time.monotonic()
            if started >= stop:
                break
            try:
                conn.request("POST", "/invocations", body, headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            if started >= counted_from:
                latencies[i].append(time.monotonic() - started)
                errors[i] += 0 if ok else 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, counted_from - time.monotonic()))
    cpu_start = cpu_seconds(pid)
    for thread in threads:
        thread.join()
    cpu = cpu_seconds(pid) - cpu_start
    flat = [x for per in latencies for x in per]
    return Level(kind, concurrency, len(flat), sum(errors), seconds, flat, cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per run")
    parser.add_argument("--concurrency", default="1,8,32", help="client threads per level")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds per server and level (default 3)")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    from mlops.adapters import training
    from mlops.cli import main as mlops

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "MLOPS_ROOT": str(ROOT), "MLOPS_STATE_DIR": str(work / "state")}
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            if mlops(["train", "--seed", "1", "--out", str(work / "model")], env) != 0:
                return 1
        model_dir = work / "unpacked"
        subprocess.run(["tar", "-xzf", str(work / "model" / "model.tar.gz"), "-C",
                        str(model_dir.mkdir() or model_dir)], check=True)
        body = json.dumps({"instances": training.holdout_rows("breast_cancer")[:1]}).encode()

        print(f"bench/serve.py: {platform.python_implementation()} {platform.python_version()},"
              f" {os.cpu_count()} CPUs, {args.seconds:g} s per run x {args.rounds} rounds, "
              f"1 row per request", file=sys.stderr)
        results: dict[tuple[str, int], list[Level]] = {}
        with server("model-server", model_dir, work) as fast, \
                server("http.server", model_dir, work) as slow:
            for concurrency in levels:
                for _ in range(args.rounds):
                    for kind, (port, pid) in (("model-server", fast), ("http.server", slow)):
                        level = load(port, pid, kind, concurrency, args.seconds, body)
                        results.setdefault((kind, concurrency), []).append(level)
                        print(f"  {kind:12} c={concurrency:<3} {level.rps:8.1f} rps  "
                              f"p50 {level.percentile(0.5):7.2f} ms  p99 "
                              f"{level.percentile(0.99):7.2f} ms  cpu/request "
                              f"{level.cpu_ms:5.2f} ms  errors {level.errors}", file=sys.stderr)

    def merged(kind: str, concurrency: int) -> Level:
        runs = results[(kind, concurrency)]
        return Level(kind, concurrency, sum(r.requests for r in runs),
                     sum(r.errors for r in runs), sum(r.seconds for r in runs),
                     [x for r in runs for x in r.latencies], sum(r.cpu for r in runs))

    print("\n| concurrency | server | requests/s | p50 ms | p99 ms | server CPU ms/request "
          "| errors |")
    print("|---|---|---|---|---|---|---|")
    for concurrency in levels:
        for kind in ("model-server", "http.server"):
            m = merged(kind, concurrency)
            print(f"| {concurrency} | {kind} | {m.rps:.1f} | {m.percentile(0.5):.2f} | "
                  f"{m.percentile(0.99):.2f} | {m.cpu_ms:.2f} | {m.errors} |")
    print("\n| concurrency | throughput ratio | p50 ratio | p99 ratio | CPU/request ratio |")
    print("|---|---|---|---|---|")
    for concurrency in levels:
        a, b = merged("model-server", concurrency), merged("http.server", concurrency)
        print(f"| {concurrency} | {a.rps / b.rps:.2f}x | "
              f"{a.percentile(0.5) / b.percentile(0.5):.2f} | "
              f"{a.percentile(0.99) / b.percentile(0.99):.2f} | {a.cpu_ms / b.cpu_ms:.2f} |")
    top, low = max(levels), min(levels)
    a, b = merged("model-server", top), merged("http.server", top)
    ratio = a.rps / b.rps
    print(f"\ntarget: >= {TARGET_THROUGHPUT_RATIO:g}x the baseline's throughput at c={top}: "
          f"{ratio:.2f}x ({'met' if ratio >= TARGET_THROUGHPUT_RATIO else 'NOT met'})")
    a, b = merged("model-server", low), merged("http.server", low)
    p99a, p99b = a.percentile(0.99), b.percentile(0.99)
    print(f"target: p99 at c={low} no worse than the baseline's: {p99a:.2f} ms vs "
          f"{p99b:.2f} ms ({'met' if p99a <= p99b else 'NOT met'})")
    failed = sum(level.errors for runs in results.values() for level in runs)
    if failed:
        print(f"\n{failed} requests failed: see the table", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
