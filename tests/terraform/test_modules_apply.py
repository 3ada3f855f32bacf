"""Apply tests of every module, with pytest-terraform (the terratest-style harness: a
fixture applies a root, the test checks what was really made, teardown destroys it).

Each module's fixture root (fixtures/<module>/, the same roots the plan tests use) is
applied against an embedded AWS of its own (fixed names never collide with the env roots'
apply tests), the resources are read back with boto3, and pytest-terraform destroys them.
Terraform runs in a copy of modules/ and fixtures/ (`--tf-mod-dir`), so the checkout stays
clean; `mlops test modules` runs these for the modules a change touches.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_terraform import terraform, tf

from mlops.adapters.terraform import prepare
from mlops.localcloud import control
from mlops.settings import Settings

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
_SCRUBBED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
             "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
             "TF_LOG")


class ModuleCloud:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.env["AWS_ENDPOINT_URL"],
                            region_name=control.REGION,
                            aws_access_key_id=control.DUMMY_ACCESS_KEY_ID,
                            aws_secret_access_key=control.DUMMY_SECRET_ACCESS_KEY)


@pytest.fixture(scope="session")
def module_cloud(tmp_path_factory: pytest.TempPathFactory,
                 cloud: Any) -> Iterator[ModuleCloud]:
    """An embedded AWS for the module applies."""
    state = tmp_path_factory.mktemp("module-cloud")
    base = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    base.update({"MLOPS_ROOT": str(ROOT), "MLOPS_STATE_DIR": str(state),
                 # the worker's provider cache: no second copy of the AWS provider
                 "TF_PLUGIN_CACHE_DIR": str(Path(cloud.env["MLOPS_STATE_DIR"]) / "plugin-cache")})
    paths = control.CloudPaths.under(state)
    info = control.start(paths, control.free_port(), base)
    try:
        env = prepare(Settings.from_env(base), {**base, **control.client_env(info)})
        yield ModuleCloud(env)
    finally:
        control.stop(paths)


@pytest.fixture(scope="session")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """modules/ and the fixture roots copied, laid out like the repository (the roots'
    `../../../../modules/...` sources resolve), and given to pytest-terraform as its module
    directory (what --tf-mod-dir sets)."""
    work = tmp_path_factory.mktemp("tf-apply")
    ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*",
                                    "tf_resources.json")
    shutil.copytree(ROOT / "modules", work / "modules", ignore=ignore)
    target = work / "tests" / "terraform" / "fixtures"
    shutil.copytree(FIXTURES, target, ignore=ignore)
    tf.LazyModuleDir.value = str(target)
    return target


@pytest.fixture(autouse=True)
def terraform_environment(module_cloud: ModuleCloud, module_dir: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-terraform runs terraform with this process's environment: point it at the
    embedded AWS and mlops' CLI config (provider mirror + cache). Autouse fixtures run
    before the terraform fixtures a test asks for."""
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
                 "AWS_SECRET_ACCESS_KEY", "TF_CLI_CONFIG_FILE", "TF_PLUGIN_CACHE_DIR"):
        monkeypatch.setenv(name, module_cloud.env[name])


def _tags(tags: list[dict[str, str]] | dict[str, str]) -> dict[str, str]:
    if isinstance(tags, dict):
        return tags
    return {t["Key"]: t["Value"] for t in tags}


REQUIRED = {"env": "dev", "owner": "ml-platform", "cost": "ml", "project": "mlops-demo"}


@pytest.fixture
def model_artifacts(module_cloud: ModuleCloud, train_model: Any) -> Iterator[None]:
    """What the endpoint's fixture root references but does not make: the trained models
    its releases point at (the embedded SageMaker hosts them; a missing one fails the
    endpoint, as on AWS). Asked for before the terraform fixture, so they exist before the
    apply and outlive the destroy."""
    from mlops.core.model import artifact_metadata

    s3 = module_cloud.client("s3")
    bucket = "mlops-demo-fixture-artifacts"
    s3.create_bucket(Bucket=bucket)
    keys = ("models/v1/model.tar.gz", "models/v2/model.tar.gz")
    for seed, key in enumerate(keys, start=1):
        trained = train_model(seed)
        provenance = json.loads((trained.dir / "provenance.json").read_text())
        s3.upload_file(str(trained.archive), bucket, key,
                       ExtraArgs={"Metadata": artifact_metadata(provenance)})
    yield
    for key in keys:
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)


@terraform("ml_bucket")
def test_ml_bucket_applies(ml_bucket: Any, module_cloud: ModuleCloud) -> None:
    s3 = module_cloud.client("s3")
    name = ml_bucket.outputs["name"]["value"]
    assert name == "mlops-demo-dev-artifacts"
    assert s3.get_bucket_versioning(Bucket=name).get("Status") == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256",
                                                                              "aws:kms")
    block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4, block
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    assert any("NoncurrentVersionExpiration" in r for r in lifecycle), lifecycle
    assert REQUIRED.items() <= _tags(s3.get_bucket_tagging(Bucket=name)["TagSet"]).items()


