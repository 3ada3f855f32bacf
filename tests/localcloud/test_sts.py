"""STS AssumeRoleWithWebIdentity validates the token like AWS (extensions/sts.py), and S3
holds web-identity sessions to their role's policies (extensions/iam_sessions.py).
Tokens come from the embedded GitHub's OIDC endpoint; AWS's documented errors are the
oracle (quoted in the extensions' docstrings)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from mlops.localcloud.github import FakeGitHub

pytestmark = pytest.mark.cloud

HOST = "token.actions.githubusercontent.com"
ACCOUNT = "123456789012"


@pytest.fixture
def hub() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture(scope="module")
def provider_arn(cloud: Any) -> Iterator[str]:
    """GitHub's OIDC provider in the session's cloud, for this module only: left behind, it
    would make a later bootstrap's CreateOpenIDConnectProvider fail (EntityAlreadyExists),
    as it would in a real account."""
    iam = cloud.client("iam")
    arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
    created = arn not in [p["Arn"] for p in iam.list_open_id_connect_providers()[
        "OpenIDConnectProviderList"]]
    if created:
        iam.create_open_id_connect_provider(
            Url=f"https://{HOST}", ClientIDList=["sts.amazonaws.com"],
            ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"])
    yield arn
    if created:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


def make_role(cloud: Any, name: str, provider: str, sub: str, *, like: bool = False,
              max_duration: int = 3600) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
        "Principal": {"Federated": provider},
        "Condition": {"StringEquals": {f"{HOST}:aud": "sts.amazonaws.com"},
                      ("StringLike" if like else "StringEquals"): {f"{HOST}:sub": sub}}}]}
    role = cloud.client("iam").create_role(RoleName=name,
                                           AssumeRolePolicyDocument=json.dumps(trust),
                                           MaxSessionDuration=max_duration)["Role"]
    return str(role["Arn"])


def token(hub: FakeGitHub, audience: str = "sts.amazonaws.com") -> str:
    resp = requests.get(hub.token_url + f"&audience={audience}", timeout=5,
                        headers={"Authorization": f"bearer {hub.oidc_request_token}"})
    value: str = resp.json()["value"]
    return value


def assume(cloud: Any, role_arn: str, jwt: str, duration: int = 3600) -> dict[str, Any]:
    sts = boto3.client("sts", endpoint_url=cloud.endpoint, region_name="us-east-1",
                       config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
    out: dict[str, Any] = sts.assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="tst", WebIdentityToken=jwt, DurationSeconds=duration)
    return out


def error(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return (str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"]),
            str(response["Error"]["Message"]))


def test_a_matching_token_assumes_the_role(cloud: Any, hub: FakeGitHub, provider_arn: str,
                                           unique_name: str) -> None:
    role = make_role(cloud, unique_name, provider_arn, "repo:acme/ml-infra:ref:refs/heads/main")
    out = assume(cloud, role, token(hub))
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{unique_name}/tst"


def test_string_like_on_sub_is_evaluated(cloud: Any, hub: FakeGitHub, provider_arn: str,
                                         unique_name: str) -> None:
    role = make_role(cloud, unique_name, provider_arn, "repo:acme/ml-infra:environment:*",
                     like=True)
    hub.oidc.environment = "staging"
    assume(cloud, role, token(hub))
    hub.oidc.environment = None
    assert error(lambda: assume(cloud, role, token(hub)))[:2] == ("AccessDenied", 403)


def test_a_subject_the_trust_policy_does_not_name_is_access_denied(
        cloud: Any, hub: FakeGitHub, provider_arn: str, unique_name: str) -> None:
    role = make_role(cloud, unique_name, provider_arn, "repo:acme/ml-infra:environment:prod")
    hub.oidc.event_name = "pull_request"
    assert error(lambda: assume(cloud, role, token(hub))) == (
        "AccessDenied", 403, "Not authorized to perform sts:AssumeRoleWithWebIdentity")


def test_an_audience_the_provider_does_not_list_is_an_invalid_token(
        cloud: Any, hub: FakeGitHub, provider_arn: str, unique_name: str) -> None:
    role = make_role(cloud, unique_name, provider_arn, "repo:acme/ml-infra:ref:refs/heads/main")
    assert error(lambda: assume(cloud, role, token(hub, "https://github.com/acme"))) == (
        "InvalidIdentityToken", 400, "Incorrect token audience")


def test_an_unknown_issuer_or_garbage_is_an_invalid_token(
        cloud: Any, hub: FakeGitHub, provider_arn: str, unique_name: str) -> None:
    role = make_role(cloud, unique_name, provider_arn, "repo:acme/ml-infra:ref:refs/heads/main")
    hub.oidc.extra = {"iss": "https://gitlab.example.com"}
    code, status, message = error(lambda: assume(cloud, role, token(hub)))
    assert (code, status) == ("InvalidIdentityToken", 400)
    assert message == "No OpenIDConnect provider found in your account for " \
                      "https://gitlab.example.com"
    assert error(lambda: assume(cloud, role, "not-a-jwt"))[0] == "InvalidIdentityToken"


def test_an_expired_token_is_refused(cloud: Any, hub: FakeGitHub, provider_arn: str,
                                     unique_name: str) -> None:
    role = make_role(cloud, unique_name, provider_arn, "repo:acme/ml-infra:ref:refs/heads/main")
    hub.oidc.lifetime = -1
    code, _, message = error(lambda: assume(cloud, role, token(hub)))
    assert code == "ExpiredTokenException"
    assert message.startswith("The web identity token that was passed is expired")


def test_duration_beyond_the_roles_maximum_is_refused(
        cloud: Any, hub: FakeGitHub, provider_arn: str, unique_name: str) -> None:
    role = make_role(cloud, unique_name, provider_arn, "repo:acme/ml-infra:ref:refs/heads/main")
    code, _, message = error(lambda: assume(cloud, role, token(hub), duration=7200))
    assert (code, message) == ("ValidationError", "The requested DurationSeconds exceeds the "
                                                  "MaxSessionDuration set for this role.")


def test_s3_holds_web_identity_sessions_to_their_role_policy(
        cloud: Any, hub: FakeGitHub, provider_arn: str, unique_name: str) -> None:
    role = make_role(cloud, unique_name, provider_arn, "repo:acme/ml-infra:ref:refs/heads/main")
    bucket = unique_name
    root = cloud.client("s3")
    root.create_bucket(Bucket=bucket)
    root.put_object(Bucket=bucket, Key="open/a", Body=b"a")
    root.put_object(Bucket=bucket, Key="closed/b", Body=b"b")
    iam = cloud.client("iam")
    iam.put_role_policy(RoleName=unique_name, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{bucket}/open/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
             "Condition": {"StringLike": {"s3:prefix": "open/*"}}},
            {"Effect": "Deny", "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{bucket}/open/secret"}]}))
    root.put_object(Bucket=bucket, Key="open/secret", Body=b"s")
    creds = assume(cloud, role, token(hub))["Credentials"]
    s3 = boto3.client("s3", endpoint_url=cloud.endpoint, region_name="us-east-1",
                      aws_access_key_id=creds["AccessKeyId"],
                      aws_secret_access_key=creds["SecretAccessKey"],
                      aws_session_token=creds["SessionToken"],
                      config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    assert s3.get_object(Bucket=bucket, Key="open/a")["Body"].read() == b"a"
    assert s3.list_objects_v2(Bucket=bucket, Prefix="open/")["KeyCount"] == 2
    for call in (lambda: s3.get_object(Bucket=bucket, Key="closed/b"),
                 lambda: s3.get_object(Bucket=bucket, Key="open/secret"),  # explicit deny
                 lambda: s3.put_object(Bucket=bucket, Key="open/new", Body=b"x"),
                 lambda: s3.list_objects_v2(Bucket=bucket, Prefix="closed/")):
        assert error(call)[:2] == ("AccessDenied", 403)
    root.put_object(Bucket=bucket, Key="closed/c", Body=b"c")  # root keys: not evaluated


def test_head_bucket_is_checked_as_list_bucket(cloud: Any, hub: FakeGitHub, provider_arn: str,
                                               unique_name: str) -> None:
    """HeadBucket: "To use this operation, you must have permissions to perform the
    s3:ListBucket action" (Amazon S3 API Reference). There is no s3:HeadBucket action: a
    role allowed s3:ListBucket on the bucket may HEAD it (what the AWS provider does after
    CreateBucket), one whose ListBucket is limited to a prefix may not."""
    role = make_role(cloud, unique_name, provider_arn, "repo:acme/ml-infra:ref:refs/heads/main")
    allowed, prefixed = f"{unique_name}-a", f"{unique_name}-b"
    root = cloud.client("s3")
    for name in (allowed, prefixed):
        root.create_bucket(Bucket=name)
    cloud.client("iam").put_role_policy(RoleName=unique_name, PolicyName="p",
                                        PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{allowed}"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{prefixed}",
             "Condition": {"StringLike": {"s3:prefix": "envs/dev/*"}}}]}))
    creds = assume(cloud, role, token(hub))["Credentials"]
    s3 = boto3.client("s3", endpoint_url=cloud.endpoint, region_name="us-east-1",
                      aws_access_key_id=creds["AccessKeyId"],
                      aws_secret_access_key=creds["SecretAccessKey"],
                      aws_session_token=creds["SessionToken"],
                      config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    assert s3.head_bucket(Bucket=allowed)["ResponseMetadata"]["HTTPStatusCode"] == 200
    status = error(lambda: s3.head_bucket(Bucket=prefixed))[1]
    assert status == 403
