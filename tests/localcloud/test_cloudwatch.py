"""CloudWatch alarms of the embedded AWS, through boto3: evaluated from stored datapoints
when read (mlops/localcloud/extensions/cloudwatch.py)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import pytest

pytestmark = pytest.mark.cloud

PERIOD = 10


def _complete_period_start(periods_ago: int = 1) -> float:
    """The start of a period that is already complete (no waiting in tests)."""
    return (math.floor(time.time() / PERIOD) - periods_ago) * PERIOD


def _put(cw: Any, name: str, dims: list[dict[str, str]], value: float, at: float) -> None:
    cw.put_metric_data(Namespace="Tests/Alarms", MetricData=[{
        "MetricName": name, "Dimensions": dims, "Value": value,
        "Timestamp": datetime.fromtimestamp(at + 1, UTC)}])


def _alarm(cw: Any, name: str) -> dict[str, Any]:
    [alarm] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return dict(alarm)


def test_alarm_starts_insufficient_then_follows_its_data(cloud: Any, unique_name: str) -> None:
    cw = cloud.client("cloudwatch")
    dims = [{"Name": "Test", "Value": unique_name}]
    settings = {"AlarmName": unique_name, "Namespace": "Tests/Alarms", "MetricName": "Errors",
                "Dimensions": dims, "Statistic": "Sum", "Period": PERIOD,
                "EvaluationPeriods": 1, "Threshold": 1.0,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold"}
    cw.put_metric_alarm(**settings)  # TreatMissingData defaults to missing
    first = _alarm(cw, unique_name)
    assert first["StateValue"] == "INSUFFICIENT_DATA", first
    assert first["StateReason"] == "Unchecked: Initial alarm creation", "no data: no change"

    _put(cw, "Errors", dims, 3.0, _complete_period_start())
    breached = _alarm(cw, unique_name)
    assert breached["StateValue"] == "ALARM", breached["StateReason"]
    assert breached["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints")
    assert breached["StateUpdatedTimestamp"] > first["StateUpdatedTimestamp"]
    assert '"recentDatapoints": [3.0]' in breached["StateReasonData"]
    again = _alarm(cw, unique_name)
    assert again["StateUpdatedTimestamp"] == breached["StateUpdatedTimestamp"], (
        "no change of state, no update")

    cw.put_metric_alarm(**settings, AlarmDescription="edited")  # an update keeps the state
    assert _alarm(cw, unique_name)["StateValue"] == "ALARM"


def test_state_value_filter_sees_evaluated_states(cloud: Any, unique_name: str) -> None:
    cw = cloud.client("cloudwatch")
    dims = [{"Name": "Test", "Value": unique_name}]
    cw.put_metric_alarm(AlarmName=unique_name, Namespace="Tests/Alarms", MetricName="Latency",
                        Dimensions=dims, ExtendedStatistic="p99", Period=PERIOD,
                        EvaluationPeriods=1, Threshold=100.0,
                        ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching")
    start = _complete_period_start()
    for value in [10.0] * 98 + [500.0, 900.0]:
        _put(cw, "Latency", dims, value, start)
    names = [a["AlarmName"] for a in cw.describe_alarms(StateValue="ALARM")["MetricAlarms"]]
    assert unique_name in names, f"DescribeAlarms(StateValue=ALARM) found {names}"
    assert _alarm(cw, unique_name)["StateReason"].startswith(
        "Threshold Crossed: 1 out of the last 1 datapoints [500")


def test_set_alarm_state_lasts_until_the_next_comparison(cloud: Any, unique_name: str) -> None:
    cw = cloud.client("cloudwatch")
    dims = [{"Name": "Test", "Value": unique_name}]
    cw.put_metric_alarm(AlarmName=unique_name, Namespace="Tests/Alarms", MetricName="Errors",
                        Dimensions=dims, Statistic="Sum", Period=PERIOD, EvaluationPeriods=1,
                        Threshold=1.0, ComparisonOperator="GreaterThanOrEqualToThreshold",
                        TreatMissingData="notBreaching")
    assert _alarm(cw, unique_name)["StateValue"] == "OK"
    set_at = time.time()
    cw.set_alarm_state(AlarmName=unique_name, StateValue="ALARM", StateReason="testing")
    held = _alarm(cw, unique_name)
    if time.time() < (math.floor(set_at / PERIOD) + 1) * PERIOD:
        assert (held["StateValue"], held["StateReason"]) == ("ALARM", "testing")
    time.sleep(max(0.0, (math.floor(set_at / PERIOD) + 1) * PERIOD - time.time()) + 0.2)
    assert _alarm(cw, unique_name)["StateValue"] == "OK", "re-evaluated at the next period"


def test_metric_math_error_rate_alarm(cloud: Any, unique_name: str) -> None:
    cw = cloud.client("cloudwatch")
    dims = [{"Name": "Test", "Value": unique_name}]

    def stat(query_id: str, metric: str) -> dict[str, Any]:
        return {"Id": query_id, "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": "Tests/Alarms", "MetricName": metric, "Dimensions": dims},
            "Period": PERIOD, "Stat": "Sum"}}

    cw.put_metric_alarm(AlarmName=unique_name, EvaluationPeriods=1, Threshold=5.0,
                        ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching", Metrics=[
                            stat("errors", "Invocation5XXErrors"),
                            stat("invocations", "Invocations"),
                            {"Id": "rate", "Expression": "100 * errors / invocations",
                             "ReturnData": True}])
    start = _complete_period_start()
    for i in range(20):
        _put(cw, "Invocations", dims, 1.0, start)
        _put(cw, "Invocation5XXErrors", dims, 1.0 if i < 2 else 0.0, start)
    alarm = _alarm(cw, unique_name)
    assert alarm["StateValue"] == "ALARM", alarm["StateReason"]
    assert "[10 (" in alarm["StateReason"], "2 errors in 20 requests is a 10% rate"
    assert [m["Id"] for m in alarm["Metrics"]] == ["errors", "invocations", "rate"]
