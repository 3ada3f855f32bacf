"""Load-test arithmetic for `mlops traffic`, pure: the open-loop schedule, percentiles,
per-variant summaries and how they read on a terminal."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class Outcome:
    """One request: which variant answered, whether it succeeded, and how long it took."""

    variant: str
    ok: bool
    latency_ms: float
    error: str = ""  # AWS error code, "" on success


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least p% of values <= it)."""
    if not values:
        return None
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} is not in (0, 100]")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def schedule(rps: float, duration: float) -> list[float]:
    """Send offsets (seconds from the start) of an open-loop load: evenly spaced, so a
    slow answer never delays the next request (the load does not back off)."""
    if rps <= 0 or duration <= 0:
        raise ValueError("rps and duration must be positive")
    count = max(1, round(rps * duration))
    return [i / rps for i in range(count)]


@dataclass
class VariantStats:
    requests: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    @property
    def success_rate(self) -> float:
        return self.ok / self.requests if self.requests else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "ok": self.ok,
            "success_rate": round(self.success_rate, 4),
            "errors": dict(sorted(self.errors.items())),
            "latency_ms": {f"p{p}": _round(percentile(self.latencies, p)) for p in PERCENTILES},
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def summarize(outcomes: Iterable[Outcome]) -> dict[str, VariantStats]:
    """Per variant ("(none)" for requests no variant answered), sorted by name."""
    stats: dict[str, VariantStats] = {}
    for outcome in outcomes:
        entry = stats.setdefault(outcome.variant or "(none)", VariantStats())
        entry.requests += 1
        entry.latencies.append(outcome.latency_ms)
        if outcome.ok:
            entry.ok += 1
        else:
            entry.errors[outcome.error or "error"] = entry.errors.get(outcome.error or "error",
                                                                      0) + 1
    return dict(sorted(stats.items()))


def report(stats: dict[str, VariantStats], *, endpoint: str, sent: int, elapsed: float,
           rps: float) -> dict[str, Any]:
    """The `--json` document."""
    total_ok = sum(s.ok for s in stats.values())
    return {
        "endpoint": endpoint,
        "requests": sent,
        "target_rps": rps,
        "achieved_rps": round(sent / elapsed, 2) if elapsed > 0 else None,
        "duration_s": round(elapsed, 2),
        "success_rate": round(total_ok / sent, 4) if sent else None,
        "variants": {name: s.as_json() for name, s in stats.items()},
    }


def render(doc: dict[str, Any]) -> str:
    """The report as a small table."""
    lines = [f"{doc['endpoint']}: {doc['requests']} requests in {doc['duration_s']}s "
             f"({doc['achieved_rps']} rps), success {_pct(doc['success_rate'])}",
             f"{'variant':<12} {'requests':>8} {'success':>8} {'p50 ms':>8} {'p90 ms':>8} "
             f"{'p99 ms':>8}  errors"]
    for name, v in doc["variants"].items():
        lat = v["latency_ms"]
        errors = ", ".join(f"{k} x{n}" for k, n in v["errors"].items()) or "-"
        lines.append(f"{name:<12} {v['requests']:>8} {_pct(v['success_rate']):>8} "
                     f"{_ms(lat['p50']):>8} {_ms(lat['p90']):>8} {_ms(lat['p99']):>8}  {errors}")
    return "\n".join(lines)


def progress(done: int, total: int, elapsed: float, stats: dict[str, VariantStats]) -> str:
    parts = [f"{name} {s.ok}/{s.requests}" for name, s in stats.items()]
    return (f"traffic: {done}/{total} sent, {elapsed:.0f}s"
            + (f" | ok by variant: {', '.join(parts)}" if parts else ""))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
