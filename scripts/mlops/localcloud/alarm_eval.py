"""CloudWatch metric-alarm evaluation, pure: stored samples in, alarm state out.

Follows the CloudWatch User Guide, "Using Amazon CloudWatch alarms":

- "Period is the length of time to evaluate the metric or expression to create each
  individual data point for an alarm." Periods are aligned to the epoch (10 s, 30 s or a
  multiple of 60 s) and only complete periods are evaluated.
- "Evaluation Period is the number of the most recent periods, or data points, to
  evaluate when determining alarm state." / "Datapoints to Alarm is the number of data
  points within the evaluation period that must be breaching to cause the alarm to go to
  the ALARM state."
- "CloudWatch attempts to retrieve a higher number of data points than specified by
  Evaluation Periods" (the *evaluation range*; the guide's tables use 5 for 3 evaluation
  periods: we use N + 2).
  - "If some data points in the evaluation range are missing, but the number of existing
    data points retrieved is equal to or more than the alarm's Evaluation Periods,
    CloudWatch evaluates the alarm state based on the most recent existing data points".
  - Otherwise "CloudWatch fills in the missing data points with the result you specified
    for how to treat missing data ... any real data points in the evaluation range, no
    matter when they were reported, are included ... CloudWatch uses missing data points
    only as few times as possible."
  - "If fewer than the value of Datapoints to Alarm are breaching, the alarm state is set
    to OK. Otherwise, the state is set to ALARM." With `missing`, "if all data points in
    the alarm evaluation range are missing, the alarm transitions to INSUFFICIENT_DATA";
    `ignore` "maintains the current alarm state". Both tables of the guide ("How alarm
    state is evaluated when data is missing") are the table test of `decide`.
- Percentiles "between 0.5 and 1.00": with EvaluateLowSampleCountPercentile = ignore, a
  period with fewer than 10/(1-percentile) samples is treated as missing.
- Metric math ("Using metric math"): + - * / ^ and unary minus on time series and
  scalars; "Missing values in a time series are treated as 0. If the value of a data point
  causes a function to attempt to divide by zero, the data point is dropped."; FILL(TS, S)
  fills the missing values. Other functions are not supported (the alarm is then left as
  it is, and the reason says why).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
RANGE_EXTRA = 2  # evaluation range = evaluation periods + 2 (the guide's 3 -> 5)

COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?|100)$")


class Unsupported(ValueError):
    """The alarm uses something this evaluator does not implement."""


class UnknownId(Unsupported):
    """An expression names an id no query defines (yet)."""


@dataclass(frozen=True)
class Sample:
    """What PutMetricData stored: a value (count 1) or a statistic set."""

    timestamp: float  # epoch seconds
    sum: float
    count: float = 1.0
    minimum: float = math.nan
    maximum: float = math.nan
    raw: bool = True  # a single value (percentiles need these)

    @classmethod
    def value(cls, timestamp: float, value: float) -> Sample:
        return cls(timestamp, value, 1.0, value, value, True)


@dataclass(frozen=True)
class MetricSpec:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]  # sorted (name, value)


Fetch = Callable[[MetricSpec, float, float], Sequence[Sample]]  # samples in [start, end)


def statistic(samples: Sequence[Sample], stat: str) -> float | None:
    """One period's statistic: Sum, SampleCount, Average, Minimum, Maximum or pNN."""
    if not samples:
        return None
    count = sum(s.count for s in samples)
    if stat == "Sum":
        return sum(s.sum for s in samples)
    if stat == "SampleCount":
        return count
    if stat == "Average":
        return sum(s.sum for s in samples) / count if count else None
    if stat == "Minimum":
        return min(s.minimum for s in samples)
    if stat == "Maximum":
        return max(s.maximum for s in samples)
    match = _PERCENTILE.match(stat)
    if match:
        if not all(s.raw for s in samples):
            raise Unsupported(f"{stat} of statistic sets (StatisticValues) is not supported")
        values = sorted(s.sum for s in samples)
        p = float(match.group(1))
        rank = max(1, math.ceil(p / 100 * len(values)))  # nearest rank
        return values[min(rank, len(values)) - 1]
    raise Unsupported(f"statistic {stat!r} is not supported")


def low_sample(samples: Sequence[Sample], stat: str) -> bool:
    """Fewer samples than CloudWatch needs for a significant percentile."""
    match = _PERCENTILE.match(stat)
    if not match:
        return False
    p = float(match.group(1)) / 100
    if p in (0.0, 1.0):
        return False
    needed = round(10 / (1 - p) if p >= 0.5 else 10 / p, 6)  # 10/(1-0.9) is 100.00000000000003
    return sum(s.count for s in samples) < needed


