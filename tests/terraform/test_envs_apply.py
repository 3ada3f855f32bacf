"""Apply tests: bootstrap/ and every env root, through the real `mlops` CLI, against the
embedded AWS (one per xdist worker, bootstrapped once per worker by `bootstrapped`).

Per env: `mlops plan` (adds only) -> `mlops apply --plan DIR` -> the resources and outputs
are what the tfvars ask for and the state object is in the state bucket -> a second plan
changes nothing (zero drift) -> `mlops destroy --confirm` leaves nothing behind. The
checked-in tfvars serve nothing (first release through Git); dev also gets a real drift plan
(a tag put out of band) and its first release: `mlops artifact push` of a trained model,
serving enabled in a copy (same state), applied, invoked for real predictions and metrics,
re-planned with zero drift, then a replacement plan by a fault-injected artifact; no model
server survives the destroy.
Then locking, a missing state bucket, and bad inputs that must fail with a clear message.

Applies are slow (the AWS provider waits ~55 s after creating an S3 lifecycle configuration,
against real S3 as well), so each env is applied exactly once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from mlops import context
from mlops.core.config import load_yaml, parse_config
from mlops.core.envs import approval_environment

ROOT = Path(__file__).resolve().parents[2]
OIDC = "token.actions.githubusercontent.com"
CONFIG = yaml.safe_load((ROOT / "mlops.yaml").read_text())
# Every env of mlops.yaml, in promotion order: a new env's root is held to the same checks.
SPECS = parse_config(load_yaml((ROOT / "mlops.yaml").read_text()))
ENVS = SPECS.envs
PROJECT = CONFIG["project"]
ZERO = {"add": 0, "change": 0, "destroy": 0, "replace": 0, "import": 0, "move": 0,
        "forget": 0, "outputs": 0, "drift": 0}


def read_json(path: Path) -> Any:
    assert path.is_file(), (
        f"expected {path.name} in {path.parent}; found "
        f"{sorted(p.name for p in path.parent.iterdir()) if path.parent.is_dir() else 'no dir'}")
    return json.loads(path.read_text())


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


# -- pure file checks ------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", [e for e in ENVS if e != "dev"])
@pytest.mark.parametrize("name", ["main.tf", "variables.tf", "outputs.tf", "versions.tf"])
def test_env_roots_share_their_code(env_name: str, name: str) -> None:
    dev, other = ROOT / "envs" / "dev" / name, ROOT / "envs" / env_name / name
    assert other.read_bytes() == dev.read_bytes(), (
        f"envs/{env_name}/{name} differs from envs/dev/{name}: envs must differ only in "
        "terraform.tfvars and the state key (copy envs/dev/{name} over it)")


@pytest.mark.parametrize("env_name", ENVS)
def test_env_backends_differ_only_in_the_state_key(env_name: str) -> None:
    dev = (ROOT / "envs" / "dev" / "backend.tf").read_text()
    found = (ROOT / "envs" / env_name / "backend.tf").read_text()
    expected = dev.replace('"envs/dev/terraform.tfstate"', f'"envs/{env_name}/terraform.tfstate"')
    assert f'"envs/{env_name}/terraform.tfstate"' in expected, "envs/dev/backend.tf has no key"
    assert found == expected, (
        f"envs/{env_name}/backend.tf should equal envs/dev/backend.tf with the key "
        f"envs/{env_name}/terraform.tfstate; found:\n{found}\nexpected:\n{expected}")


# -- bootstrap -------------------------------------------------------------------------------


@pytest.mark.terraform
@pytest.mark.cloud
def test_bootstrap_creates_the_state_bucket_and_oidc_roles(bootstrapped: Any,
                                                           cloud: Any) -> None:
    out = bootstrapped.outputs
    account = cloud.client("sts").get_caller_identity()["Account"]
    assert out["state_bucket"] == f"{PROJECT}-tfstate-{account}", (
        f"state_bucket output: found {out['state_bucket']!r}, "
        f"expected {PROJECT}-tfstate-{account}")
    for kind in ("plan_role_arns", "apply_role_arns"):
        assert sorted(out[kind]) == sorted(CONFIG["envs"]), (
            f"{kind}: found envs {sorted(out[kind])}, expected {sorted(CONFIG['envs'])}")

    iam = cloud.client("iam")
    providers = [p["Arn"] for p in
                 iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    assert out["oidc_provider_arn"] in providers, (
        f"OIDC provider {out['oidc_provider_arn']} not found; providers: {providers}")
    repo = CONFIG["github_repo"]
    for env_name in CONFIG["envs"]:
        # Apply roles trust the env's GitHub environment and, unless the env is protected
        # (mlops.yaml; prod by its tier), a push to main (apply on merge); plan roles only
        # pull requests.
        # `<env>-approval` too: where a held apply is approved (main.yml).
        apply_subs = [f"repo:{repo}:environment:{env_name}",
                      f"repo:{repo}:environment:{approval_environment(env_name)}"]
        if not SPECS.env(env_name).protected:
            apply_subs.append(f"repo:{repo}:ref:refs/heads/main")
        for kind, subs in (("apply", apply_subs), ("plan", [f"repo:{repo}:pull_request"])):
            name = f"{PROJECT}-{env_name}-{kind}"
            role = iam.get_role(RoleName=name)["Role"]
            assert role["Arn"] == out[f"{kind}_role_arns"][env_name], (
                f"{name}: found ARN {role['Arn']}, expected the output "
                f"{out[f'{kind}_role_arns'][env_name]}")
            doc = role["AssumeRolePolicyDocument"]
            doc = json.loads(doc) if isinstance(doc, str) else doc
            [statement] = doc["Statement"]
            found = {
                "Effect": statement.get("Effect"),
                "Action": _listify(statement.get("Action")),
                "Federated": _listify(statement.get("Principal", {}).get("Federated")),
                "StringEquals": {k: sorted(_listify(v)) for k, v in
                                 statement.get("Condition", {}).get("StringEquals", {}).items()},
                "other conditions": sorted(set(statement.get("Condition", {})) - {"StringEquals"}),
            }
            expected = {
                "Effect": "Allow",
                "Action": ["sts:AssumeRoleWithWebIdentity"],
                "Federated": [out["oidc_provider_arn"]],
                "StringEquals": {f"{OIDC}:aud": ["sts.amazonaws.com"], f"{OIDC}:sub": sorted(subs)},
                "other conditions": [],
            }
            assert found == expected, (
                f"trust policy of {name}: found {found}, expected {expected}")

    s3, bucket = cloud.client("s3"), bootstrapped.state_bucket
    versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    assert versioning == "Enabled", f"{bucket} versioning: found {versioning!r}, expected Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    algorithms = [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules]
    assert algorithms == ["AES256"], f"{bucket} encryption: found {algorithms}, expected AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4, (
        f"{bucket} public access block: found {block}, expected all four settings true")
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    [deny] = policy["Statement"]
    found_deny = (deny["Effect"], _listify(deny["Action"]), sorted(_listify(deny["Resource"])),
                  deny.get("Condition"))
    arns = sorted([f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"])
    expected_deny = ("Deny", ["s3:*"], arns, {"Bool": {"aws:SecureTransport": "false"}})
    assert found_deny == expected_deny, (
        f"{bucket} policy: found {found_deny}, expected the TLS-only deny {expected_deny}")


# -- each env: plan, apply, outputs, zero drift, destroy --------------------------------------


def _outputs(env: dict[str, str], env_name: str) -> dict[str, Any]:
    """`terraform output -json` of the env root, through the adapter and its data dir."""
    ctx = context.load(env)
    tf = ctx.terraform(ctx.env_root(env_name), env_name)
    return {name: out["value"] for name, out in tf.outputs().items()}


def _assert_applied(cloud: Any, env_name: str, variables: dict[str, Any],
                    outputs: dict[str, Any]) -> None:
    """The resources in the cloud are what envs/<env>/terraform.tfvars asks for (read back
    from the plan's `variables`)."""
    where = f"envs/{env_name}"
    s3 = cloud.client("s3")
    bucket = outputs["artifact_bucket"]
    assert bucket == f"{PROJECT}-{env_name}-artifacts", (
        f"{where}: artifact_bucket output found {bucket!r}, "
        f"expected {PROJECT}-{env_name}-artifacts")
    status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    assert status == "Enabled", f"{bucket} versioning: found {status!r}, expected Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    sse = [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules]
    assert sse == ["AES256"], f"{bucket} encryption: found {sse}, expected ['AES256']"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert len(block) == 4 and all(block.values()), (
        f"{bucket} public access block: found {block}, expected all four true")
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    by_id = {r["ID"]: r for r in lifecycle}
    assert sorted(by_id) == ["abort-incomplete-multipart", "noncurrent-versions"], (
        f"{bucket} lifecycle rules: found {sorted(by_id)}, "
        "expected abort-incomplete-multipart and noncurrent-versions")
    transitions = by_id["noncurrent-versions"]["NoncurrentVersionTransitions"]
    days = [t["NoncurrentDays"] for t in transitions]
    want_days = variables["artifacts"]["noncurrent_to_ia_days"]
    assert days == [want_days], (
        f"{bucket} noncurrent transition days: found {days}, expected [{want_days}]")

    ecr = cloud.client("ecr")
    repo_name = f"{PROJECT}-{env_name}-model-server"
    [repo] = ecr.describe_repositories(repositoryNames=[repo_name])["repositories"]
    assert outputs["model_image_repository_url"] == repo["repositoryUri"], (
        f"model_image_repository_url: found {outputs['model_image_repository_url']}, "
        f"expected {repo['repositoryUri']}")
    found_repo = (repo["imageTagMutability"], repo["imageScanningConfiguration"]["scanOnPush"])
    assert found_repo == ("IMMUTABLE", True), (
        f"{repo_name}: found (tag mutability, scan on push) {found_repo}, "
        "expected ('IMMUTABLE', True)")

    serving = variables["serving"]
    if serving["enabled"]:
        _assert_serving(cloud, where, serving, outputs)
    else:  # first release through Git: nothing serves until a model is released
        assert outputs.get("endpoint") is None, (
            f"{where}: serving is disabled but the endpoint output is {outputs.get('endpoint')}")

    budgets = cloud.client("budgets")
    account = cloud.client("sts").get_caller_identity()["Account"]
    budget = budgets.describe_budget(AccountId=account, BudgetName=outputs["budget_name"])["Budget"]
    limit = float(budget["BudgetLimit"]["Amount"])
    assert limit == float(variables["budget"]["monthly_limit_usd"]), (
        f"budget {outputs['budget_name']}: found limit {limit}, "
        f"expected {variables['budget']['monthly_limit_usd']}")

    trainer = variables["trainer"]
    if not trainer["enabled"]:  # `terraform output -json` leaves null outputs out
        assert outputs.get("trainer") is None, (
            f"trainer output: found {outputs.get('trainer')}, expected null")
        return
    ec2 = cloud.client("ec2")
    instance_id = outputs["trainer"]["instance_id"]
    [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    [instance] = reservation["Instances"]
    tokens = instance["MetadataOptions"]["HttpTokens"]
    assert tokens == "required", (
        f"trainer {instance_id} IMDS http_tokens: found {tokens}, expected required")
    assert instance["InstanceType"] == trainer["instance_type"], (
        f"trainer type: found {instance['InstanceType']}, expected {trainer['instance_type']}")
    group_id = outputs["trainer"]["security_group_id"]
    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    ingress = sorted((p.get("IpProtocol"), p.get("FromPort"), p.get("ToPort"), r["CidrIp"])
                     for p in group["IpPermissions"] for r in p.get("IpRanges", []))
    ingress += sorted((p.get("IpProtocol"), p.get("FromPort"), p.get("ToPort"), r["CidrIpv6"])
                      for p in group["IpPermissions"] for r in p.get("Ipv6Ranges", []))
    expected_ingress = sorted(("tcp", 22, 22, cidr) for cidr in trainer["ssh_cidrs"].values())
    assert ingress == expected_ingress, (
        f"trainer security group {group_id} ingress: found {ingress}, expected SSH only from "
        f"{where}/terraform.tfvars ssh_cidrs: {expected_ingress}")


def _assert_serving(cloud: Any, where: str, serving: dict[str, Any],
                    outputs: dict[str, Any]) -> None:
    """The endpoint, its config and variants are what the tfvars' active release asks for."""
    sagemaker = cloud.client("sagemaker")
    endpoint_name = outputs["endpoint"]["name"]
    endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    assert endpoint["EndpointStatus"] == "InService", (
        f"endpoint {endpoint_name}: found {endpoint['EndpointStatus']}, expected InService")
    assert endpoint["EndpointConfigName"] == outputs["endpoint"]["config_name"], (
        f"endpoint {endpoint_name} config: found {endpoint['EndpointConfigName']}, "
        f"expected the output {outputs['endpoint']['config_name']}")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    release = serving["releases"][serving["active_release"]]
    found_variants = {v["VariantName"]: (v["InstanceType"], v["InitialInstanceCount"])
                      for v in config["ProductionVariants"]}
    expected_variants = {name: (spec.get("instance_type") or "ml.t2.medium",
                                spec.get("instance_count") or 1)
                         for name, spec in release.items()}
    assert found_variants == expected_variants, (
        f"endpoint config {config['EndpointConfigName']} variants (type, count): "
        f"found {found_variants}, expected {expected_variants} from {where}/terraform.tfvars")
    capture = config.get("DataCaptureConfig", {}).get("InitialSamplingPercentage")
    assert capture == serving["data_capture_percentage"], (
        f"endpoint config data capture %: found {capture}, "
        f"expected {serving['data_capture_percentage']}")



def _state(cloud: Any, bucket: str, env_name: str) -> dict[str, Any]:
    key = f"envs/{env_name}/terraform.tfstate"
    try:
        body = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        pytest.fail(f"state object s3://{bucket}/{key}: found {_error_code(err)}, "
                    "expected it to exist")
    state: dict[str, Any] = json.loads(body)
    return state


def _inventory(cloud: Any, env_name: str, instance_id: str | None = None) -> set[str]:
    """Everything in the cloud named like the env's resources (`<project>-<env>-...`),
    described; bootstrap's plan/apply roles excepted. Other tests on this worker's cloud
    may own such names too, so callers compare with the inventory before the apply.
    (Filtered here: moto ignores NameContains on some list calls.)"""
    prefix = f"{PROJECT}-{env_name}-"
    left: list[str] = []
    s3 = cloud.client("s3")
    left += [f"bucket {b['Name']}" for b in s3.list_buckets()["Buckets"]
             if b["Name"].startswith(prefix)]
    sagemaker = cloud.client("sagemaker")
    left += [f"endpoint {e['EndpointName']}" for e in
             sagemaker.list_endpoints(NameContains=prefix)["Endpoints"]
             if e["EndpointName"].startswith(prefix)]
    left += [f"endpoint config {c['EndpointConfigName']}" for c in
             sagemaker.list_endpoint_configs(NameContains=prefix)["EndpointConfigs"]
             if c["EndpointConfigName"].startswith(prefix)]
    left += [f"model {m['ModelName']}" for m in
             sagemaker.list_models(NameContains=prefix)["Models"]
             if m["ModelName"].startswith(prefix)]
    left += [f"ECR repository {r['repositoryName']}" for r in
             cloud.client("ecr").describe_repositories()["repositories"]
             if r["repositoryName"].startswith(prefix)]
    iam = cloud.client("iam")
    bootstrap_roles = {f"{prefix}plan", f"{prefix}apply"}
    left += [f"IAM role {r['RoleName']}" for r in iam.list_roles()["Roles"]
             if r["RoleName"].startswith(prefix) and r["RoleName"] not in bootstrap_roles]
    left += [f"instance profile {p['InstanceProfileName']}" for p in
             iam.list_instance_profiles()["InstanceProfiles"]
             if p["InstanceProfileName"].startswith(prefix)]
    left += [f"alarm {a['AlarmName']}" for a in
             cloud.client("cloudwatch").describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
             if a["AlarmName"].startswith(prefix)]
    left += [f"schedule {s['Name']}" for s in
             cloud.client("scheduler").list_schedules(NamePrefix=prefix)["Schedules"]
             if s["Name"].startswith(prefix)]
    account = cloud.client("sts").get_caller_identity()["Account"]
    try:
        budgets = cloud.client("budgets").describe_budgets(AccountId=account).get("Budgets", [])
    except ClientError as err:
        if _error_code(err) != "NotFoundException":
            raise
        budgets = []
    left += [f"budget {b['BudgetName']}" for b in budgets if b["BudgetName"].startswith(prefix)]
    ec2 = cloud.client("ec2")
    left += [f"security group {g['GroupName']}" for g in
             ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"].startswith(prefix)]
    if instance_id:
        states = [i["State"]["Name"] for r in
                  ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
                  for i in r["Instances"]]
        left += [f"instance {instance_id} ({s})" for s in states if s != "terminated"]
    return set(left)


def _render(run_mlops: Any, env: dict[str, str], *plan_dirs: Path) -> str:
    return run_mlops(env, "comment", "render", *map(str, plan_dirs)).check(0).stdout


IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-demo-dev-model-server:0.1.0"


def _enable_serving(copy: Path, env_name: str, releases: dict[str, str], active: str) -> None:
    """Turn serving on in a copy's tfvars with one stable variant per release (what a
    release PR does): `releases` maps release -> the S3 URI `mlops artifact push` printed."""
    tfvars = copy / "envs" / env_name / "terraform.tfvars"
    text = tfvars.read_text()
    assert "  enabled                 = false\n" in text, (
        f"{tfvars}: the serving block changed shape; update this test")
    body = "".join(
        f'    {name} = {{ stable = {{ image = "{IMAGE}", model_data_url = "{uri}" }} }}\n'
        for name, uri in releases.items())
    tfvars.write_text(text.replace(
        "  enabled                 = false\n",
        f"  enabled                 = true\n  releases = {{\n{body}  }}\n"
        f'  active_release = "{active}"\n', 1))


def _serve_a_release(run_mlops: Any, repo_copy: Any, project_env: Any, cloud: Any,
                     env: dict[str, str], train_model: Any, processes: Any,
                     tmp_path: Path) -> set[int]:
    """The first release of dev, through the real commands: push a trained model to the
    applied env's bucket (twice: a no-op), enable serving with it in a copy of the repo
    (same state), apply, get the model's own predictions and metrics back from the hosted
    endpoint, re-plan with zero drift, then plan a fault-injected replacement and check
    the plan and the policy gate see its provenance. Returns the model-server pids."""
    v1, faulty = train_model(1), train_model(3, "error-rate=0.5")
    pushed = run_mlops(env, "artifact", "push", str(v1.dir), "--env", "dev").check(0)
    uri = f"s3://{PROJECT}-dev-artifacts/models/{v1.sha256}/model.tar.gz"
    assert pushed.stdout.strip() == uri, f"push should print {uri}:\n{pushed.describe()}"
    bucket = f"{PROJECT}-dev-artifacts"  # the output just read; later pushes name it
    again = run_mlops(env, "artifact", "push", str(v1.dir), "--env", "dev", "--bucket",
                      bucket).check(0)
    assert again.stdout.strip() == uri and "already pushed" in again.stderr, again.describe()

    copy = repo_copy(tmp_path / "repo-serving")
    _enable_serving(copy, "dev", {"v1": uri}, "v1")
    copy_env = project_env(copy)
    cloud_pid = processes.pid(cloud)
    before = set(processes.children(cloud_pid))
    # No pull request here: applying the release directly is the dispatch path.
    run_mlops(copy_env, "apply", "--env", "dev", "--allow-unreviewed").check(0)
    outputs = _outputs(copy_env, "dev")
    variables = {"serving": {"releases": {"v1": {"stable": {}}}, "active_release": "v1",
                             "data_capture_percentage": 20}}
    _assert_serving(cloud, "envs/dev (serving copy)", variables["serving"], outputs)
    servers = set(processes.children(cloud_pid)) - before
    assert len(servers) == 1, f"one model server for the stable variant, found {servers}"

    endpoint = outputs["endpoint"]["name"]
    from mlops.adapters import training
    from model_server import artifact

    rows = training.holdout_rows("breast_cancer")[:10]
    answer = cloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint, Body=json.dumps({"instances": rows}),
        ContentType="application/json")
    expected = artifact.load(artifact.read_archive(v1.archive.read_bytes())).estimator.predict(
        rows).tolist()
    assert json.loads(answer["Body"].read()) == {"predictions": expected}, (
        "the hosted endpoint must answer with the released model's own predictions")
    traffic = run_mlops(copy_env, "traffic", "--env", "dev", "--rps", "10", "--duration", "2",
                        "--json").check(0)
    report = json.loads(traffic.stdout)
    assert report["endpoint"] == endpoint and report["success_rate"] == 1.0, report
    assert report["variants"]["stable"]["requests"] == 20, report
    points = cloud.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName="Invocations", StartTime=time.time() - 600,
        EndTime=time.time() + 60, Period=3600, Statistics=["Sum"],
        Dimensions=[{"Name": "EndpointName", "Value": endpoint},
                    {"Name": "VariantName", "Value": "stable"}])["Datapoints"]
    assert [p["Sum"] for p in points] == [21.0], f"Invocations in CloudWatch: {points}"
    alarms = outputs["endpoint"]["alarm_names"]["stable"]
    found = cloud.client("cloudwatch").describe_alarms(
        AlarmNames=[alarms["errors_5xx"], alarms["latency"]])["MetricAlarms"]
    assert {a["AlarmName"]: a["StateValue"] for a in found} == {
        alarms["errors_5xx"]: "OK", alarms["latency"]: "OK"}, found

    replan = tmp_path / "plan-serving-replan"
    run_mlops(copy_env, "plan", "--env", "dev", "--out", str(replan)).check(0)
    found_counts = {k: read_json(replan / "summary.json")["counts"][k] for k in ZERO}
    assert found_counts == ZERO, (
        f"plan right after the release apply: found {found_counts}, expected no changes "
        f"(alarms with metric math, model tags, endpoint):\n{(replan / 'plan.txt').read_text()}")

    _replacement_plan(run_mlops, repo_copy, project_env, env, bucket, faulty, tmp_path)
    return servers


def _replacement_plan(run_mlops: Any, repo_copy: Any, project_env: Any, env: dict[str, str],
                      bucket: str, faulty: Any, tmp_path: Path) -> None:
    """A new model artifact (a fault-injected build) for release v1, planned from another
    copy with the same state: the model and endpoint config are replaced, the endpoint
    updated in place; the comment warns about the replacements first; the model carries
    the artifact's fault tag, which the gate refuses in the prod tier."""
    uri = run_mlops(env, "artifact", "push", str(faulty.dir), "--env", "dev", "--bucket",
                    bucket).check(0)
    copy = repo_copy(tmp_path / "repo-new-model")
    _enable_serving(copy, "dev", {"v1": uri.stdout.strip()}, "v1")
    out = tmp_path / "plan-replace"
    run_mlops(project_env(copy), "plan", "--env", "dev", "--out", str(out)).check(0)
    summary = read_json(out / "summary.json")
    actions = {r["address"]: r["action"] for r in summary["resources"]}
    model = 'module.endpoint[0].aws_sagemaker_model.this["v1/stable"]'
    config = 'module.endpoint[0].aws_sagemaker_endpoint_configuration.this["v1"]'
    endpoint = "module.endpoint[0].aws_sagemaker_endpoint.this"
    found = {a: actions.get(a) for a in (model, config, endpoint)}
    expected = {model: "replace", config: "replace", endpoint: "update"}
    assert found == expected, f"new model artifact plan: found {found}, expected {expected}"
    counts = summary["counts"]
    assert (counts["replace"], counts["add"], counts["destroy"]) == (2, 0, 0), (
        f"new model artifact plan counts: found {counts}, expected 2 replacements, "
        "no adds or destroys (a replacement is never counted as add + destroy)")
    body = _render(run_mlops, project_env(copy), out)
    warning = body.find("> [!WARNING]")
    section = body.find("### dev")
    assert 0 <= warning < section, (
        f"comment for a replacement: expected a [!WARNING] before the dev section; "
        f"found warning at {warning}, section at {section}:\n{body[:3000]}")
    assert "**dev** replaces 2 resources" in body, (
        f"comment should say '**dev** replaces 2 resources'; found:\n{body[:3000]}")

    plan = read_json(out / "plan.json")
    [change] = [rc for rc in plan["resource_changes"] if rc["address"] == model]
    assert change["change"]["after"]["tags"]["artifact_fault"] == "error-rate=0.5", (
        "the model should carry the pushed artifact's fault (S3 metadata, read at plan time)")
    run_mlops(project_env(copy), "policy", "check", "--env", "dev", "--policy-dir",
              str(ROOT / "policies"), str(out)).check(0)
    from mlops.adapters import rego
    from mlops.core import policy

    policies = rego.PolicySet.from_dir(ROOT / "policies")
    # The same real plan, judged as the prod tier would judge it.
    data = policy.build_data(policies.data, "dev", (), tier="prod", protected=True)
    refused = policy.parse_violations(rego.evaluate(policies, data, plan, policy.QUERY))
    # dev's ml.t2.medium is not on the prod tier's allowlist either: only the artifact
    # rule is under test here.
    assert [(v.rule, v.address) for v in refused if v.rule == "artifacts"] == [
        ("artifacts", model)], refused


def _drift_plan(run_mlops: Any, cloud: Any, env: dict[str, str], bucket: str,
                tmp_path: Path) -> None:
    """A tag put on the artifact bucket out of band: the next plan updates the bucket to
    remove it. Nothing the plan changes reads the bucket's tags, so Terraform does not list
    the bucket under "Objects have changed outside of Terraform" (its relevant_attributes
    rule), and neither do the summary and the comment. The oracle is Terraform's own text
    of the plan (plan.txt). (tests/terraform/test_plan_corpus.py has drift Terraform does
    show, and checks every case against `terraform show`.)"""
    s3 = cloud.client("s3")
    tags = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={
        "TagSet": [*tags, {"Key": "changed-by", "Value": "someone-in-the-console"}]})
    out = tmp_path / "plan-drift"
    run_mlops(env, "plan", "--env", "dev", "--out", str(out)).check(0)
    summary = read_json(out / "summary.json")
    address = "module.artifacts.aws_s3_bucket.this"
    plan_text = (out / "plan.txt").read_text()
    assert "changed-by" in plan_text, f"plan.txt should show the tag being removed:\n{plan_text}"
    shown = "Objects have changed outside of Terraform" in plan_text
    drift = {d["address"]: d["action"] for d in summary["drift"]}
    assert bool(drift) == shown and summary["counts"]["drift"] == len(drift), (
        f"drift after tagging {bucket} by hand: the summary has {drift}, Terraform "
        f"{'shows' if shown else 'does not show'} drift:\n{plan_text[:3000]}")
    assert not shown, "nothing reads the tags: Terraform should not call this drift relevant"
    actions = {r["address"]: r["action"] for r in summary["resources"]}
    assert actions.get(address) == "update", (
        f"plan after drift: found {address} -> {actions.get(address)}, expected update "
        f"(to remove the hand-made tag); all: {actions}")
    body = _render(run_mlops, env, out)
    assert address in body and "changed outside of Terraform" not in body, (
        f"the comment should list the update, and no drift Terraform does not show; "
        f"found:\n{body[:4000]}")


