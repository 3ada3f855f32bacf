"""Unimplemented operations fail fast as AWS answers them, HTTP 501 `NotImplemented`, which
no botocore retry mode retries (mlops/localcloud/wsgi.py cites botocore's retry tables)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.cloud

CASES = [  # (service, call, protocol)
    ("sagemaker", lambda c: c.describe_hub(HubName="nope"), "json"),
    ("ec2", lambda c: c.describe_capacity_block_offerings(
        CapacityDurationHours=24, InstanceType="p5.48xlarge", InstanceCount=1), "ec2"),
    ("pricing", lambda c: c.describe_services(), "unknown service"),
]


@pytest.mark.parametrize("mode", ["standard", "legacy", "adaptive"])
@pytest.mark.parametrize(("service", "call", "protocol"), CASES, ids=[c[2] for c in CASES])
def test_unimplemented_operation_fails_once_with_clear_error(
        cloud: Any, service: str, call: Any, protocol: str, mode: str) -> None:
    client = cloud.client(service, retries={"max_attempts": 5, "mode": mode})
    sent: list[str] = []
    client.meta.events.register("before-send", lambda **kw: sent.append(kw["request"].url))
    with pytest.raises(ClientError) as excinfo:
        call(client)
    error = excinfo.value.response["Error"]
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert error["Code"] == "NotImplemented"
    assert "is not implemented by the embedded AWS" in error["Message"]
    assert len(sent) == 1, f"the SDK retried: {sent}"