Series = dict[float, float]  # period start -> value


def metric_series(samples: Sequence[Sample], stat: str, period: int, starts: Sequence[float],
                  ignore_low_samples: bool = False) -> Series:
    buckets: dict[float, list[Sample]] = {start: [] for start in starts}
    for sample in samples:
        bucket = float(math.floor(sample.timestamp / period) * period)
        if bucket in buckets:
            buckets[bucket].append(sample)
    series: Series = {}
    for start, found in buckets.items():
        if ignore_low_samples and low_sample(found, stat):
            continue
        value = statistic(found, stat)
        if value is not None:
            series[start] = value
    return series


# -- metric math ---------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|([a-z][A-Za-z0-9_]*)|"
                    r"([A-Z][A-Z0-9_]*)|(.))")
Value = float | Series


def _tokens(expression: str) -> list[tuple[str, str]]:
    out = []
    for number, ident, func, op in _TOKEN.findall(expression):
        if number:
            out.append(("num", number))
        elif ident:
            out.append(("id", ident))
        elif func:
            out.append(("func", func))
        elif op.strip():
            if op not in "+-*/^(),":
                raise Unsupported(f"unexpected {op!r} in expression {expression!r}")
            out.append(("op", op))
    return out


def _binary(op: str, left: Value, right: Value) -> Value:
    def apply(a: float, b: float) -> float | None:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "^":
            return float(a ** b)
        return None if b == 0 else a / b  # divide by zero: the point is dropped

    if isinstance(left, float) and isinstance(right, float):
        result = apply(left, right)
        if result is None:
            raise Unsupported("division of two constants by zero")
        return result
    if isinstance(left, dict) and isinstance(right, dict):
        keys = sorted(set(left) | set(right))  # missing values are treated as 0
        pairs = ((k, apply(left.get(k, 0.0), right.get(k, 0.0))) for k in keys)
    elif isinstance(left, dict):
        assert isinstance(right, float)
        pairs = ((k, apply(v, right)) for k, v in left.items())
    else:
        assert isinstance(left, float) and isinstance(right, dict)
        pairs = ((k, apply(left, v)) for k, v in right.items())
    return {k: v for k, v in pairs if v is not None}


class _Parser:
    """expr := term (("+"|"-") term)*; term := power (("*"|"/") power)*;
    power := unary ("^" unary)?; unary := "-" unary | atom;
    atom := number | id | FUNC "(" expr ("," expr)* ")" | "(" expr ")"."""

    def __init__(self, expression: str, env: Mapping[str, Series], starts: Sequence[float]):
        self.tokens = _tokens(expression)
        self.pos = 0
        self.env = env
        self.starts = starts
        self.expression = expression

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise Unsupported(f"cannot parse {self.expression!r} (expected {value or 'more'})")
        self.pos += 1
        return token

    def parse(self) -> Value:
        value = self.expr()
        if self.peek() is not None:
            raise Unsupported(f"cannot parse {self.expression!r} (unexpected {self.peek()})")
        return value

    def expr(self) -> Value:
        value = self.term()
        while (token := self.peek()) and token[1] in "+-" and token[0] == "op":
            self.take()
            value = _binary(token[1], value, self.term())
        return value

    def term(self) -> Value:
        value = self.power()
        while (token := self.peek()) and token[1] in "*/" and token[0] == "op":
            self.take()
            value = _binary(token[1], value, self.power())
        return value

    def power(self) -> Value:
        value = self.unary()
        if (token := self.peek()) and token == ("op", "^"):
            self.take()
            value = _binary("^", value, self.unary())
        return value

    def unary(self) -> Value:
        if self.peek() == ("op", "-"):
            self.take()
            return _binary("*", -1.0, self.unary())
        return self.atom()

    def atom(self) -> Value:
        kind, text = self.take()
        if kind == "num":
            return float(text)
        if kind == "id":
            if text not in self.env:
                raise UnknownId(f"expression {self.expression!r} names unknown id {text!r}")
            return dict(self.env[text])
        if kind == "func":
            if text != "FILL":
                raise Unsupported(f"metric math function {text} is not supported (only FILL)")
            self.take("(")
            series = self.expr()
            self.take(",")
            filler = self.expr()
            self.take(")")
            if not isinstance(series, dict) or not isinstance(filler, float):
                raise Unsupported("FILL takes a time series and a number here")
            return {start: series.get(start, filler) for start in self.starts}
        if (kind, text) == ("op", "("):
            value = self.expr()
            self.take(")")
            return value
        raise Unsupported(f"cannot parse {self.expression!r} at {text!r}")