@terraform("ecr_repository")
def test_ecr_repository_applies(ecr_repository: Any, module_cloud: ModuleCloud) -> None:
    ecr = module_cloud.client("ecr")
    name = ecr_repository.outputs["name"]["value"]
    [repo] = ecr.describe_repositories(repositoryNames=[name])["repositories"]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    policy = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
    counts = [r["selection"].get("countNumber") for r in policy["rules"]]
    assert 20 in counts, policy
    tags = _tags(ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"])
    assert REQUIRED.items() <= tags.items()


@terraform("sagemaker_execution_role")
def test_sagemaker_execution_role_applies(sagemaker_execution_role: Any,
                                          module_cloud: ModuleCloud) -> None:
    iam = module_cloud.client("iam")
    name = sagemaker_execution_role.outputs["name"]["value"]
    role = iam.get_role(RoleName=name)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    principals = [s["Principal"].get("Service") for s in trust["Statement"]]
    assert principals == ["sagemaker.amazonaws.com"], trust
    resources = []
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
        doc = json.loads(doc) if isinstance(doc, str) else doc
        for statement in doc["Statement"]:
            found = statement.get("Resource", [])
            resources += found if isinstance(found, list) else [found]
    s3 = sorted(r for r in resources if r.startswith("arn:aws:s3:::"))
    assert s3 == ["arn:aws:s3:::mlops-demo-dev-artifacts",
                  "arn:aws:s3:::mlops-demo-dev-artifacts/data-capture/*",
                  "arn:aws:s3:::mlops-demo-dev-artifacts/models/*"], s3  # the bucket only


@terraform("sagemaker_endpoint")
def test_sagemaker_endpoint_applies(model_artifacts: None, sagemaker_endpoint: Any,
                                    module_cloud: ModuleCloud) -> None:
    sm, cw = module_cloud.client("sagemaker"), module_cloud.client("cloudwatch")
    outputs = {k: v["value"] for k, v in sagemaker_endpoint.outputs.items()}
    endpoint = sm.describe_endpoint(EndpointName=outputs["endpoint_name"])
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == outputs["endpoint_config_name"]
    # every release's config is kept, so rolling back is an endpoint update
    for config in dict(outputs["endpoint_config_names"]).values():
        sm.describe_endpoint_config(EndpointConfigName=config)
    variants = {v["VariantName"] for v in endpoint["ProductionVariants"]}
    assert variants == {"stable", "canary"}, variants
    tags = _tags(sm.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"])
    assert REQUIRED.items() <= tags.items() and tags.get("ttl_hours") == "8", tags
    # variant -> {kind: alarm name}
    alarms = sorted(name for kinds in outputs["alarm_names"].values()
                    for name in kinds.values())
    assert len(alarms) == 4, outputs["alarm_names"]  # 5xx and latency per variant
    found = {a["AlarmName"] for a in cw.describe_alarms(AlarmNames=alarms)["MetricAlarms"]}
    assert found == set(alarms), (found, alarms)


@terraform("gpu_trainer")
def test_gpu_trainer_applies(gpu_trainer: Any, module_cloud: ModuleCloud) -> None:
    ec2 = module_cloud.client("ec2")
    outputs = {k: v["value"] for k, v in gpu_trainer.outputs.items()}
    [reservation] = ec2.describe_instances(InstanceIds=[outputs["instance_id"]])["Reservations"]
    [instance] = reservation["Instances"]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"  # IMDSv2 only
    assert REQUIRED.items() <= _tags(instance["Tags"]).items()
    [group] = ec2.describe_security_groups(
        GroupIds=[outputs["security_group_id"]])["SecurityGroups"]
    ingress = [(p.get("FromPort"), r["CidrIp"]) for p in group["IpPermissions"]
               for r in p.get("IpRanges", [])]
    assert ingress == [(22, "203.0.113.7/32")], ingress  # SSH only from the given CIDR
    schedule = module_cloud.client("scheduler").get_schedule(
        Name=outputs["stop_schedule_arn"].rsplit("/", 1)[-1])
    assert schedule["ScheduleExpression"] == "cron(0 20 * * ? *)"


@terraform("cost_guardrails")
def test_cost_guardrails_applies(cost_guardrails: Any, module_cloud: ModuleCloud) -> None:
    account = module_cloud.client("sts").get_caller_identity()["Account"]
    budget = module_cloud.client("budgets").describe_budget(
        AccountId=account, BudgetName=cost_guardrails.outputs["name"]["value"])["Budget"]
    assert float(budget["BudgetLimit"]["Amount"]) == 50.0
    assert budget["TimeUnit"] == "MONTHLY"