@pytest.mark.terraform
@pytest.mark.cloud
@pytest.mark.slow
@pytest.mark.parametrize("env_name", ENVS)
def test_env_applies_with_zero_drift_and_destroys_cleanly(
        env_name: str, bootstrapped: Any, cloud: Any, project_env: Any, run_mlops: Any,
        repo_copy: Any, train_model: Any, processes: Any, tmp_path: Path) -> None:
    env = bootstrapped.env
    first = tmp_path / "plan"
    run_mlops(env, "plan", "--env", env_name, "--out", str(first)).check(0)
    summary = read_json(first / "summary.json")
    counts = summary["counts"]
    assert summary["status"] == "ok" and counts["add"] > 0 and all(
        counts[k] == 0 for k in ("change", "destroy", "replace")), (
        f"first plan of {env_name}: found status {summary['status']}, counts {counts}; "
        "expected only adds")
    variables = {k: v["value"] for k, v in read_json(first / "plan.json")["variables"].items()}

    before = _inventory(cloud, env_name)
    instance_id: str | None = None
    servers: set[int] = set()
    try:
        # No pull request here: applying a local plan is the unreviewed (dispatch) path.
        run_mlops(env, "apply", "--env", env_name, "--plan", str(first),
                  "--allow-unreviewed").check(0)
        outputs = _outputs(env, env_name)
        instance_id = (outputs.get("trainer") or {}).get("instance_id")
        _assert_applied(cloud, env_name, variables, outputs)

        state = _state(cloud, bootstrapped.state_bucket, env_name)
        managed = [r for r in state["resources"] if r["mode"] == "managed"]
        assert len(managed) >= counts["add"] // 2, (
            f"state envs/{env_name}/terraform.tfstate: found {len(managed)} managed resource "
            f"blocks after applying {counts['add']} adds")

        second = tmp_path / "replan"
        run_mlops(env, "plan", "--env", env_name, "--out", str(second)).check(0)
        again = read_json(second / "summary.json")
        found = {k: again["counts"][k] for k in ZERO}
        assert again["status"] == "ok" and found == ZERO, (
            f"second plan of {env_name} right after apply: found {found}, expected no changes "
            f"and no drift:\n{(second / 'plan.txt').read_text()[-4000:]}")

        if env_name == "dev":
            _drift_plan(run_mlops, cloud, env, outputs["artifact_bucket"], tmp_path)
            servers = _serve_a_release(run_mlops, repo_copy, project_env, cloud, env,
                                       train_model, processes, tmp_path)
    finally:
        destroyed = run_mlops(env, "destroy", "--env", env_name, "--confirm", env_name,
                              "--allow-protected")
    destroyed.check(0)
    orphans = [pid for pid in servers if processes.alive(pid)]
    assert not orphans, f"model servers still running after the destroy: {orphans}"
    left = sorted(_inventory(cloud, env_name, instance_id) - before)
    assert not left, (f"after `mlops destroy --env {env_name} --confirm {env_name}` found {left}, "
                      "expected nothing")
    remaining = _state(cloud, bootstrapped.state_bucket, env_name)["resources"]
    assert remaining == [], (
        f"state envs/{env_name}/terraform.tfstate after destroy: found "
        f"{[r.get('type') + '.' + r.get('name') for r in remaining]}, expected no resources")