def evaluate_expression(expression: str, env: Mapping[str, Series],
                        starts: Sequence[float]) -> Series:
    value = _Parser(expression, env, starts).parse()
    if not isinstance(value, dict):
        raise Unsupported(f"expression {expression!r} must yield a time series")
    return value


# -- the alarm -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One entry of an alarm's Metrics (MetricDataQuery)."""

    id: str
    metric: MetricSpec | None = None
    stat: str | None = None
    period: int | None = None
    expression: str | None = None
    return_data: bool = True


@dataclass(frozen=True)
class AlarmSpec:
    period: int
    evaluation_periods: int
    threshold: float
    comparison: str
    datapoints_to_alarm: int | None = None
    treat_missing: str = "missing"
    metric: MetricSpec | None = None  # single-metric alarm
    stat: str | None = None  # Statistic or ExtendedStatistic
    queries: tuple[Query, ...] = ()  # metric-math alarm
    ignore_low_samples: bool = False

    @property
    def m(self) -> int:
        return self.datapoints_to_alarm or self.evaluation_periods


@dataclass(frozen=True)
class Outcome:
    state: str
    reason: str
    reason_data: str
    values: tuple[float | None, ...] = field(default=())


def range_starts(spec: AlarmSpec, now: float) -> list[float]:
    """Start times of the evaluation range's complete periods, oldest first."""
    end = float(math.floor(now / spec.period) * spec.period)
    count = spec.evaluation_periods + RANGE_EXTRA
    return [end - (count - i) * spec.period for i in range(count)]


def alarm_values(spec: AlarmSpec, fetch: Fetch, now: float) -> list[float | None]:
    """The evaluation range's datapoints, oldest first (None = missing)."""
    starts = range_starts(spec, now)
    begin, end = starts[0], starts[-1] + spec.period
    if spec.queries:
        env: dict[str, Series] = {}
        for query in spec.queries:
            if query.metric is not None:
                period = query.period or spec.period
                if period != spec.period:
                    raise Unsupported("every metric of a math alarm must use the alarm's period")
                env[query.id] = metric_series(fetch(query.metric, begin, end),
                                              query.stat or "Average", period, starts,
                                              spec.ignore_low_samples)
        # Expressions may use each other in any order (DescribeAlarms does not keep the
        # order they were put in): resolve them until nothing more resolves.
        pending = [q for q in spec.queries if q.metric is None and q.expression]
        while pending:
            unresolved = []
            for query in pending:
                try:
                    env[query.id] = evaluate_expression(str(query.expression), env, starts)
                except UnknownId:
                    unresolved.append(query)
            if len(unresolved) == len(pending):
                evaluate_expression(str(unresolved[0].expression), env, starts)  # raises
            pending = unresolved
        returned = [q for q in spec.queries if q.return_data]
        if len(returned) != 1:
            raise Unsupported("exactly one query of a math alarm must have ReturnData true")
        series = env[returned[0].id]
    else:
        if spec.metric is None or spec.stat is None:
            raise Unsupported("the alarm names no metric and no metric math")
        series = metric_series(fetch(spec.metric, begin, end), spec.stat, spec.period, starts,
                               spec.ignore_low_samples)
    return [series.get(start) for start in starts]


def decide(values: Sequence[float | None], *, m: int, n: int, breaches: Callable[[float], bool],
           treat_missing: str, current: str) -> tuple[str, list[tuple[int, float | None]]]:
    """The state for the evaluation range `values` (oldest first) and the evaluated
    datapoints as (index in the range, value; None = a filled missing point)."""
    present = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(present) >= n:
        evaluated: list[tuple[int, float | None]] = list(present[-n:])
        breaching = sum(1 for _, v in evaluated if v is not None and breaches(v))
        return (ALARM if breaching >= m else OK), evaluated
    filled = n - len(present)
    evaluated = list(present) + [(-1, None)] * filled
    breaching = sum(1 for _, v in present if breaches(v))
    if treat_missing == "breaching":
        return (ALARM if breaching + filled >= m else OK), evaluated
    if treat_missing == "notBreaching":
        return (ALARM if breaching >= m else OK), evaluated
    if breaching >= m:
        return ALARM, evaluated
    if any(not breaches(v) for _, v in present):
        return OK, evaluated  # a real good datapoint: missing ones are not needed
    if treat_missing == "ignore":
        return current, evaluated
    if not present:
        return INSUFFICIENT, evaluated
    # `missing` with only breaching points: the guide's "X - - - -" row goes to ALARM
    # "because the oldest evaluated data point is breaching", "- - - - X" stays unknown.
    return (ALARM if values[0] is not None else INSUFFICIENT), evaluated


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%d/%m/%y %H:%M:%S")


