"""CloudWatch alarms through boto3: the state of the alarms a canary is judged by."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mlops.adapters import aws
from mlops.core.canary import Alarm
from mlops.errors import MlopsError


def _period(alarm: Mapping[str, Any]) -> float:
    """The alarm's period: its own, or (metric math) the longest of its metrics'."""
    if alarm.get("Period"):
        return float(alarm["Period"])
    periods = [float(q["MetricStat"]["Period"]) for q in alarm.get("Metrics") or []
               if (q.get("MetricStat") or {}).get("Period")]
    return max(periods, default=60.0)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value or 0.0)


class Alarms:
    def __init__(self, env: Mapping[str, str], client: Any = None) -> None:
        self.client = client or aws.client(env, "cloudwatch")

    def describe(self, names: Mapping[str, tuple[str, str]]) -> tuple[Alarm, ...]:
        """The alarms named in `names` ({name: (variant, kind)}), in that order. One
        DescribeAlarms call (up to 100 names). An alarm that does not exist is an error:
        a canary is never judged by alarms that are not there."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            found = self.client.describe_alarms(AlarmNames=list(names),
                                                AlarmTypes=["MetricAlarm"])["MetricAlarms"]
        except (ClientError, BotoCoreError) as err:
            raise MlopsError("could not read the canary's alarms", str(err),
                             "check the credentials may cloudwatch:DescribeAlarms") from err
        by_name = {a["AlarmName"]: a for a in found}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise MlopsError(f"the alarm(s) {', '.join(missing)} do not exist",
                             "the canary is judged by the alarms modules/sagemaker_endpoint "
                             "creates for each variant; without them nothing would stop a "
                             "bad candidate", "apply the env (its plan creates them)")
        return tuple(
            Alarm(name=name, variant=variant, kind=kind,
                  state=str(by_name[name].get("StateValue", "")),
                  reason=str(by_name[name].get("StateReason", "")),
                  updated=_epoch(by_name[name].get("StateUpdatedTimestamp")),
                  period=_period(by_name[name]),
                  evaluation_periods=int(by_name[name].get("EvaluationPeriods") or 1))
            for name, (variant, kind) in names.items())
