"""EC2 detailed monitoring on and off (mlops/localcloud/extensions/ec2.py)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.cloud


def _monitoring(ec2: Any, instance_id: str) -> str:
    [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(reservation["Instances"][0]["Monitoring"]["State"])


def test_monitor_and_unmonitor_instances_switch_detailed_monitoring(cloud: Any) -> None:
    ec2 = cloud.client("ec2")
    [instance] = ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro",
                                   MinCount=1, MaxCount=1)["Instances"]
    instance_id = instance["InstanceId"]
    assert _monitoring(ec2, instance_id) == "disabled"

    answer = ec2.monitor_instances(InstanceIds=[instance_id])["InstanceMonitorings"]
    assert answer == [{"InstanceId": instance_id, "Monitoring": {"State": "pending"}}]
    assert _monitoring(ec2, instance_id) == "enabled"

    answer = ec2.unmonitor_instances(InstanceIds=[instance_id])["InstanceMonitorings"]
    assert answer == [{"InstanceId": instance_id, "Monitoring": {"State": "disabling"}}]
    assert _monitoring(ec2, instance_id) == "disabled"
    ec2.terminate_instances(InstanceIds=[instance_id])


def test_monitor_unknown_instance_is_not_found(cloud: Any) -> None:
    with pytest.raises(ClientError) as info:
        cloud.client("ec2").monitor_instances(InstanceIds=["i-0123456789abcdef0"])
    assert info.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
