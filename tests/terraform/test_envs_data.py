"""Environments as data, end to end on the embedded AWS with real Terraform (plans only).

- A copy of the repository gains `qa` (tier dev) and `prod-eu` (tier prod, eu-west-1)
  through `mlops env add`; both plan against the worker's bootstrapped state bucket. The
  plans are read as Terraform wrote them: the provider region, the data sources Terraform
  read (their ARNs name the region), the tags, and the policy gate's tier allowlist.
- A second AWS account: moto keeps accounts apart by credentials, and credentials from
  sts:AssumeRole into arn:aws:iam::<other>:role/... act in that account
  (moto/sts/models.py `assume_role`: "The ARN can point to another account, providing an
  opportunity to switch accounts"; moto/core/responses.py `get_current_account` looks the
  access key up). prod and prod-eu live there; each account is bootstrapped once, prod is
  planned with that account's credentials, and the wrong credentials are refused.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]

ROOT = Path(__file__).resolve().parents[2]
HOME_ACCOUNT = "333333333333"  # both fresh: the worker's default account has its own bootstrap
OTHER_ACCOUNT = "222222222222"
TRAINER_OFF = "trainer = {\n  enabled = false\n}"
TRAINER_ON = """trainer = {
  enabled       = true
  ami           = "ami-0a1b2c3d4e5f67890"
  instance_type = "g4dn.xlarge"
  ssh_cidrs     = { office = "203.0.113.7/32" }
  stop_cron     = "cron(0 19 * * ? *)"
}"""


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=mlops-tests",
                    "-c", "user.email=tests@example.com", *args],
                   check=True, capture_output=True)


def read_json(path: Path) -> Any:
    assert path.is_file(), f"expected {path}"
    return json.loads(path.read_text())


def flat(text: str) -> str:
    return " ".join(text.split())


def copy_dirs(root: Path, *names: str) -> None:
    """Add bootstrap/ or policies/ of the repository to a repo_copy."""
    for name in names:
        shutil.copytree(ROOT / name, root / name,
                        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))


def unique_keys(root: Path, *envs: str) -> None:
    """Give these envs' state keys a unique prefix: the worker's state bucket is shared."""
    prefix = f"tests/envs-data-{uuid.uuid4().hex[:8]}"
    for env_name in envs:
        backend = root / "envs" / env_name / "backend.tf"
        backend.write_text(backend.read_text().replace('"envs/', f'"{prefix}/envs/'))


def data_sources(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Address -> values of every data source Terraform read while planning."""
    found: dict[str, dict[str, Any]] = {}

    def walk(module: dict[str, Any]) -> None:
        for resource in module.get("resources", []):
            if resource.get("mode") == "data":
                found[resource["address"]] = resource.get("values") or {}
        for child in module.get("child_modules", []):
            walk(child)

    walk(plan.get("prior_state", {}).get("values", {}).get("root_module", {}))
    return found


