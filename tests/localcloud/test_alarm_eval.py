"""The alarm evaluator (mlops/localcloud/alarm_eval.py), pure, against the CloudWatch User
Guide: its two "How alarm state is evaluated when data is missing" tables verbatim, the
statistics, metric math and the reasons."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops.localcloud import alarm_eval as ev
from mlops.localcloud.alarm_eval import ALARM, INSUFFICIENT, OK

KEEP = "KEEP"  # "Retain current state"
# Data points oldest first as the guide writes them: 0 not breaching, X breaching, - missing.
GUIDE_3_OF_3 = [  # "Datapoints to Alarm and Evaluation Periods are both 3"
    ("0 - X - X", OK, OK, OK, OK),
    ("0 - - - -", OK, OK, OK, OK),
    ("- - - - -", INSUFFICIENT, KEEP, ALARM, OK),
    ("0 X X - X", ALARM, ALARM, ALARM, ALARM),
    ("- - - - X", INSUFFICIENT, KEEP, ALARM, OK),
    ("X - - - -", ALARM, KEEP, ALARM, OK),
]
GUIDE_2_OF_3 = [  # "Datapoints to Alarm is only 2 while Evaluation Periods is 3"
    ("0 - X - X", ALARM, ALARM, ALARM, ALARM),
    ("0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    ("0 - X - -", OK, OK, ALARM, OK),
    ("- - - - 0", OK, OK, ALARM, OK),
    ("- - - - X", INSUFFICIENT, KEEP, ALARM, OK),
]
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


def _points(text: str) -> list[float | None]:
    return [{"0": 0.0, "X": 10.0, "-": None}[c] for c in text.split()]


@pytest.mark.parametrize(("m", "row"), [(3, r) for r in GUIDE_3_OF_3] +
                         [(2, r) for r in GUIDE_2_OF_3],
                         ids=[f"3of3 {r[0]}" for r in GUIDE_3_OF_3] +
                             [f"2of3 {r[0]}" for r in GUIDE_2_OF_3])
def test_the_guides_missing_data_tables(m: int, row: tuple[str, ...]) -> None:
    points, expected = _points(row[0]), dict(zip(TREATMENTS, row[1:], strict=True))
    for treatment, want in expected.items():
        for current in (OK, ALARM, INSUFFICIENT):
            state, _ = ev.decide(points, m=m, n=3, breaches=lambda v: v >= 5,
                                 treat_missing=treatment, current=current)
            assert state == (current if want == KEEP else want), (
                f"{row[0]} (M={m}, N=3) treat {treatment}, current {current}: found {state}")


def _samples(values: list[float], t: float = 1000.0) -> list[ev.Sample]:
    return [ev.Sample.value(t, v) for v in values]


@pytest.mark.parametrize(("stat", "expected"), [
    ("Sum", 10.0), ("SampleCount", 4.0), ("Average", 2.5), ("Minimum", 1.0), ("Maximum", 4.0),
    ("p50", 2.0), ("p99", 4.0), ("p25", 1.0), ("p99.9", 4.0), ("p100", 4.0),
])
def test_period_statistics(stat: str, expected: float) -> None:
    assert ev.statistic(_samples([3.0, 1.0, 4.0, 2.0]), stat) == expected


def test_statistic_sets_and_unknown_statistics() -> None:
    agg = [ev.Sample(0, 10.0, 4.0, 1.0, 4.0, raw=False), ev.Sample.value(0, 5.0)]
    assert (ev.statistic(agg, "Sum"), ev.statistic(agg, "SampleCount"),
            ev.statistic(agg, "Maximum")) == (15.0, 5.0, 5.0)
    with pytest.raises(ev.Unsupported):
        ev.statistic(agg, "p90")
    with pytest.raises(ev.Unsupported):
        ev.statistic(_samples([1.0]), "tm99")
    assert ev.statistic([], "Sum") is None


def test_low_sample_percentiles_can_be_ignored() -> None:
    # "fewer than 10/(1-percentile) data points": p90 needs 100 samples
    assert ev.low_sample(_samples([1.0] * 99), "p90")
    assert not ev.low_sample(_samples([1.0] * 100), "p90")
    assert not ev.low_sample(_samples([1.0]), "Sum")


STARTS = [0.0, 10.0, 20.0]


@pytest.mark.parametrize(("expression", "env", "expected"), [
    ("100 * e / n", {"e": {0.0: 1.0, 10.0: 0.0}, "n": {0.0: 4.0, 10.0: 5.0}},
     {0.0: 25.0, 10.0: 0.0}),
    # "Missing values in a time series are treated as 0" and division by 0 drops the point
    ("e / n", {"e": {0.0: 1.0, 20.0: 2.0}, "n": {0.0: 2.0, 10.0: 5.0}},
     {0.0: 0.5, 10.0: 0.0}),
    ("e + 1", {"e": {10.0: 1.0}}, {10.0: 2.0}),
    ("-e * 2", {"e": {10.0: 3.0}}, {10.0: -6.0}),
    ("e ^ 2", {"e": {10.0: 3.0}}, {10.0: 9.0}),
    ("(e - n) * 2", {"e": {0.0: 5.0}, "n": {0.0: 1.0}}, {0.0: 8.0}),
    ("FILL(e, 0)", {"e": {10.0: 7.0}}, {0.0: 0.0, 10.0: 7.0, 20.0: 0.0}),
    ("100 * FILL(e, 0) / FILL(n, 1)", {"e": {}, "n": {}}, {0.0: 0.0, 10.0: 0.0, 20.0: 0.0}),
])
def test_metric_math(expression: str, env: dict[str, ev.Series],
                     expected: ev.Series) -> None:
    assert ev.evaluate_expression(expression, env, STARTS) == expected


@pytest.mark.parametrize("expression", ["AVG(e)", "e +", "x * 2", "e % 2", "FILL(e, REPEAT)",
                                        "2 + 3"])
def test_unsupported_math_says_so(expression: str) -> None:
    with pytest.raises(ev.Unsupported):
        ev.evaluate_expression(expression, {"e": {0.0: 1.0}}, STARTS)


METRIC = ev.MetricSpec("AWS/SageMaker", "Invocation5XXErrors",
                       (("EndpointName", "e"), ("VariantName", "canary")))
INVOCATIONS = ev.MetricSpec("AWS/SageMaker", "Invocations", METRIC.dimensions)


def _fetch(data: dict[ev.MetricSpec, list[ev.Sample]]) -> Any:
    def fetch(metric: ev.MetricSpec, start: float, end: float) -> list[ev.Sample]:
        return [s for s in data.get(metric, []) if start <= s.timestamp < end]

    return fetch


def test_single_metric_alarm_uses_complete_periods_and_explains_itself() -> None:
    spec = ev.AlarmSpec(period=10, evaluation_periods=1, threshold=1.0,
                        comparison="GreaterThanOrEqualToThreshold", treat_missing="notBreaching",
                        metric=METRIC, stat="Sum")
    data = {METRIC: [ev.Sample.value(101.0, 1.0), ev.Sample.value(105.0, 1.0)]}
    during = ev.evaluate(spec, _fetch(data), now=108.0, current=OK)
    assert during.state == OK, "the period 100-110 is not complete at 108 s"
    after = ev.evaluate(spec, _fetch(data), now=110.5, current=OK)
    assert after.state == ALARM
    assert after.reason.startswith("Threshold Crossed: 1 out of the last 1 datapoints [2 (")
    assert "was greater than or equal to the threshold (1)" in after.reason
    reason_data = json.loads(after.reason_data)
    assert reason_data["period"] == 10 and reason_data["recentDatapoints"] == [2.0]
    assert reason_data["statistic"] == "Sum"
    # "CloudWatch alarms may repeatedly re-evaluate the last set of data points for a period
    # of time after the metric has stopped flowing": while the breaching point is in the
    # evaluation range (N + 2 periods) it is the most recent existing datapoint.
    assert ev.evaluate(spec, _fetch(data), now=135.0, current=ALARM).state == ALARM
    later = ev.evaluate(spec, _fetch(data), now=140.5, current=ALARM)
    assert later.state == OK and "treated as notBreaching" in later.reason


def test_error_rate_math_alarm_judges_a_small_canary_fairly() -> None:
    """5 errors in 50 canary requests is 10%: below a 20% threshold, above 5%."""
    queries = (  # in the order DescribeAlarms may return them: the expression first
        ev.Query("rate", expression="100 * errors / invocations", return_data=True),
        ev.Query("errors", METRIC, "Sum", 10, return_data=False),
        ev.Query("invocations", INVOCATIONS, "Sum", 10, return_data=False),
    )
    data = {METRIC: [ev.Sample.value(100.5, 1.0 if i < 5 else 0.0) for i in range(50)],
            INVOCATIONS: [ev.Sample.value(100.5, 1.0) for _ in range(50)]}
    for threshold, want in ((20.0, OK), (5.0, ALARM)):
        spec = ev.AlarmSpec(period=10, evaluation_periods=1, threshold=threshold,
                            comparison="GreaterThanThreshold", treat_missing="notBreaching",
                            queries=queries)
        outcome = ev.evaluate(spec, _fetch(data), now=111.0, current=OK)
        assert outcome.state == want, f"threshold {threshold}%: {outcome.reason}"
        assert outcome.values[-1] == 10.0
    idle = ev.evaluate(spec, _fetch({}), now=111.0, current=ALARM)
    assert idle.state == OK, "no traffic: no rate (0/0 is dropped), missing is notBreaching"


def test_percentile_alarm_with_m_of_n() -> None:
    latency = ev.MetricSpec("AWS/SageMaker", "ModelLatency", METRIC.dimensions)
    spec = ev.AlarmSpec(period=10, evaluation_periods=3, datapoints_to_alarm=2,
                        threshold=250_000, comparison="GreaterThanThreshold",
                        treat_missing="missing", metric=latency, stat="p99")
    slow = [ev.Sample.value(t + 0.5, 300_000.0) for t in (100.0, 120.0)]
    fast = [ev.Sample.value(110.5, 1_000.0)]
    outcome = ev.evaluate(spec, _fetch({latency: slow + fast}), now=130.0, current=OK)
    assert outcome.state == ALARM and outcome.values[-3:] == (300_000.0, 1_000.0, 300_000.0)
    assert "2 out of the last 3 datapoints" in outcome.reason
    assert json.loads(outcome.reason_data)["extendedStatistic"] == "p99"


def test_insufficient_data_reason() -> None:
    spec = ev.AlarmSpec(period=60, evaluation_periods=1, threshold=1, comparison=
                        "GreaterThanThreshold", metric=METRIC, stat="Sum")
    outcome = ev.evaluate(spec, _fetch({}), now=1000.0, current=OK)
    assert outcome.state == INSUFFICIENT
    assert outcome.reason == "Insufficient Data: 3 datapoints were unknown."