# -- locking ---------------------------------------------------------------------------------


@pytest.mark.terraform
@pytest.mark.cloud
def test_plan_refuses_while_another_run_holds_the_lock(bootstrapped: Any, cloud: Any,
                                                       run_mlops: Any, tmp_path: Path) -> None:
    s3, bucket = cloud.client("s3"), bootstrapped.state_bucket
    key = "envs/dev/terraform.tfstate"
    lock_id = "6e3f2d59-0b9a-4c7e-9d51-7a1c2b3d4e5f"
    lock_info = {"ID": lock_id, "Operation": "OperationTypeApply", "Info": "",
                 "Who": "runner@ci-apply-dev", "Version": "1.11.4",
                 "Created": "2025-01-01T00:00:00.000000Z", "Path": f"{bucket}/{key}"}
    s3.put_object(Bucket=bucket, Key=f"{key}.tflock", Body=json.dumps(lock_info).encode())
    try:
        locked = run_mlops(bootstrapped.env, "plan", "--env", "dev", "--out",
                           str(tmp_path / "locked"))
        assert locked.code != 0, (
            f"plan while dev is locked should fail; found:\n{locked.describe()}")
        message = " ".join(locked.stderr.split())
        for wanted in ("state lock", lock_id, "runner@ci-apply-dev"):
            assert wanted in message, (
                f"the locked-plan error should mention {wanted!r}; found:\n{locked.stderr}")
        assert "locked by another run" in message and "force-unlock" in message, (
            f"the locked-plan error should say another run holds the lock and how to release "
            f"a stale one; found:\n{locked.stderr}")
        failed = read_json(tmp_path / "locked" / "summary.json")
        assert failed["status"] == "failed" and lock_id in failed["error"], (
            f"summary.json of the locked plan: found status {failed['status']!r}, error "
            f"{failed['error'][:500]!r}; expected failed, naming the lock")
        still = s3.head_object(Bucket=bucket, Key=f"{key}.tflock")
        assert still["ContentLength"] > 0, "mlops must not remove another run's lock"
    finally:
        s3.delete_object(Bucket=bucket, Key=f"{key}.tflock")
    unlocked = run_mlops(bootstrapped.env, "plan", "--env", "dev", "--out",
                         str(tmp_path / "unlocked"))
    unlocked.check(0)
    assert read_json(tmp_path / "unlocked" / "summary.json")["status"] == "ok"


