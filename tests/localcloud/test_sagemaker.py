"""SageMaker endpoint lifecycle extensions (mlops/localcloud/extensions/sagemaker.py).

Endpoints are hosted for real now (tests/localcloud/test_hosting.py), and an endpoint whose
artifact is missing fails as on AWS: every model here points at a real trained artifact.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.cloud

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"


@pytest.fixture
def sm(cloud: Any) -> Any:
    return cloud.client("sagemaker")


@pytest.fixture(autouse=True)
def _model_data_url(artifacts: Any) -> None:
    global MODEL_DATA_URL  # every model here serves the seed-1 artifact
    MODEL_DATA_URL = artifacts.url("v1")


MODEL_DATA_URL = ""


def _config(sm: Any, name: str, variants: dict[str, float]) -> str:
    for model in variants:
        sm.create_model(ModelName=model, ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1"
                                                   ".amazonaws.com/serve:latest",
                                          "ModelDataUrl": MODEL_DATA_URL})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": model.rsplit("-", 1)[-1], "ModelName": model,
         "InstanceType": "ml.m5.large", "InitialInstanceCount": 1,
         "InitialVariantWeight": weight}
        for model, weight in variants.items()])
    return name


def _wait_in_service(sm: Any, name: str) -> list[str]:
    """Statuses seen until InService (bounded: the server's delay is ~1 s)."""
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = sm.describe_endpoint(EndpointName=name)["EndpointStatus"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "InService":
            return seen
        time.sleep(0.1)
    raise AssertionError(f"endpoint {name} never reached InService; saw {seen}")


def _error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def test_update_endpoint_swaps_config_through_updating(sm: Any, unique_name: str) -> None:
    blue = _config(sm, f"{unique_name}-blue", {f"{unique_name}-m-blue": 1.0})
    green = _config(sm, f"{unique_name}-green", {f"{unique_name}-m-green": 1.0})
    sm.create_endpoint(EndpointName=unique_name, EndpointConfigName=blue)
    assert _wait_in_service(sm, unique_name) == ["Creating", "InService"]

    sm.update_endpoint(EndpointName=unique_name, EndpointConfigName=green)
    during = sm.describe_endpoint(EndpointName=unique_name)
    assert during["EndpointStatus"] == "Updating"
    assert during["EndpointConfigName"] == blue
    assert during["PendingDeploymentSummary"]["EndpointConfigName"] == green
    with pytest.raises(ClientError) as excinfo:
        sm.update_endpoint(EndpointName=unique_name, EndpointConfigName=blue)
    code, message = _error(excinfo)
    assert code == "ValidationException"
    assert "Cannot update in-progress endpoint" in message

    assert _wait_in_service(sm, unique_name) == ["Updating", "InService"]
    after = sm.describe_endpoint(EndpointName=unique_name)
    assert after["EndpointConfigName"] == green
    assert [v["VariantName"] for v in after["ProductionVariants"]] == ["green"]
    assert "PendingDeploymentSummary" not in after


def test_create_existing_endpoint_is_refused(sm: Any, unique_name: str) -> None:
    config = _config(sm, unique_name, {f"{unique_name}-m-a": 1.0})
    sm.create_endpoint(EndpointName=unique_name, EndpointConfigName=config)
    with pytest.raises(ClientError) as excinfo:
        sm.create_endpoint(EndpointName=unique_name, EndpointConfigName=config)
    code, message = _error(excinfo)
    assert code == "ValidationException"
    assert "Cannot create already existing endpoint" in message


def test_list_endpoints_shows_the_settled_status(sm: Any, unique_name: str) -> None:
    """ListEndpoints is a read like DescribeEndpoint: "EndpointStatus: The status of the
    endpoint" is the current one, and StatusEquals filters on it."""
    config = _config(sm, unique_name, {f"{unique_name}-m-a": 1.0})
    sm.create_endpoint(EndpointName=unique_name, EndpointConfigName=config)

    def listed() -> str:
        found = sm.list_endpoints(NameContains=unique_name)["Endpoints"]
        return str(found[0]["EndpointStatus"])

    assert listed() == "Creating"
    deadline = time.monotonic() + 30
    while listed() != "InService":  # never described: only the listing settles it
        assert time.monotonic() < deadline, "ListEndpoints never showed InService"
        time.sleep(0.1)
    in_service = sm.list_endpoints(NameContains=unique_name, StatusEquals="InService")
    assert [e["EndpointName"] for e in in_service["Endpoints"]] == [unique_name]


def test_deleting_config_in_use_is_refused(sm: Any, unique_name: str) -> None:
    used = _config(sm, f"{unique_name}-used", {f"{unique_name}-m-a": 1.0})
    spare = _config(sm, f"{unique_name}-spare", {f"{unique_name}-m-b": 1.0})
    sm.create_endpoint(EndpointName=unique_name, EndpointConfigName=used)
    with pytest.raises(ClientError) as excinfo:
        sm.delete_endpoint_config(EndpointConfigName=used)
    code, message = _error(excinfo)
    assert code == "ValidationException"
    assert unique_name in message and "in use" in message
    sm.delete_endpoint_config(EndpointConfigName=spare)  # unused: deleted as usual
    assert sm.describe_endpoint_config(EndpointConfigName=used)["EndpointConfigName"] == used


def test_weights_update_moves_desired_then_current(sm: Any, unique_name: str) -> None:
    config = _config(sm, unique_name, {f"{unique_name}-m-stable": 1.0,
                                       f"{unique_name}-m-canary": 0.0})
    sm.create_endpoint(EndpointName=unique_name, EndpointConfigName=config)
    _wait_in_service(sm, unique_name)
    sm.update_endpoint_weights_and_capacities(
        EndpointName=unique_name, DesiredWeightsAndCapacities=[
            {"VariantName": "stable", "DesiredWeight": 0.9},
            {"VariantName": "canary", "DesiredWeight": 0.1}])

    def weights() -> dict[str, tuple[float, float, int]]:
        variants = sm.describe_endpoint(EndpointName=unique_name)["ProductionVariants"]
        return {v["VariantName"]: (v["CurrentWeight"], v["DesiredWeight"],
                                   v["CurrentInstanceCount"]) for v in variants}

    assert sm.describe_endpoint(EndpointName=unique_name)["EndpointStatus"] == "Updating"
    assert weights() == {"stable": (1.0, 0.9, 1), "canary": (0.0, 0.1, 1)}
    assert _wait_in_service(sm, unique_name)[-1] == "InService"
    assert weights() == {"stable": (0.9, 0.9, 1), "canary": (0.1, 0.1, 1)}


def test_describe_model_without_vpc_has_no_vpc_config(sm: Any, unique_name: str) -> None:
    _config(sm, unique_name, {f"{unique_name}-m": 1.0})
    assert "VpcConfig" not in sm.describe_model(ModelName=f"{unique_name}-m")


def test_create_model_keeps_network_isolation(sm: Any, unique_name: str) -> None:
    for name, isolated in ((f"{unique_name}-iso", True), (f"{unique_name}-open", False)):
        sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/x",
                        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1."
                                                   "amazonaws.com/serve:1"},
                        EnableNetworkIsolation=isolated)
        found = sm.describe_model(ModelName=name)["EnableNetworkIsolation"]
        assert found is isolated, f"{name}: EnableNetworkIsolation {found}, expected {isolated}"
