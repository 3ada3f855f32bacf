"""The embedded SageMaker serves and measures: hosting on real artifacts, InvokeEndpoint
routing and errors, AWS/SageMaker metrics, and no orphan model servers.

Oracles: the model's own predictions (loaded locally from the same artifact), the
SageMaker API reference (error codes, headers, FailureReason wording) and Linux process
state (/proc)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.cloud

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1.0"


def _endpoint(sm: Any, name: str, variants: dict[str, tuple[str, float]],
              create: bool = True) -> str:
    """Models and a config named after `name`; variants: name -> (model data URL, weight)."""
    config = f"{name}-{len(variants)}-{abs(hash(tuple(variants.items()))) % 10**6}"
    for variant, (url, _) in variants.items():
        sm.create_model(ModelName=f"{config}-{variant}", ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": url})
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[
        {"VariantName": variant, "ModelName": f"{config}-{variant}", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1, "InitialVariantWeight": weight}
        for variant, (_, weight) in variants.items()])
    if create:
        sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    return config


def _settled(sm: Any, name: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found: dict[str, Any] = sm.describe_endpoint(EndpointName=name)
        if found["EndpointStatus"] in ("InService", "Failed"):
            return found
        time.sleep(0.1)
    raise AssertionError(f"{name} stayed {found['EndpointStatus']} for {timeout}s")


def _rows(n: int = 5) -> list[list[float]]:
    from mlops.adapters import training

    return training.holdout_rows("breast_cancer")[:n]


def _local_predictions(model_dir: Path, rows: list[list[float]]) -> list[Any]:
    from model_server import artifact

    loaded = artifact.load(artifact.read_archive((model_dir / "model.tar.gz").read_bytes()))
    return list(loaded.estimator.predict(rows).tolist())


def _invoke(runtime: Any, name: str, rows: list[list[float]], **kwargs: Any) -> Any:
    return runtime.invoke_endpoint(EndpointName=name, Body=json.dumps({"instances": rows}),
                                   ContentType="application/json", **kwargs)


@pytest.fixture(scope="module")
def served(cloud: Any, artifacts: Any) -> str:
    """One endpoint for the read-only tests: stable (v1, weight 3), canary (v2, weight 1)."""
    sm = cloud.client("sagemaker")
    name = f"served-{os.getpid()}"
    _endpoint(sm, name, {"stable": (artifacts.url("v1"), 3.0),
                         "canary": (artifacts.url("v2"), 1.0)})
    assert _settled(sm, name)["EndpointStatus"] == "InService"
    return name


def test_hosted_variant_answers_with_the_models_predictions(cloud: Any, artifacts: Any,
                                                            served: str) -> None:
    runtime, rows = cloud.client("sagemaker-runtime"), _rows()
    expected = {"stable": _local_predictions(artifacts.dirs["v1"], rows),
                "canary": _local_predictions(artifacts.dirs["v2"], rows)}
    for variant in ("stable", "canary"):
        answer = _invoke(runtime, served, rows, TargetVariant=variant)
        assert answer["InvokedProductionVariant"] == variant
        assert answer["ContentType"] == "application/json"
        assert json.loads(answer["Body"].read()) == {"predictions": expected[variant]}
    csv = "".join(",".join(map(repr, row)) + "\n" for row in rows)
    answer = runtime.invoke_endpoint(EndpointName=served, Body=csv, ContentType="text/csv",
                                     Accept="text/csv", TargetVariant="stable")
    assert answer["Body"].read().decode().split() == [str(p) for p in expected["stable"]]


def test_traffic_splits_by_current_weight_and_target_variant_overrides(cloud: Any,
                                                                       served: str) -> None:
    runtime, row = cloud.client("sagemaker-runtime"), _rows(1)
    seen = Counter(_invoke(runtime, served, row)["InvokedProductionVariant"] for _ in range(40))
    assert seen == {"stable": 30, "canary": 10}, f"weights 3:1 over 40 requests: {seen}"
    targeted = Counter(_invoke(runtime, served, row, TargetVariant="canary")
                       ["InvokedProductionVariant"] for _ in range(5))
    assert targeted == {"canary": 5}


def test_bad_invocations_are_validation_or_model_errors(cloud: Any, served: str) -> None:
    runtime = cloud.client("sagemaker-runtime")
    cases = [
        ({"EndpointName": "no-such-endpoint"}, "ValidationError", 400,
         "Endpoint no-such-endpoint of account"),
        ({"EndpointName": served, "TargetVariant": "blue"}, "ValidationError", 400,
         "Variant blue not found"),
    ]
    for kwargs, code, status, message in cases:
        with pytest.raises(ClientError) as info:
            runtime.invoke_endpoint(Body=b"[[1]]", ContentType="application/json", **kwargs)
        error = info.value.response
        assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
            code, status), error
        assert message in error["Error"]["Message"]
    with pytest.raises(ClientError) as info:  # the model answers 400: ModelError, as AWS
        runtime.invoke_endpoint(EndpointName=served, Body=b"[[1, 2]]",
                                ContentType="application/json", TargetVariant="stable")
    error = info.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400
    assert "has 2 features; this model takes 30" in error["OriginalMessage"]
    assert error["Error"]["Message"].startswith("Received client error (400) from primary")
    assert error["LogStreamArn"].startswith("arn:aws:logs:us-east-1:")


def test_model_failures_are_model_errors_and_5xx_metrics(cloud: Any, artifacts: Any,
                                                         unique_name: str) -> None:
    sm, runtime = cloud.client("sagemaker"), cloud.client("sagemaker-runtime")
    _endpoint(sm, unique_name, {"stable": (artifacts.url("v1"), 1.0),
                                "canary": (artifacts.url("faulty"), 1.0)})
    assert _settled(sm, unique_name)["EndpointStatus"] == "InService"
    started = time.time() - 1
    outcomes: Counter[tuple[str, str]] = Counter()
    for _ in range(20):
        try:
            variant = _invoke(runtime, unique_name, _rows(1))["InvokedProductionVariant"]
            outcomes[(variant, "ok")] += 1
        except ClientError as err:
            response = err.response
            assert response["Error"]["Code"] == "ModelError"
            assert response["OriginalStatusCode"] == 500
            assert "InjectedFault" in response["OriginalMessage"]
            variant = response["ResponseMetadata"]["HTTPHeaders"][
                "x-amzn-invoked-production-variant"]
            outcomes[(variant, "ModelError")] += 1
    assert outcomes == {("stable", "ok"): 10, ("canary", "ok"): 5, ("canary", "ModelError"): 5}

    cw = cloud.client("cloudwatch")

    def total(metric: str, variant: str, stat: str = "Sum") -> dict[str, Any]:
        points = cw.get_metric_statistics(
            Namespace="AWS/SageMaker", MetricName=metric, StartTime=started,
            EndTime=time.time() + 60, Period=3600, Statistics=[stat],
            Dimensions=[{"Name": "EndpointName", "Value": unique_name},
                        {"Name": "VariantName", "Value": variant}])["Datapoints"]
        assert len(points) == 1, f"{metric}/{variant}: {points}"
        return dict(points[0])

    found = {(metric, variant): total(metric, variant)["Sum"]
             for metric in ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors")
             for variant in ("stable", "canary")}
    assert found == {("Invocations", "stable"): 10, ("Invocations", "canary"): 10,
                     ("Invocation4XXErrors", "stable"): 0, ("Invocation4XXErrors", "canary"): 0,
                     ("Invocation5XXErrors", "stable"): 0, ("Invocation5XXErrors", "canary"): 5}
    latency = total("ModelLatency", "stable", "Average")
    assert latency["Unit"] == "Microseconds"
    assert 100 < latency["Average"] < 10_000_000, f"ModelLatency in microseconds: {latency}"
    assert total("OverheadLatency", "canary", "SampleCount")["SampleCount"] == 10


def test_missing_artifact_fails_the_endpoint_as_aws_does(cloud: Any, artifacts: Any,
                                                        unique_name: str) -> None:
    sm = cloud.client("sagemaker")
    url = f"s3://{artifacts.bucket}/missing/model.tar.gz"
    _endpoint(sm, unique_name, {"stable": (url, 1.0)})
    found = _settled(sm, unique_name)
    assert found["EndpointStatus"] == "Failed"
    assert found["FailureReason"] == (
        f'Failed to download model data for container "container_1" from URL: "{url}". '
        "Please ensure that there is an object located at the URL and that the role passed "
        "to CreateModel has permissions to download the model.")


def test_a_model_without_artifact_is_explained(cloud: Any, unique_name: str) -> None:
    """The container image is not run (a documented divergence): say so, do not hang."""
    sm = cloud.client("sagemaker")
    sm.create_model(ModelName=unique_name, ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": IMAGE})
    sm.create_endpoint_config(EndpointConfigName=unique_name, ProductionVariants=[
        {"VariantName": "stable", "ModelName": unique_name, "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=unique_name, EndpointConfigName=unique_name)
    found = _settled(sm, unique_name)
    assert found["EndpointStatus"] == "Failed"
    assert "has no ModelDataUrl" in found["FailureReason"]
    assert "does not run container images" in found["FailureReason"]


def test_unloadable_artifact_fails_the_ping_health_check(cloud: Any, artifacts: Any,
                                                         unique_name: str) -> None:
    sm = cloud.client("sagemaker")
    _endpoint(sm, unique_name, {"stable": (artifacts.url("pickled"), 1.0)})
    found = _settled(sm, unique_name)
    assert found["EndpointStatus"] == "Failed"
    reason = found["FailureReason"]
    assert reason.startswith("The primary container for production variant stable did not "
                             "pass the ping health check."), reason
    assert "is a Python pickle" in reason, "the server's own error should be in the reason"


def test_update_swaps_fleets_and_a_failed_update_keeps_serving(cloud: Any, artifacts: Any,
                                                               processes: Any,
                                                               unique_name: str) -> None:
    children_of, alive = processes.children, processes.alive
    sm, runtime = cloud.client("sagemaker"), cloud.client("sagemaker-runtime")
    _endpoint(sm, unique_name, {"stable": (artifacts.url("v1"), 1.0)})
    assert _settled(sm, unique_name)["EndpointStatus"] == "InService"
    rows = _rows()
    before = set(children_of(processes.pid(cloud)))

    broken = _endpoint(sm, unique_name, {"stable": (artifacts.url("pickled"), 1.0)},
                       create=False)
    sm.update_endpoint(EndpointName=unique_name, EndpointConfigName=broken)
    failed = _settled(sm, unique_name)
    assert failed["EndpointStatus"] == "Failed" and "ping health check" in failed["FailureReason"]
    assert failed["EndpointConfigName"] != broken, "a failed update keeps the previous config"
    answer = _invoke(runtime, unique_name, rows)  # the previous fleet still serves
    assert json.loads(answer["Body"].read())["predictions"] == _local_predictions(
        artifacts.dirs["v1"], rows)

    good = _endpoint(sm, unique_name, {"stable": (artifacts.url("v2"), 1.0)}, create=False)
    sm.update_endpoint(EndpointName=unique_name, EndpointConfigName=good)
    recovered = _settled(sm, unique_name)
    assert recovered["EndpointStatus"] == "InService" and "FailureReason" not in recovered
    assert recovered["EndpointConfigName"] == good
    assert json.loads(_invoke(runtime, unique_name, rows)["Body"].read())["predictions"] == \
        _local_predictions(artifacts.dirs["v2"], rows)
    after = set(children_of(processes.pid(cloud)))
    retired = before - after
    assert retired and not any(alive(pid) for pid in retired), (
        f"the replaced fleet's servers {sorted(before)} should have stopped; now {sorted(after)}")

    serving = after - before  # this endpoint's current fleet (other endpoints' are in both)
    assert len(serving) == 1, f"one server for the one variant: {sorted(serving)}"
    sm.delete_endpoint(EndpointName=unique_name)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(p) for p in serving):
        time.sleep(0.1)
    assert not any(alive(pid) for pid in serving), "DeleteEndpoint must stop the model servers"


@pytest.mark.parametrize("how", ["stop", "sigkill"])
def test_no_orphans_when_the_cloud_stops_or_is_killed(how: str, cloud: Any, processes: Any,
                                                      tmp_path: Path, train_model: Any) -> None:
    """A private cloud (not the session's): endpoints hosted, then `mlops cloud down` or a
    SIGKILL of the cloud; no model server may survive it."""
    from mlops.localcloud import control

    env = {**cloud.env, "MLOPS_STATE_DIR": str(tmp_path)}
    paths = control.CloudPaths.under(tmp_path)
    info = control.start(paths, control.free_port(), env)
    try:
        import boto3

        def client(service: str) -> Any:
            return boto3.client(service, endpoint_url=info.endpoint, region_name="us-east-1",
                                aws_access_key_id="test", aws_secret_access_key="test")

        client("s3").create_bucket(Bucket="models")
        client("s3").put_object(Bucket="models", Key="v1.tar.gz",
                                Body=train_model(1).archive.read_bytes())
        sm = client("sagemaker")
        _endpoint(sm, "orphans", {"a": ("s3://models/v1.tar.gz", 1.0),
                                  "b": ("s3://models/v1.tar.gz", 1.0)})
        assert _settled(sm, "orphans")["EndpointStatus"] == "InService"
        servers = processes.children(info.pid)
        assert len(servers) == 2, f"expected one model server per variant, found {servers}"
        if how == "stop":
            control.stop(paths)
        else:
            os.kill(info.pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(processes.alive(p) for p in servers):
            time.sleep(0.1)
        assert not [p for p in servers if processes.alive(p)], (
            f"orphaned model servers after {how}")
    finally:
        control.stop(paths)
