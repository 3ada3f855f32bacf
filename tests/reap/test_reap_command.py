"""`mlops reap` on the embedded AWS: expired, young, untagged, opted-out and protected
endpoints, GPU and CPU instances, another project's resources. Only the right ones go, a
dry run changes nothing, and a deleted endpoint keeps its configuration and model.

The project has a name of its own (a temporary MLOPS_ROOT), so the resources other tests
make on the shared embedded AWS are never this project's to reap.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops.cli import main

pytestmark = pytest.mark.cloud

PAST = "2020-01-01T00:00:00Z"
FUTURE = "2099-01-01T00:00:00Z"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"


@dataclass
class World:
    project: str
    env: dict[str, str]
    summary: Path

    def reap(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["reap", *argv], self.env)
        return code, out.getvalue(), err.getvalue()

    def name(self, env: str, what: str) -> str:
        return f"{self.project}-{env}-{what}"


def _tags(**values: str) -> list[dict[str, str]]:
    return [{"Key": k.replace("_keep", "mlops:reaper-keep"), "Value": v}
            for k, v in values.items()]


def _endpoint(sm: Any, name: str, tags: list[dict[str, str]], model_url: str = "") -> None:
    """An endpoint; with `model_url` (a real trained artifact) it is hosted and InService,
    without it the embedded SageMaker fails it (no ModelDataUrl), as AWS fails a model it
    cannot load: a Failed endpoint runs nothing and costs nothing, but is still reaped."""
    container = {"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1"}
    if model_url:
        container["ModelDataUrl"] = model_url
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "stable", "ModelName": name, "InstanceType": "ml.t2.medium",
        "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=tags)


def _instance(ec2: Any, itype: str, tags: list[dict[str, str]]) -> str:
    spec = [{"ResourceType": "instance", "Tags": tags}] if tags else []
    reservation = ec2.run_instances(ImageId="ami-12c6146b", InstanceType=itype, MinCount=1,
                                    MaxCount=1, TagSpecifications=spec)
    return str(reservation["Instances"][0]["InstanceId"])


def _exists(sm: Any, name: str) -> bool:
    try:
        sm.describe_endpoint(EndpointName=name)
    except ClientError:
        return False
    return True


def _state(ec2: Any, instance_id: str) -> str:
    [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(reservation["Instances"][0]["State"]["Name"])


def _project(cloud: Any, root: Path) -> World:
    project = f"rp{uuid.uuid4().hex[:8]}"
    (root / "mlops.yaml").write_text(
        f"project: {project}\nregion: us-east-1\nowner: ml-platform\n"
        "github_repo: example-org/mlops-gitops\nenvs: [dev, staging, prod]\n")
    summary = root / "summary.md"
    env = {**cloud.env, "MLOPS_ROOT": str(root), "MLOPS_STATE_DIR": str(root / ".mlops"),
           "GITHUB_STEP_SUMMARY": str(summary)}
    return World(project, env, summary)


@pytest.fixture(scope="module")
def model_url(cloud: Any, train_model: Any) -> str:
    """A real trained model in the embedded S3 (the hosted endpoints serve it)."""
    bucket = f"reap-models-{uuid.uuid4().hex[:8]}"
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(train_model(1).archive), bucket, "v1/model.tar.gz")
    return f"s3://{bucket}/v1/model.tar.gz"


@pytest.fixture
def world(cloud: Any, tmp_path: Path, model_url: str) -> World:
    """A project of its own with, in the embedded AWS: dev endpoints expired, young
    (ttl and expiry ahead), untagged, opted out; an expired prod endpoint; another
    project's expired dev endpoint; expired GPU and CPU instances; a GPU instance of
    nobody's."""
    w = _project(cloud, tmp_path)
    project = w.project
    sm, ec2 = cloud.client("sagemaker"), cloud.client("ec2")
    ours = {"owner": "ml-platform", "cost": "ml", "project": project}
    _endpoint(sm, w.name("dev", "expired"), _tags(env="dev", expires_at=PAST, **ours),
              model_url)  # hosted: a model server serves it
    _endpoint(sm, w.name("dev", "young"), _tags(env="dev", ttl_hours="8",
                                                expires_at=FUTURE, **ours))
    _endpoint(sm, w.name("dev", "untagged"), [])  # every tag lost; the name says dev
    _endpoint(sm, w.name("dev", "optout"), _tags(env="dev", expires_at=PAST,
                                                 _keep="customer demo until Friday", **ours))
    _endpoint(sm, w.name("prod", "expired"), _tags(env="prod", expires_at=PAST, **ours))
    _endpoint(sm, f"other{project}-dev-expired", _tags(env="dev", expires_at=PAST,
                                                       owner="x", cost="y", project="other"))
    gpu = _instance(ec2, "g4dn.xlarge", _tags(Name=w.name("dev", "trainer"), env="dev",
                                              expires_at=PAST, **ours))
    cpu = _instance(ec2, "t3.micro", _tags(Name=w.name("dev", "bastion"), env="dev",
                                           expires_at=PAST, **ours))
    stray = _instance(ec2, "g4dn.xlarge", [])  # nobody's: no tags, no name
    w.env["TEST_IDS"] = json.dumps({"gpu": gpu, "cpu": cpu, "stray": stray})
    deadline = time.monotonic() + 30  # endpoints are Creating for about a second
    while any(e["EndpointStatus"] == "Creating" for e in sm.list_endpoints(
            NameContains=project, MaxResults=100)["Endpoints"]):
        assert time.monotonic() < deadline, "endpoints never left Creating"
        time.sleep(0.2)
    return w