def evaluate(spec: AlarmSpec, fetch: Fetch, now: float, current: str) -> Outcome:
    """The alarm's state at `now`, with a StateReason and StateReasonData like AWS's."""
    if spec.comparison not in COMPARISONS:
        raise Unsupported(f"ComparisonOperator {spec.comparison} is not supported")
    compare, words = COMPARISONS[spec.comparison]
    values = alarm_values(spec, fetch, now)
    state, evaluated = decide(values, m=spec.m, n=spec.evaluation_periods,
                              breaches=lambda v: compare(v, spec.threshold),
                              treat_missing=spec.treat_missing, current=current)
    starts = range_starts(spec, now)
    real = [(starts[i], v) for i, v in evaluated if v is not None and i >= 0]
    shown = ", ".join(f"{v:g} ({_stamp(t)})" for t, v in reversed(real)) or "none"
    n = spec.evaluation_periods
    if state == ALARM:
        count = sum(1 for _, v in real if compare(v, spec.threshold))
        reason = (f"Threshold Crossed: {count} out of the last {n} datapoints [{shown}] "
                  f"{'was' if count == 1 else 'were'} {words} the threshold ({spec.threshold:g})"
                  f" (minimum {spec.m} datapoint{'s' if spec.m != 1 else ''} for OK -> ALARM "
                  "transition).")
    elif state == OK:
        count = sum(1 for _, v in real if not compare(v, spec.threshold))
        missing = len(evaluated) - len(real)
        reason = (f"Threshold Crossed: {count} out of the last {n} datapoints [{shown}] "
                  f"{'was' if count == 1 else 'were'} not {words} the threshold "
                  f"({spec.threshold:g})"
                  + (f"; {missing} missing datapoint{'s' if missing != 1 else ''} treated as "
                     f"{spec.treat_missing}" if missing else "")
                  + f" (minimum {spec.m} datapoint{'s' if spec.m != 1 else ''} for ALARM -> "
                    "OK transition).")
    else:
        missing = sum(1 for v in values if v is None)
        reason = (f"Insufficient Data: {missing} datapoint{'s were' if missing != 1 else ' was'}"
                  " unknown.")
    data = {
        "version": "1.0",
        "queryDate": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
        "startDate": datetime.fromtimestamp(starts[0], UTC).isoformat(timespec="milliseconds"),
        "period": spec.period,
        "recentDatapoints": [v for v in values if v is not None],
        "threshold": spec.threshold,
        "evaluatedDatapoints": [
            {"timestamp": datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds"),
             "value": v} for t, v in real],
    }
    if spec.stat:
        data["statistic" if not _PERCENTILE.match(spec.stat) else "extendedStatistic"] = spec.stat
    return Outcome(state, reason, json.dumps(data), tuple(values))


def spec_from_moto(alarm: Any) -> AlarmSpec:
    """An AlarmSpec from moto's Alarm object (the PutMetricAlarm parameters it stored)."""

    def dims(items: Any) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((str(d.name), str(d.value)) for d in items or []))

    def truthy(value: Any) -> bool:
        return value is None or value is True or str(value).lower() == "true"

    queries = []
    for query in alarm.metric_data_queries or []:
        metric_stat = query.metric_stat
        metric = None
        if metric_stat is not None:
            metric = MetricSpec(str(metric_stat.metric.namespace),
                                str(metric_stat.metric.metric_name),
                                dims(metric_stat.metric.dimensions))
        queries.append(Query(
            id=str(query.id), metric=metric,
            stat=str(metric_stat.stat) if metric_stat is not None else None,
            period=int(metric_stat.period) if metric_stat is not None and metric_stat.period
            else None,
            expression=str(query.expression) if query.expression else None,
            return_data=truthy(query.return_data)))
    period = int(alarm.period) if alarm.period else (
        next((q.period for q in queries if q.period), 60))
    metric = None
    if alarm.metric_name:
        metric = MetricSpec(str(alarm.namespace), str(alarm.metric_name), dims(alarm.dimensions))
    return AlarmSpec(
        period=int(period),
        evaluation_periods=int(alarm.evaluation_periods),
        threshold=float(alarm.threshold),
        comparison=str(alarm.comparison_operator),
        datapoints_to_alarm=int(alarm.datapoints_to_alarm) if alarm.datapoints_to_alarm
        else None,
        treat_missing=str(alarm.treat_missing_data or "missing"),
        metric=metric,
        stat=alarm.extended_statistic or alarm.statistic,
        queries=tuple(queries),
        ignore_low_samples=alarm.evaluate_low_sample_count_percentile == "ignore",
    )
