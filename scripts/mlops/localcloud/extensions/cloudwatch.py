"""CloudWatch metric alarms that are evaluated, as the CloudWatch User Guide describes.

moto 5.2.5 stores alarms and metric data but never evaluates an alarm (only
SetAlarmState changes its state), and creates alarms in state OK. We reproduce:

- PutMetricAlarm (API reference): "When this operation creates an alarm, the alarm state
  is immediately set to INSUFFICIENT_DATA. The alarm is then evaluated and its state is
  set appropriately." / "When you update an existing alarm, its state is left unchanged".
- Evaluation (localcloud/alarm_eval.py, pure, with the guide's tables as its test):
  Period, EvaluationPeriods, DatapointsToAlarm, Statistic or ExtendedStatistic,
  ComparisonOperator, Threshold, TreatMissingData, EvaluateLowSampleCountPercentile and
  metric math (arithmetic, FILL). A change of state sets StateValue, StateReason,
  StateReasonData and StateUpdatedTimestamp and adds a history item; no change, no
  update.
- SetAlarmState: "This temporary state change lasts only until the next alarm comparison
  occurs": the set state holds until the alarm's next period boundary.

When: alarms are evaluated whenever they are read (DescribeAlarms,
DescribeAlarmsForMetric), against the metric data stored at that moment. Real CloudWatch
evaluates on a schedule; evaluating on read gives a reader exactly the state that
schedule would have reached by then, needs no thread, and makes tests deterministic. The
divergence: alarm actions are never executed (nothing here delivers SNS anyway).

Metric data is indexed per (namespace, name, dimensions) as it is put, so evaluation
reads only the evaluation range, not every datapoint ever stored.
"""

from __future__ import annotations

import bisect
import math
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from mlops.localcloud.alarm_eval import (
    INSUFFICIENT,
    MetricSpec,
    Sample,
    Unsupported,
    evaluate,
    spec_from_moto,
)

MetricKey = tuple[str, str, tuple[tuple[str, str], ...]]


class MetricIndex:
    """Samples per metric, sorted by time, for one CloudWatch backend (account, region)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.series: dict[MetricKey, tuple[list[float], list[Sample]]] = {}

    def add(self, key: MetricKey, sample: Sample) -> None:
        with self.lock:
            times, samples = self.series.setdefault(key, ([], []))
            at = bisect.bisect_right(times, sample.timestamp)
            times.insert(at, sample.timestamp)
            samples.insert(at, sample)

    def fetch(self, metric: MetricSpec, start: float, end: float) -> Sequence[Sample]:
        with self.lock:
            found = self.series.get((metric.namespace, metric.name, metric.dimensions))
            if found is None:
                return []
            times, samples = found
            return samples[bisect.bisect_left(times, start):bisect.bisect_left(times, end)]


_INDEXES: weakref.WeakKeyDictionary[Any, MetricIndex] = weakref.WeakKeyDictionary()
_MANUAL: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def index_of(backend: Any) -> MetricIndex:
    with _LOCK:
        if backend not in _INDEXES:
            _INDEXES[backend] = MetricIndex()
        return _INDEXES[backend]


def epoch(value: Any) -> float:
    """moto keeps naive-UTC datetimes (or whatever the request carried)."""
    if value is None:
        return time.time()
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def samples_of(item: dict[str, Any]) -> list[Sample]:
    """PutMetricData's MetricDatum as samples: Value, Values/Counts or StatisticValues."""
    at = epoch(item.get("Timestamp"))
    if item.get("Values"):
        counts = item.get("Counts") or [1] * len(item["Values"])
        return [Sample.value(at, float(v)) for v, c in zip(item["Values"], counts, strict=False)
                for _ in range(int(float(c)))]
    if item.get("StatisticValues"):
        stats = item["StatisticValues"]
        return [Sample(at, float(stats["Sum"]), float(stats["SampleCount"]),
                       float(stats["Minimum"]), float(stats["Maximum"]), raw=False)]
    return [Sample.value(at, float(item.get("Value", 0)))]


def metric_key(namespace: str, item: dict[str, Any]) -> MetricKey:
    dims = tuple(sorted((str(d["Name"]), str(d["Value"])) for d in item.get("Dimensions") or []))
    return (namespace, str(item["MetricName"]), dims)


def evaluate_alarms(backend: Any, alarms: Any = None, now: float | None = None) -> None:
    """Evaluate the backend's metric alarms (or `alarms`) and record state changes."""
    index = index_of(backend)
    at = time.time() if now is None else now
    for alarm in list(alarms if alarms is not None else backend.alarms.values()):
        if getattr(alarm, "rule", None):  # composite alarms: not evaluated
            continue
        try:
            spec = spec_from_moto(alarm)
            held = _MANUAL.get(alarm)
            if held is not None and at < held:
                continue  # SetAlarmState holds until the next comparison
            outcome = evaluate(spec, index.fetch, at, alarm.state_value)
        except Unsupported as err:
            print(f"mlops localcloud: alarm {alarm.name} not evaluated: {err}",
                  file=sys.stderr, flush=True)
            continue
        if outcome.state != alarm.state_value:
            alarm.update_state(outcome.reason, outcome.reason_data, outcome.state)


def install() -> None:
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.cloudwatch.responses import CloudWatchResponse

    if getattr(CloudWatchBackend, "_mlops_patched", False):
        return
    original_put_data = CloudWatchBackend.put_metric_data
    original_put_alarm = CloudWatchBackend.put_metric_alarm
    original_set_state = CloudWatchBackend.set_alarm_state

    def put_metric_data(self: Any, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        original_put_data(self, namespace, metric_data)
        index = index_of(self)
        for item in metric_data:
            for sample in samples_of(item):
                index.add(metric_key(namespace, item), sample)

    def put_metric_alarm(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        previous = self.alarms.get(name)
        alarm = original_put_alarm(self, name, *args, **kwargs)
        if previous is not None and previous is not alarm:
            for attr in ("state_value", "state_reason", "state_reason_data",
                         "state_updated_timestamp", "history"):
                setattr(alarm, attr, getattr(previous, attr))
        elif previous is None:
            alarm.state_value = INSUFFICIENT
            alarm.state_reason = "Unchecked: Initial alarm creation"
        return alarm

    def set_alarm_state(self: Any, alarm_name: str, reason: str, reason_data: str,
                        state_value: str) -> None:
        original_set_state(self, alarm_name, reason, reason_data, state_value)
        alarm = self.alarms[alarm_name]
        period = max(10, int(alarm.period or 60))
        _MANUAL[alarm] = (math.floor(time.time() / period) + 1) * period

    def evaluated(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def handler(self: Any) -> Any:
            evaluate_alarms(self.cloudwatch_backend)
            return original(self)

        handler.__name__ = original.__name__
        return handler

    CloudWatchBackend.put_metric_data = put_metric_data  # type: ignore[method-assign]
    CloudWatchBackend.put_metric_alarm = put_metric_alarm  # type: ignore[method-assign]
    CloudWatchBackend.set_alarm_state = set_alarm_state  # type: ignore[method-assign]
    for name in ("describe_alarms", "describe_alarms_for_metric"):
        setattr(CloudWatchResponse, name, evaluated(getattr(CloudWatchResponse, name)))
    setattr(CloudWatchBackend, "_mlops_patched", True)  # noqa: B010
