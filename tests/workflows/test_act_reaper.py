"""reaper.yml run for real under act: the hourly schedule sweeps the reapable envs (one job
per env, each assuming its reaper role through GitHub OIDC against the embedded AWS) and
deletes only the expired endpoint; a dispatch naming the protected prod env with dry-run
reports what it would reap and changes nothing."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from actrunner import Act, ActRun, WorkflowCloud, repository_payload
from botocore.exceptions import ClientError

from mlops.localcloud.github import FakeGitHub

pytestmark = [pytest.mark.workflow, pytest.mark.cloud, pytest.mark.terraform]

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
PAST = "2020-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def model_url(workflow_cloud: WorkflowCloud, train_model: Any) -> str:
    """A real trained model in the embedded S3: an endpoint serving it is InService."""
    s3 = workflow_cloud.client("s3")
    bucket = f"reaper-models-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(train_model(1).archive), bucket, "v1/model.tar.gz")
    return f"s3://{bucket}/v1/model.tar.gz"


def _endpoint(sm: Any, name: str, env: str, model_url: str = "", **tags: str) -> None:
    """Hosted (InService) with `model_url`; without, the embedded SageMaker fails it."""
    container = {"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1"}
    if model_url:
        container["ModelDataUrl"] = model_url
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "stable", "ModelName": name, "InstanceType": "ml.t2.medium",
        "InitialInstanceCount": 1}])
    tagged = {"env": env, "owner": "ml-platform", "cost": "ml", "project": "mlops-demo", **tags}
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name,
                       Tags=[{"Key": k, "Value": v} for k, v in tagged.items()])


def _exists(sm: Any, name: str) -> bool:
    try:
        sm.describe_endpoint(EndpointName=name)
    except ClientError:
        return False
    return True


def _run(act: Act, cloud: WorkflowCloud, github: FakeGitHub, event: str,
         payload: dict[str, Any]) -> ActRun:
    variables = {**cloud.role_variables("reaper"), "AWS_REGION": "us-east-1"}
    return act.run("reaper.yml", event, {**payload, "repository": repository_payload()},
                   github=github, env=cloud.job_env(),
                   variables=variables)


def test_the_hourly_sweep_reaps_only_what_expired(act: Act, workflow_cloud: WorkflowCloud,
                                                  github: FakeGitHub, model_url: str) -> None:
    sm = workflow_cloud.client("sagemaker")
    suffix = uuid.uuid4().hex[:6]
    expired, young = f"mlops-demo-dev-old-{suffix}", f"mlops-demo-dev-new-{suffix}"
    protected = f"mlops-demo-prod-old-{suffix}"
    _endpoint(sm, expired, "dev", model_url, expires_at=PAST)
    _endpoint(sm, young, "dev", ttl_hours="8")
    _endpoint(sm, protected, "prod", expires_at=PAST)

    deadline = time.monotonic() + 60
    while sm.describe_endpoint(EndpointName=expired)["EndpointStatus"] == "Creating":
        assert time.monotonic() < deadline, "the hosted endpoint never left Creating"
        time.sleep(0.2)
    assert sm.describe_endpoint(EndpointName=expired)["EndpointStatus"] == "InService"

    run = _run(act, workflow_cloud, github, "schedule", {"schedule": "7 * * * *"})
    assert run.returncode == 0, f"{run.results()}\n{run.tail()}"
    assert {(j.id, j.matrix.get("env"), j.result) for j in run.jobs} == {
        ("envs", None, "success"), ("reap", "dev", "success"), ("reap", "staging", "success")}
    assert not _exists(sm, expired), run.job("reap", env="dev").log
    assert _exists(sm, young) and _exists(sm, protected)
    sm.describe_endpoint_config(EndpointConfigName=expired)  # kept for the redeploy
    summary = run.job("reap", env="dev").summary
    assert "## Cost reaper: dev" in summary and f"| deleted | dev | endpoint {expired} |" in summary
    assert "-$0.06/h" in summary
    # each reap job assumed its env's role with its own OIDC token (audience sts)
    audiences = [r.audience for r in github.token_requests]
    assert audiences == ["sts.amazonaws.com", "sts.amazonaws.com"], audiences


def test_a_dispatch_naming_prod_with_dry_run_changes_nothing(
        act: Act, workflow_cloud: WorkflowCloud, github: FakeGitHub) -> None:
    sm = workflow_cloud.client("sagemaker")
    protected = f"mlops-demo-prod-old-{uuid.uuid4().hex[:6]}"
    _endpoint(sm, protected, "prod", expires_at=PAST)
    run = _run(act, workflow_cloud, github, "workflow_dispatch", {
        "ref": "refs/heads/main",
        # as GitHub records it: the payload's input values are strings
        "inputs": {"envs": "prod", "dry-run": "true", "max-age": ""}})
    assert run.returncode == 0, f"{run.results()}\n{run.tail()}"
    assert {(j.id, j.matrix.get("env")) for j in run.jobs} == {("envs", None), ("reap", "prod")}
    job = run.job("reap", env="prod")
    assert f"| would delete | prod | endpoint {protected} |" in job.summary, job.log
    assert "(dry run: nothing changed)" in job.summary
    assert _exists(sm, protected)


def test_a_dispatch_naming_an_unknown_env_fails_early(
        act: Act, workflow_cloud: WorkflowCloud, github: FakeGitHub) -> None:
    run = _run(act, workflow_cloud, github, "workflow_dispatch", {
        "ref": "refs/heads/main", "inputs": {"envs": "qa", "dry-run": "false", "max-age": ""}})
    assert run.returncode != 0
    envs = run.job("envs")
    assert envs.result == "failure" and "unknown env 'qa'" in envs.log, envs.log
    assert [j.id for j in run.jobs if j.id == "reap" and j.result == "success"] == []