def _ids(w: World) -> dict[str, str]:
    ids: dict[str, str] = json.loads(w.env["TEST_IDS"])
    return ids


@pytest.fixture
def empty(cloud: Any, tmp_path: Path) -> World:
    return _project(cloud, tmp_path)


def test_list_envs_is_the_default_sweep(empty: World) -> None:
    code, out, _ = empty.reap("--list-envs")
    assert code == 0 and json.loads(out) == {"envs": ["dev", "staging"]}


def test_dry_run_reports_and_changes_nothing(cloud: Any, world: World) -> None:
    code, out, err = world.reap("--dry-run")
    assert code == 0, err
    sm, ec2 = cloud.client("sagemaker"), cloud.client("ec2")
    assert "(dry run: nothing changed)" in out
    assert f"| would delete | dev | endpoint {world.name('dev', 'expired')} |" in out
    assert f"| would stop | dev | instance {_ids(world)['gpu']}" in out
    assert f"| kept | dev | endpoint {world.name('dev', 'optout')} |" in out
    # lost its tags just now: due after the grace period, not yet reaped
    assert re.search(rf"\| due \S+Z \| dev \| endpoint {world.name('dev', 'untagged')} \| "
                     r"lost the required tag\(s\) env, owner, cost \|", out), out
    for name in ("expired", "young", "untagged", "optout"):
        assert _exists(sm, world.name("dev", name)), name
    assert _state(ec2, _ids(world)["gpu"]) == "running"
    assert "would reap 2, -$0.58/h" in out, out  # ml.t2.medium + g4dn.xlarge


def test_reap_deletes_and_stops_only_the_right_ones(cloud: Any, world: World) -> None:
    expired = cloud.client("sagemaker").describe_endpoint(
        EndpointName=world.name("dev", "expired"))
    assert expired["EndpointStatus"] == "InService", expired.get("FailureReason")
    code, out, err = world.reap("--grace", "0")
    assert code == 0, err
    sm, ec2 = cloud.client("sagemaker"), cloud.client("ec2")
    gone = {n for n in ("expired", "young", "untagged", "optout")
            if not _exists(sm, world.name("dev", n))}
    assert gone == {"expired", "untagged"}, out
    assert _exists(sm, world.name("prod", "expired")), "a protected env was reaped unnamed"
    assert _exists(sm, f"other{world.project}-dev-expired"), "another project's was reaped"
    ids = _ids(world)
    assert _state(ec2, ids["gpu"]) in ("stopping", "stopped")
    assert _state(ec2, ids["cpu"]) == "running", "only GPU instances are stopped"
    assert _state(ec2, ids["stray"]) == "running", "an instance of nobody's was stopped"
    # endpoint configurations and models stay: redeploying is one apply
    for name in ("expired", "untagged"):
        sm.describe_endpoint_config(EndpointConfigName=world.name("dev", name))
        sm.describe_model(ModelName=world.name("dev", name))
    # the hosted endpoint and the GPU instance stop cost; the untagged one had failed
    assert "reaped 3, -$0.58/h" in out, out
    assert "-$0.58/h ≈ -$424.86/month stopped" in world.summary.read_text()


def test_a_protected_env_is_reaped_only_when_named(cloud: Any, world: World) -> None:
    code, out, err = world.reap("--grace", "0")
    assert code == 0, err
    assert _exists(cloud.client("sagemaker"), world.name("prod", "expired")), out
    code, out, err = world.reap("--envs", "prod", "--grace", "0")
    assert code == 0, err
    assert not _exists(cloud.client("sagemaker"), world.name("prod", "expired")), out
    assert "## Cost reaper: prod" in out


def test_max_age_reaps_what_is_older(cloud: Any, world: World) -> None:
    time.sleep(1.1)  # the young endpoint is now older than 1 s
    code, out, err = world.reap("--envs", "dev", "--max-age", "1s", "--grace", "0")
    assert code == 0, err
    sm = cloud.client("sagemaker")
    assert not _exists(sm, world.name("dev", "young")), out
    assert "older than --max-age" in out
    assert _exists(sm, world.name("dev", "optout")), "the opt-out was not honoured"


@pytest.mark.parametrize(("argv", "message"), [
    (["--envs", "qa"], "unknown env 'qa'"),
    (["--max-age", "soon"], "--max-age 'soon' is not a duration"),
    (["--grace=-1h"], "--grace '-1h' is not a duration"),
    (["--envs", "dev,Prod"], "--envs: env name 'Prod' is not lowercase"),
])
def test_bad_input_says_what_and_how_to_fix(empty: World, argv: list[str],
                                            message: str) -> None:
    code, _, err = empty.reap(*argv)
    assert code == 2 and f"error: {message}" in err and "fix:" in err, err


def test_a_negative_cap_is_a_usage_error(empty: World) -> None:
    code, _, err = empty.reap("--cap=-1")
    assert code == 2 and "--cap" in err and "'-1' is negative" in err, err