def managed_tags(plan: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Address -> known tags_all of every resource the plan creates that has tags."""
    return {rc["address"]: rc["change"]["after"]["tags_all"]
            for rc in plan["resource_changes"]
            if rc["mode"] == "managed" and isinstance(
                (rc["change"].get("after") or {}).get("tags_all"), dict)}


def test_qa_and_prod_eu_plan_in_their_regions_with_their_tiers(
        repo_copy: Any, project_env: Any, run_mlops: Any, bootstrapped: Any,
        tmp_path: Path) -> None:
    root = repo_copy(tmp_path / "repo")
    copy_dirs(root, "policies")
    env = project_env(root)
    run_mlops(env, "env", "add", "qa", "--like", "dev").check(0)
    run_mlops(env, "env", "add", "prod-eu", "--like", "prod", "--region", "eu-west-1").check(0)
    unique_keys(root, "qa", "prod-eu")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "qa and prod-eu")
    # A change to both new envs: a GPU trainer in prod-eu (the same instance type as qa's,
    # against another tier) and a cost centre for qa.
    tfvars = root / "envs" / "prod-eu" / "terraform.tfvars"
    assert TRAINER_OFF in tfvars.read_text(), f"{tfvars} changed; update this test"
    tfvars.write_text(tfvars.read_text().replace(TRAINER_OFF, TRAINER_ON))
    qa_tfvars = root / "envs" / "qa" / "terraform.tfvars"
    qa_tfvars.write_text(qa_tfvars.read_text().replace('"ml-experiments"', '"ml-qa"'))
    git(root, "commit", "-q", "-am", "trainer in prod-eu, qa's cost centre")

    listed = json.loads(run_mlops(env, "env", "list", "--json").check(0).stdout)
    assert listed["waves"] == [["dev", "qa"], ["staging"], ["prod", "prod-eu"]], listed

    # Both planned in parallel, each in its own region, in the promotion order.
    out_dir = tmp_path / "plans"
    run = run_mlops(env, "plan", "--changed", "--base", "HEAD~1", "--out", str(out_dir)).check(0)
    assert read_json(out_dir / "changed.json") == {"envs": ["qa", "prod-eu"], "k8s": []}
    assert "planning qa, prod-eu in parallel" in run.stderr, run.stderr
    plans = {e: out_dir / e for e in ("qa", "prod-eu")}

    expected_region = {"qa": "us-east-1", "prod-eu": "eu-west-1"}
    for env_name, out in plans.items():
        plan = read_json(out / "plan.json")
        region = expected_region[env_name]
        variables = {k: v["value"] for k, v in plan["variables"].items()}
        found = (variables["env"], variables["tier"], variables["region"])
        want = (env_name, "dev" if env_name == "qa" else "prod", region)
        assert found == want, f"{env_name} plan variables (env, tier, region): {found} != {want}"
        provider = plan["configuration"]["provider_config"]["aws"]["expressions"]["region"]
        assert provider.get("references") == ["var.region"], (
            f"{env_name}: the provider's region should be var.region; found {provider}")
        # Terraform read the default VPC in the env's region: its ARN says which.
        vpcs = {a: d for a, d in data_sources(plan).items() if a.startswith("data.aws_vpc.")}
        assert [d["arn"].split(":")[3] for d in vpcs.values()] == [region], (
            f"{env_name}: the default VPC Terraform read should be in {region}; found "
            f"{ {a: d.get('arn') for a, d in vpcs.items()} }")
        [identity] = [d for a, d in data_sources(plan).items()
                      if a.endswith("data.aws_caller_identity.current")
                      and a.startswith("module.sagemaker_role")]
        assert identity["account_id"] == "123456789012", identity
        if env_name == "qa":
            assert variables["cost"] == "ml-qa", variables["cost"]
        tags = managed_tags(plan)
        assert tags and all(t.get("env") == env_name for t in tags.values()), (
            f"{env_name}: every planned resource should be tagged env={env_name}; found "
            f"{ {a: t.get('env') for a, t in tags.items() if t.get('env') != env_name} }")
        names = [rc["change"]["after"].get("bucket") for rc in plan["resource_changes"]
                 if rc["type"] == "aws_s3_bucket"]
        assert names == [f"mlops-demo-{env_name}-artifacts"], names
        endpoints = [rc["address"] for rc in plan["resource_changes"]
                     if rc["type"].startswith("aws_sagemaker_endpoint")]
        assert endpoints == [], (
            f"{env_name}: a scaffolded env serves nothing until its first release; "
            f"found {endpoints}")

    # The policy gate checks each plan against its tier's allowlist: g4dn.xlarge is a dev
    # instance type, not a prod one.
    gate_qa = run_mlops(env, "policy", "check", "--env", "qa", str(plans["qa"]))
    assert gate_qa.code == 0, f"qa (tier dev) should pass the gate:\n{gate_qa.describe()}"
    gate_eu = run_mlops(env, "policy", "check", "--env", "prod-eu", str(plans["prod-eu"]))
    assert gate_eu.code == 1, f"prod-eu (tier prod) should fail the gate:\n{gate_eu.describe()}"
    assert ("instance type g4dn.xlarge is not allowed in prod-eu (allowed in the prod tier: "
            in flat(gate_eu.stdout)), gate_eu.stdout
    policy = read_json(plans["prod-eu"] / "policy.json")
    assert {v["rule"] for v in policy["violations"]} == {"instance_types"}, policy

    body = run_mlops(env, "comment", "render", str(plans["prod-eu"]),
                     str(plans["qa"])).check(0).stdout
    assert body.find("### qa") < body.find("### prod-eu"), "sections in promotion order"
    assert "**prod-eu** fails the policy gate" in body


def test_tfvars_that_disagree_with_mlops_yaml_are_refused_before_terraform(
        repo_copy: Any, project_env: Any, run_mlops: Any, tmp_path: Path) -> None:
    root = repo_copy(tmp_path / "repo")
    tfvars = root / "envs" / "staging" / "terraform.tfvars"
    tfvars.write_text(tfvars.read_text().replace('region  = "us-east-1"',
                                                 'region  = "eu-west-1"'))
    out = tmp_path / "plan"
    run = run_mlops(project_env(root), "plan", "--env", "staging", "--out", str(out))
    assert run.code == 2, run.describe()
    message = flat(run.stderr)
    assert ('envs/staging/terraform.tfvars sets region = "eu-west-1", but mlops.yaml says '
            'region = "us-east-1" for env staging') in message, run.stderr
    assert "make them agree" in message
    assert read_json(out / "summary.json")["status"] == "failed"


@pytest.mark.parametrize(("change", "message"), [
    (lambda root: (root / "envs" / "qa").mkdir(), "envs/qa/ is not an env listed in"),
    (lambda root: (root / "mlops.yaml").write_text((root / "mlops.yaml").read_text().replace(
        "  prod: {tier: prod, after: [staging]}\n",
        "  prod: {tier: prod, after: [staging]}\n  qa: {tier: dev}\n")),
     "lists env(s) qa but envs/qa/ is missing"),
    (lambda root: (root / "mlops.yaml").write_text((root / "mlops.yaml").read_text().replace(
        "staging: {tier: staging,", "staging: {tier: test,")),
     "envs.staging: unknown tier 'test'"),
    (lambda root: (root / "mlops.yaml").write_text((root / "mlops.yaml").read_text().replace(
        "dev: {tier: dev}", "dev: {tier: dev, after: [prod]}")),
     "the promotion order has a cycle: dev after prod after staging after dev"),
    (lambda root: (root / "mlops.yaml").write_text((root / "mlops.yaml").read_text().replace(
        "  prod: {tier: prod, after: [staging]}\n",
        "  prod: {tier: prod, after: [staging]}\n  dev: {tier: prod}\n")),
     "found the key 'dev' again"),
], ids=["folder-not-listed", "env-without-folder", "unknown-tier", "cycle", "duplicate"])
def test_bad_env_lists_are_clear_errors_for_every_command(
        change: Any, message: str, repo_copy: Any, project_env: Any, run_mlops: Any,
        tmp_path: Path) -> None:
    root = repo_copy(tmp_path / "repo")
    change(root)
    env = project_env(root)
    for argv in (["plan", "--env", "dev", "--out", str(tmp_path / "p")], ["env", "list"],
                 ["bootstrap"]):
        run = run_mlops(env, *argv)
        assert run.code == 2, run.describe()
        assert message in flat(run.stderr), f"`mlops {argv[0]}`: {message!r} not in\n{run.stderr}"
        assert run.stderr.startswith("error: ") and "Traceback" not in run.stderr, run.stderr
        assert run.stdout == "", run.stdout


# -- a second account ----------------------------------------------------------------------


def account_env(cloud: Any, env: dict[str, str], account: str) -> dict[str, str]:
    """`env` with credentials of `account`: STS AssumeRole into a role ARN of it."""
    creds = cloud.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
        RoleSessionName="mlops-tests")["Credentials"]
    return {**env, "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"]}


def client_for(cloud: Any, env: dict[str, str], service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=cloud.endpoint, region_name="us-east-1",
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                        aws_session_token=env.get("AWS_SESSION_TOKEN"))


def test_prod_in_a_second_account_bootstraps_and_plans_there(
        cloud: Any, repo_copy: Any, project_env: Any, run_mlops: Any, tmp_path: Path) -> None:
    project = f"xacct-{uuid.uuid4().hex[:6]}"
    root = repo_copy(tmp_path / "repo", config=lambda text: text.replace(
        "project: mlops-demo", f"project: {project}").replace(
        "  prod: {tier: prod, after: [staging]}\n",
        f'  prod: {{tier: prod, after: [staging], account: "{OTHER_ACCOUNT}"}}\n'))
    for tfvars in (root / "envs").glob("*/terraform.tfvars"):
        tfvars.write_text(tfvars.read_text().replace("mlops-demo", project))
    copy_dirs(root, "bootstrap")
    home = account_env(cloud, project_env(root), HOME_ACCOUNT)
    other = account_env(cloud, project_env(root), OTHER_ACCOUNT)
    run_mlops(home, "env", "add", "prod-eu", "--like", "prod", "--region", "eu-west-1",
              "--account", OTHER_ACCOUNT).check(0)
    home_account = HOME_ACCOUNT
    for env, account in ((home, HOME_ACCOUNT), (other, OTHER_ACCOUNT)):
        assert client_for(cloud, env, "sts").get_caller_identity()["Account"] == account

    # One bootstrap per account, each making the roles of its own envs only.
    for env, account, envs in ((home, home_account, ["dev", "staging"]),
                               (other, OTHER_ACCOUNT, ["prod", "prod-eu"])):
        run = run_mlops(env, "bootstrap").check(0)
        assert f"account {account}; envs {', '.join(envs)}" in run.stderr, run.stderr
        assert f"state_bucket = {project}-tfstate-{account}" in run.stderr, run.stderr
        assert f"plan_role_arns = {{'{envs[0]}': 'arn:aws:iam::{account}:role/" in run.stderr
        iam = client_for(cloud, env, "iam")
        names = sorted(r["RoleName"] for r in iam.list_roles()["Roles"]
                       if r["RoleName"].startswith(f"{project}-"))
        kinds = ("apply", "drift", "plan", "reaper")  # roles.tf and operations.tf, per env
        assert names == sorted(f"{project}-{e}-{k}" for e in envs for k in kinds), (
            f"account {account}: roles {names}, expected the {'/'.join(kinds)} roles of {envs}")
        s3 = client_for(cloud, env, "s3")
        buckets = [b["Name"] for b in s3.list_buckets()["Buckets"] if project in b["Name"]]
        assert buckets == [f"{project}-tfstate-{account}"], (account, buckets)

    # Role trust in the other account: its own GitHub OIDC provider, the prod environment.
    iam = client_for(cloud, other, "iam")
    trust = iam.get_role(RoleName=f"{project}-prod-apply")["Role"]["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    [statement] = trust["Statement"]
    assert statement["Principal"]["Federated"] == (
        f"arn:aws:iam::{OTHER_ACCOUNT}:oidc-provider/token.actions.githubusercontent.com")
    subject = statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
    assert sorted(subject) == ["repo:example-org/mlops-gitops:environment:prod",
                               "repo:example-org/mlops-gitops:environment:prod-approval"], subject
    # prod's roles may not touch prod-eu's resources, which its name prefix would cover;
    # prod-eu's apply role works in eu-west-1.
    policy = iam.get_role_policy(RoleName=f"{project}-prod-apply", PolicyName="apply")
    document = policy["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    [deny] = [s for s in document["Statement"]
              if s.get("Sid") == "DenyEnvsWhoseNamesExtendThisOne"]
    assert deny["Effect"] == "Deny" and f"arn:aws:s3:::{project}-prod-eu-*" in deny["Resource"]
    eu = iam.get_role_policy(RoleName=f"{project}-prod-eu-apply", PolicyName="apply")
    eu_document = eu["PolicyDocument"]
    eu_text = json.dumps(eu_document)
    assert f"arn:aws:sagemaker:eu-west-1:{OTHER_ACCOUNT}:endpoint/{project}-prod-eu-*" in eu_text
    assert "DenyEnvsWhoseNamesExtendThisOne" not in eu_text

    # prod plans in its account, against that account's state bucket.
    out = tmp_path / "plan-prod"
    run_mlops(other, "plan", "--env", "prod", "--out", str(out)).check(0)
    plan = read_json(out / "plan.json")
    [identity] = [d for a, d in data_sources(plan).items()
                  if a == "module.sagemaker_role.data.aws_caller_identity.current"]
    assert identity["account_id"] == OTHER_ACCOUNT, identity
    backend = read_json(Path(other["MLOPS_STATE_DIR"]) / "tfdata" / "prod" / "terraform.tfstate")
    assert (backend["backend"]["config"]["bucket"], backend["backend"]["config"]["region"]) == (
        f"{project}-tfstate-{OTHER_ACCOUNT}", "us-east-1"), backend["backend"]["config"]

    # The wrong credentials are refused before anything is read, naming account and fix.
    wrong = run_mlops(home, "plan", "--env", "prod", "--out", str(tmp_path / "wrong"))
    assert wrong.code == 2, wrong.describe()
    message = flat(wrong.stderr)
    assert (f"env prod lives in AWS account {OTHER_ACCOUNT} (mlops.yaml), but the credentials "
            f"are for account {home_account}") in message, wrong.stderr
    assert f"use credentials of account {OTHER_ACCOUNT}: in CI, assume the prod plan or " \
        "apply role" in message, wrong.stderr
    backwards = run_mlops(other, "plan", "--env", "dev", "--out", str(tmp_path / "back"))
    assert backwards.code == 2, backwards.describe()
    assert re.search(r"env dev lives in the default account .* names as the account of "
                     r"prod, prod-eu", flat(backwards.stderr)), backwards.stderr
    try:
        client_for(cloud, home, "iam").get_role(RoleName=f"{project}-prod-apply")
    except ClientError as err:
        assert err.response["Error"]["Code"] == "NoSuchEntity"
    else:
        pytest.fail(f"{project}-prod-apply exists in account {home_account}; prod lives in "
                    f"{OTHER_ACCOUNT}")
