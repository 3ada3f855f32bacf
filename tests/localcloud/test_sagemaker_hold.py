"""The embedded AWS's test knob that keeps an endpoint `Updating` (POST
/_mlops/sagemaker/hold): not AWS behaviour, but what the stuck-update tests of the canary
rely on, so it is tested against what SageMaker's API then answers: DescribeEndpoint stays
`Updating` with the old CurrentWeight, a second update is refused with
"Cannot update in-progress endpoint", and lifting the hold lets the update finish."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops.localcloud import control

pytestmark = pytest.mark.cloud

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1.0"


def _status(sm: Any, name: str) -> dict[str, Any]:
    found: dict[str, Any] = sm.describe_endpoint(EndpointName=name)
    return found


def _wait(sm: Any, name: str, status: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _status(sm, name)
        if found["EndpointStatus"] == status:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{name}: still {found['EndpointStatus']} after {timeout}s, "
                         f"expected {status}")


def test_a_held_endpoint_stays_updating_until_released(cloud: Any, artifacts: Any,
                                                        unique_name: str) -> None:
    sm = cloud.client("sagemaker")
    for variant, model in (("stable", "v1"), ("canary", "v2")):
        sm.create_model(ModelName=f"{unique_name}-{variant}", ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": artifacts.url(model)})
    sm.create_endpoint_config(EndpointConfigName=unique_name, ProductionVariants=[
        {"VariantName": v, "ModelName": f"{unique_name}-{v}", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1, "InitialVariantWeight": w}
        for v, w in (("stable", 90.0), ("canary", 10.0))])
    sm.create_endpoint(EndpointName=unique_name, EndpointConfigName=unique_name)
    _wait(sm, unique_name, "InService", timeout=120)

    control.hold_endpoint(cloud.endpoint, unique_name, 60)
    sm.update_endpoint_weights_and_capacities(
        EndpointName=unique_name, DesiredWeightsAndCapacities=[
            {"VariantName": "canary", "DesiredWeight": 50.0},
            {"VariantName": "stable", "DesiredWeight": 50.0}])
    time.sleep(2.5)  # longer than the cloud's transition delay (1 s by default)
    held = _status(sm, unique_name)
    weights = {v["VariantName"]: (v["CurrentWeight"], v["DesiredWeight"])
               for v in held["ProductionVariants"]}
    assert (held["EndpointStatus"], weights) == (
        "Updating", {"stable": (90.0, 50.0), "canary": (10.0, 50.0)}), held
    with pytest.raises(ClientError) as refused:
        sm.update_endpoint_weights_and_capacities(
            EndpointName=unique_name,
            DesiredWeightsAndCapacities=[{"VariantName": "canary", "DesiredWeight": 0.0}])
    assert "Cannot update in-progress endpoint" in str(refused.value), refused.value

    control.hold_endpoint(cloud.endpoint, unique_name, 0)
    done = _wait(sm, unique_name, "InService", timeout=10)
    assert {v["VariantName"]: v["CurrentWeight"] for v in done["ProductionVariants"]} == {
        "stable": 50.0, "canary": 50.0}, done
    sm.delete_endpoint(EndpointName=unique_name)


@pytest.mark.parametrize("body", [b"{}", b'{"endpoint": "x", "seconds": -1}', b"not json"])
def test_bad_hold_requests_are_refused(cloud: Any, body: bytes) -> None:
    request = urllib.request.Request(cloud.endpoint + "/_mlops/sagemaker/hold", data=body,
                                     method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert "/_mlops/sagemaker/hold" in json.loads(refused.value.read())["error"]