# -- bad inputs ------------------------------------------------------------------------------


@pytest.mark.terraform
@pytest.mark.cloud
@pytest.mark.parametrize("command", [
    ["plan", "--env", "dev"],
    ["apply", "--env", "dev"],
    ["destroy", "--env", "dev", "--confirm", "dev"],
], ids=["plan", "apply", "destroy"])
def test_missing_state_bucket_says_to_apply_bootstrap_first(
        command: list[str], cloud: Any, project_env: Any, run_mlops: Any, repo_copy: Any,
        tmp_path: Path) -> None:
    """A project whose state bucket was never created (mlops.yaml renamed in a copy)."""
    root = repo_copy(tmp_path / "repo", config=lambda text: text.replace(
        f"project: {PROJECT}", "project: never-bootstrapped"))
    out = tmp_path / "plan"
    argv = [*command, "--out", str(out)] if command[0] == "plan" else command
    run = run_mlops(project_env(root), *argv)
    account = cloud.client("sts").get_caller_identity()["Account"]
    bucket = f"never-bootstrapped-tfstate-{account}"
    assert run.code == 2, f"expected exit 2, found:\n{run.describe()}"
    message = " ".join(run.stderr.split())
    for wanted in (f"the state bucket {bucket} does not exist", "apply bootstrap/ first",
                   "mlops bootstrap"):
        assert wanted in message, f"expected {wanted!r} in the error; found:\n{run.stderr}"
    if command[0] == "plan":
        failed = read_json(out / "summary.json")
        assert failed["status"] == "failed" and "apply bootstrap/ first" in failed["error"], (
            f"summary.json: found {failed}, expected a failed plan saying to bootstrap first")


