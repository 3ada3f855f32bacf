"""`mlops oidc assume` and the trust model, against the embedded GitHub's token endpoint
and the embedded AWS (its STS validates web identity tokens against bootstrap's OIDC
provider and trust policies; S3 holds web-identity sessions to their role's policies:
docs/localcloud.md). The roles are bootstrap/'s, applied by real Terraform."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops.adapters import aws
from mlops.adapters.oidc import WebIdentity
from mlops.localcloud.github import FakeGitHub

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]

REPO = "example-org/mlops-gitops"


@pytest.fixture
def hub() -> Iterator[FakeGitHub]:
    with FakeGitHub(repos={REPO}, pulls=set()) as fake:
        fake.oidc.repository = REPO
        yield fake


def job_env(bootstrapped: Any, hub: FakeGitHub, tmp_path: Path, name: str = "env") -> dict[str,
                                                                                          str]:
    env = {k: v for k, v in bootstrapped.env.items()
           if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    return {**env, **hub.actions_env(REPO), "GITHUB_ENV": str(tmp_path / f"{name}.github_env"),
            "GITHUB_RUN_ID": "777", "GITHUB_RUN_ATTEMPT": "2"}


def exported(env: dict[str, str]) -> dict[str, str]:
    path = Path(env["GITHUB_ENV"])
    lines = path.read_text().splitlines() if path.exists() else []
    return dict(line.split("=", 1) for line in lines)


def as_pull_request(hub: FakeGitHub) -> None:
    hub.oidc.event_name, hub.oidc.ref, hub.oidc.environment = (
        "pull_request", "refs/pull/7/merge", None)


def as_push_to_main(hub: FakeGitHub) -> None:
    hub.oidc.event_name, hub.oidc.ref, hub.oidc.environment = "push", "refs/heads/main", None


def as_environment(hub: FakeGitHub, name: str) -> None:
    hub.oidc.event_name, hub.oidc.ref, hub.oidc.environment = "push", "refs/heads/main", name


def s3_as(cloud: Any, creds: dict[str, str]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=cloud.endpoint, region_name="us-east-1",
                        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
                        aws_session_token=creds["AWS_SESSION_TOKEN"],
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


def test_assume_masks_first_exports_credentials_and_prints_no_secret(
        bootstrapped: Any, hub: FakeGitHub, run_mlops: Any, cloud: Any, tmp_path: Path) -> None:
    as_pull_request(hub)
    env = job_env(bootstrapped, hub, tmp_path)
    role = bootstrapped.outputs["plan_role_arns"]["dev"]
    run = run_mlops(env, "oidc", "assume", "--role-arn", role).check(0)
    creds = exported(env)
    secrets = [creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"],
               creds["AWS_SESSION_TOKEN"]]
    lines = run.stdout.splitlines()
    assert lines[:3] == [f"::add-mask::{s}" for s in secrets], (
        f"the three masks must come first on stdout; found:\n{run.stdout}")
    rest = "\n".join(lines[3:]) + run.stderr
    assert not any(s in rest for s in secrets), "a credential was printed outside its mask"
    assert lines[3] == "assumed arn:aws:sts::123456789012:assumed-role/mlops-demo-dev-plan/" \
                       "mlops-gitops-777-2", lines
    assert lines[4].startswith("expires ") and len(lines) == 5, lines
    assert {k: creds[k] for k in ("AWS_REGION", "MLOPS_OIDC_ROLE_ARN", "MLOPS_OIDC_AUDIENCE")} == {
        "AWS_REGION": "us-east-1", "MLOPS_OIDC_ROLE_ARN": role,
        "MLOPS_OIDC_AUDIENCE": "sts.amazonaws.com"}
    [request] = hub.token_requests
    assert (request.audience, request.bearer) == ("sts.amazonaws.com", hub.oidc_request_token)
    assert request.token not in run.stdout + run.stderr
    import boto3  # the session works against the cloud

    sts = boto3.client("sts", endpoint_url=cloud.endpoint, region_name="us-east-1",
                       aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
                       aws_session_token=creds["AWS_SESSION_TOKEN"])
    assert sts.get_caller_identity()["Arn"].endswith(":assumed-role/mlops-demo-dev-plan/"
                                                     "mlops-gitops-777-2")


def test_throttled_token_endpoint_is_retried_then_succeeds(
        bootstrapped: Any, hub: FakeGitHub, run_mlops: Any, tmp_path: Path) -> None:
    as_pull_request(hub)
    hub.inject("GET", r"^/_services/token$", 429, "API rate limit exceeded", times=1)
    hub.inject("GET", r"^/_services/token$", 503, times=1)
    env = job_env(bootstrapped, hub, tmp_path)
    run_mlops(env, "oidc", "assume", "--role-arn",
              bootstrapped.outputs["plan_role_arns"]["dev"]).check(0)
    assert len(hub.calls("GET", "/_services/token")) == 3
    assert exported(env)["AWS_SESSION_TOKEN"]


def test_access_denied_prints_the_trust_claims_never_the_token(
        bootstrapped: Any, hub: FakeGitHub, run_mlops: Any, tmp_path: Path) -> None:
    as_pull_request(hub)
    env = job_env(bootstrapped, hub, tmp_path)
    role = bootstrapped.outputs["apply_role_arns"]["prod"]
    run = run_mlops(env, "oidc", "assume", "--role-arn", role)
    assert run.code == 2, run.describe()
    message = run.stderr
    for wanted in (f"refused to let this job assume {role} (AccessDenied)",
                   "Not authorized to perform sts:AssumeRoleWithWebIdentity",
                   "iss: https://token.actions.githubusercontent.com",
                   "aud: sts.amazonaws.com", f"sub: repo:{REPO}:pull_request",
                   f"repository: {REPO}", "ref: refs/pull/7/merge", "job_workflow_ref: ",
                   "must match this token's `aud` and `sub`"):
        assert wanted in message, f"{wanted!r} not in:\n{message}"
    assert hub.token_requests[-1].token not in message + run.stdout
    assert not exported(env), "nothing is exported when the assumption fails"


@pytest.mark.parametrize(("argv", "env_drop", "message"), [
    ([], ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
     "permissions: id-token: write"),
    (["--allowed-account-ids", "111111111111,222222222222"], (),
     "account 123456789012 is not in --allowed-account-ids"),
    (["--duration", "60"], (), "--duration 60 is out of range"),
    (["--session-name", "a b"], (), "is not a valid role session name"),
], ids=["no-id-token-permission", "wrong-account", "duration", "session-name"])
def test_clear_errors_before_any_request(argv: list[str], env_drop: tuple[str, ...],
                                         message: str, bootstrapped: Any, hub: FakeGitHub,
                                         run_mlops: Any, tmp_path: Path) -> None:
    env = {k: v for k, v in job_env(bootstrapped, hub, tmp_path).items() if k not in env_drop}
    run = run_mlops(env, "oidc", "assume", "--role-arn",
                    bootstrapped.outputs["plan_role_arns"]["dev"], *argv)
    assert run.code == 2 and message in " ".join(run.stderr.split()), run.describe()
    assert hub.token_requests == [], "refused before asking GitHub for a token"


# Who may assume what: (how the job runs, role) -> allowed?
TRUST = [
    ("pull_request", "plan", "dev", True),
    ("pull_request", "apply", "dev", False),
    ("pull_request", "apply", "prod", False),
    ("push main", "apply", "dev", True),
    ("push main", "apply", "staging", True),
    ("push main", "apply", "prod", False),
    ("push main", "plan", "dev", False),
    ("environment prod", "apply", "prod", True),
    ("environment dev", "apply", "prod", False),
    ("environment dev", "apply", "dev", True),
]


def test_trust_policies_decide_who_may_assume_what(
        bootstrapped: Any, hub: FakeGitHub, tmp_path: Path) -> None:
    found = []
    for how, kind, env_name, _ in TRUST:
        if how == "pull_request":
            as_pull_request(hub)
        elif how == "push main":
            as_push_to_main(hub)
        else:
            as_environment(hub, how.split()[1])
        identity = WebIdentity(env=job_env(bootstrapped, hub, tmp_path),
                               role_arn=bootstrapped.outputs[f"{kind}_role_arns"][env_name],
                               sleep=lambda _: None)
        try:
            identity.assume()
            found.append((how, kind, env_name, True))
        except Exception as err:  # OidcError
            assert "AccessDenied" in str(err), err
            found.append((how, kind, env_name, False))
    assert found == TRUST


def test_plan_roles_read_state_and_write_only_the_lock(
        bootstrapped: Any, hub: FakeGitHub, run_mlops: Any, cloud: Any, tmp_path: Path) -> None:
    bucket, root_s3 = bootstrapped.state_bucket, cloud.client("s3")
    state, lock = "envs/dev/terraform.tfstate", "envs/dev/terraform.tfstate.tflock"
    saved: dict[str, bytes | None] = {}
    for key in (state, "envs/prod/terraform.tfstate"):
        try:
            saved[key] = root_s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError:
            saved[key] = None
            root_s3.put_object(Bucket=bucket, Key=key, Body=b'{"version": 4, "serial": 1}')

    def creds(how: str, role: str) -> dict[str, str]:
        (as_pull_request if how == "pr" else as_push_to_main)(hub)
        env = job_env(bootstrapped, hub, tmp_path, name=f"{how}-{role.rsplit('/', 1)[-1]}")
        run_mlops(env, "oidc", "assume", "--role-arn", role).check(0)
        return exported(env)

    def outcome(call: Any) -> str:
        try:
            call()
            return "allowed"
        except ClientError as err:
            return str(err.response["Error"]["Code"])

    try:
        plan = s3_as(cloud, creds("pr", bootstrapped.outputs["plan_role_arns"]["dev"]))
        apply = s3_as(cloud, creds("push", bootstrapped.outputs["apply_role_arns"]["dev"]))
        checks = {
            "plan reads dev state": lambda: plan.get_object(Bucket=bucket, Key=state),
            "plan lists dev": lambda: plan.list_objects_v2(Bucket=bucket, Prefix="envs/dev/"),
            "plan takes the lock": lambda: plan.put_object(Bucket=bucket, Key=lock, Body=b"{}",
                                                           IfNoneMatch="*"),
            "plan releases the lock": lambda: plan.delete_object(Bucket=bucket, Key=lock),
            "plan writes dev state": lambda: plan.put_object(Bucket=bucket, Key=state, Body=b"x"),
            "plan deletes dev state": lambda: plan.delete_object(Bucket=bucket, Key=state),
            "plan reads prod state": lambda: plan.get_object(
                Bucket=bucket, Key="envs/prod/terraform.tfstate"),
            "plan lists prod": lambda: plan.list_objects_v2(Bucket=bucket, Prefix="envs/prod/"),
            "plan writes a record": lambda: plan.put_object(
                Bucket=bucket, Key="deployments/dev/x.json", Body=b"{}"),
            "apply writes dev state": lambda: apply.put_object(
                Bucket=bucket, Key=state, Body=saved[state] or b'{"version": 4, "serial": 1}'),
            "apply writes a record": lambda: apply.put_object(
                Bucket=bucket, Key="deployments/dev/records/test.json", Body=b"{}"),
            "apply deletes dev state": lambda: apply.delete_object(Bucket=bucket, Key=state),
            "apply writes prod state": lambda: apply.put_object(
                Bucket=bucket, Key="envs/prod/terraform.tfstate", Body=b"x"),
        }
        found = {name: outcome(call) for name, call in checks.items()}
        expected = {
            "plan reads dev state": "allowed", "plan lists dev": "allowed",
            "plan takes the lock": "allowed", "plan releases the lock": "allowed",
            "plan writes dev state": "AccessDenied", "plan deletes dev state": "AccessDenied",
            "plan reads prod state": "AccessDenied", "plan lists prod": "AccessDenied",
            "plan writes a record": "AccessDenied",
            "apply writes dev state": "allowed", "apply writes a record": "allowed",
            "apply deletes dev state": "AccessDenied", "apply writes prod state": "AccessDenied",
        }
        assert found == expected, "\n".join(
            f"{k}: found {found[k]}, expected {expected[k]}" for k in expected
            if found[k] != expected[k])
        # The root (dummy) credentials are never evaluated: the embedded AWS stays usable.
        root_s3.head_object(Bucket=bucket, Key=state)
    finally:
        root_s3.delete_object(Bucket=bucket, Key="deployments/dev/records/test.json")
        for key, body in saved.items():
            if body is None:
                root_s3.delete_object(Bucket=bucket, Key=key)
            else:
                root_s3.put_object(Bucket=bucket, Key=key, Body=body)


def test_an_expired_session_is_renewed_through_oidc(
        bootstrapped: Any, hub: FakeGitHub, run_mlops: Any, cloud: Any, tmp_path: Path) -> None:
    """A long in-process command (the canary) keeps working past its session's expiry: the
    session starts from what `mlops oidc assume` exported and, once that has expired,
    botocore's refreshable credentials request a new GitHub token and assume again."""
    as_push_to_main(hub)
    env = job_env(bootstrapped, hub, tmp_path)
    role = bootstrapped.outputs["apply_role_arns"]["dev"]
    run_mlops(env, "oidc", "assume", "--role-arn", role).check(0)
    step = {**env, **exported(env)}  # what the job's next step sees
    assert aws.refreshable(step)
    fresh = aws.oidc_session(step)
    assert fresh.get_credentials().get_frozen_credentials().access_key == \
        step["AWS_ACCESS_KEY_ID"], "a valid session starts from the exported credentials"
    assert len(hub.token_requests) == 1, "and asks GitHub for nothing"

    an_hour_later = {**step, "MLOPS_OIDC_EXPIRATION":
                     (datetime.now(UTC) - timedelta(minutes=1)).isoformat()}
    session = aws.oidc_session(an_hour_later)
    renewed = session.get_credentials().get_frozen_credentials()
    assert renewed.access_key != step["AWS_ACCESS_KEY_ID"], "the expired session was renewed"
    assert len(hub.token_requests) == 2, "the renewal requested a new GitHub token"
    arn = session.client("sts", endpoint_url=cloud.endpoint).get_caller_identity()["Arn"]
    assert arn.endswith(":assumed-role/mlops-demo-dev-apply/mlops-gitops-777-2"), arn
    # What a Terraform run started by such a command gets: renewed, then reused.
    for_terraform = aws.fresh_credentials_env(an_hour_later)
    assert for_terraform["AWS_ACCESS_KEY_ID"] not in (step["AWS_ACCESS_KEY_ID"], "")
    assert aws.fresh_credentials_env(an_hour_later) == for_terraform
    assert len(hub.token_requests) == 3