# dev, staging and prod (a protected env, by its tier): small_project lists exactly these.
SMALL_ROOTS = {env_name: {"main.tf": 'resource "terraform_data" "marker" {\n  input = "x"\n}\n'}
               for env_name in ("dev", "staging", "prod")}


@pytest.mark.terraform
@pytest.mark.cloud
@pytest.mark.parametrize(("argv", "message"), [
    (["plan", "--env", "qa"], "unknown env 'qa'"),
    (["apply", "--env", "qa"], "unknown env 'qa'"),
    # --yes is gone: the env name must be repeated, and prod also needs --allow-protected.
    (["destroy", "--env", "dev"], "refusing to destroy dev: --confirm must repeat the env"),
    (["destroy", "--env", "dev", "--confirm", "staging"], "(got 'staging')"),
    (["destroy", "--env", "prod", "--confirm", "prod"],
     "refusing to destroy prod: it is a protected env"),
    (["plan", "--changed"], "--changed needs --base"),
    (["apply", "--env", "dev", "--plan", "{tmp}/empty"], "no plan.tfplan in"),
    (["apply", "--env", "staging", "--plan", "{tmp}/dev-plan"],
     "is a plan of dev, not of staging"),
], ids=["plan-unknown-env", "apply-unknown-env", "destroy-without-confirm",
        "destroy-confirm-mismatch", "destroy-protected", "changed-without-base",
        "apply-dir-without-plan", "apply-plan-of-another-env"])
def test_bad_command_input_fails_with_a_clear_message(
        argv: list[str], message: str, bootstrapped: Any, project_env: Any, run_mlops: Any,
        small_project: Any, tmp_path: Path) -> None:
    root = small_project(tmp_path / "proj", SMALL_ROOTS)
    env = project_env(root)
    (tmp_path / "empty").mkdir()
    if "{tmp}/dev-plan" in argv:
        run_mlops(env, "plan", "--env", "dev", "--out", str(tmp_path / "dev-plan")).check(0)
    run = run_mlops(env, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert run.code == 2, f"expected exit 2, found:\n{run.describe()}"
    assert message in " ".join(run.stderr.split()), (
        f"expected {message!r} on stderr; found:\n{run.describe()}")
    assert not run.stdout.strip(), f"errors go to stderr; found on stdout:\n{run.stdout}"
