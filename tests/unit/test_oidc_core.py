"""core/oidc.py and core/iampolicy.py on literal inputs."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from mlops.core import actions, iampolicy, oidc


def jwt(claims: dict[str, Any]) -> str:
    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJSUzI1NiJ9.{part}.c2ln"


@pytest.mark.parametrize(("repo", "run", "attempt", "expected"), [
    ("acme/ml-infra", "4242", "1", "ml-infra-4242-1"),
    ("", "", "", "GitHubActions"),
    ("acme/weird repo!", "7", "2", "weird-repo--7-2"),
    ("acme/" + "x" * 80, "123456789", "3", "x" * 52 + "-123456789-3"),
])
def test_session_name_is_sanitised_to_stss_constraint(repo: str, run: str, attempt: str,
                                                      expected: str) -> None:
    name = oidc.session_name(repo, run, attempt)
    assert name == expected and oidc.valid_session_name(name)


@pytest.mark.parametrize(("url", "expected"), [
    ("https://x/_apis/idtoken?api-version=2.0", "https://x/_apis/idtoken?api-version=2.0"
                                                "&audience=sts.amazonaws.com"),
    ("https://x/token", "https://x/token?audience=sts.amazonaws.com"),
])
def test_token_url_appends_the_audience(url: str, expected: str) -> None:
    assert oidc.token_url(url, "sts.amazonaws.com") == expected


def test_claims_are_read_and_only_the_trust_ones_are_shown() -> None:
    token = jwt({"iss": "https://token.actions.githubusercontent.com", "aud": "sts.amazonaws.com",
                 "sub": "repo:a/b:pull_request", "repository": "a/b", "actor": "octocat",
                 "exp": 100})
    shown = oidc.trust_claims(oidc.claims(token))
    assert shown == {"iss": "https://token.actions.githubusercontent.com",
                     "aud": "sts.amazonaws.com", "sub": "repo:a/b:pull_request",
                     "repository": "a/b"}
    assert oidc.claims("garbage") == {} and oidc.claims("a.!!!.c") == {}
    assert oidc.token_expired(oidc.claims(token), now=50) is True  # within the margin
    assert oidc.token_expired({"exp": 1000}, now=50) is False


@pytest.mark.parametrize(("code", "status", "expected"), [
    ("Throttling", 400, True), ("IDPCommunicationError", 400, True), ("", 503, True),
    ("", 429, True), ("ExpiredTokenException", 400, True), ("AccessDenied", 403, False),
    ("InvalidIdentityToken", 400, False), ("ValidationError", 400, False),
])
def test_what_is_retried(code: str, status: int, expected: bool) -> None:
    assert oidc.retryable(code, status) is expected


def test_backoff_is_jittered_exponential_and_capped() -> None:
    assert [oidc.backoff(n, 1.0) for n in (1, 2, 3)] == [0.2, 0.4, 0.8]
    assert oidc.backoff(3, 0.5) == 0.4 and oidc.backoff(30, 1.0) == oidc.MAX_DELAY


def test_role_arns_and_accounts() -> None:
    assert oidc.parse_role_arn("arn:aws:iam::123456789012:role/x/y-plan").account == \
        "123456789012"
    for bad in ("arn:aws:iam::123:role/x", "arn:aws:s3:::b", "role/x"):
        with pytest.raises(ValueError):
            oidc.parse_role_arn(bad)
    assert oidc.parse_accounts("111111111111, 222222222222") == ("111111111111", "222222222222")
    with pytest.raises(ValueError, match="12"):
        oidc.parse_accounts("123")
    assert oidc.allowed("1", ()) and not oidc.allowed("1", ("2",))


def test_github_env_and_masks() -> None:
    assert actions.mask_command("abc") == "::add-mask::abc"
    with pytest.raises(ValueError):
        actions.mask_command("a\nb")
    assert actions.env_file_text({"A": "1", "B": "x\ny"}, delimiter="EOF") == \
        "A=1\nB<<EOF\nx\ny\nEOF\n"
    with pytest.raises(ValueError):
        actions.env_file_text({"GITHUB_TOKEN": "x"})


# ---------------------------------------------------------------- IAM evaluation

STATE = "arn:aws:s3:::b/envs/dev/terraform.tfstate"
POLICY = {"Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/envs/dev/*"},
    {"Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"],
     "Resource": STATE + ".tflock"},
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
     "Condition": {"StringLike": {"s3:prefix": "envs/dev/*"}}},
    {"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"},
]}


@pytest.mark.parametrize(("action", "resource", "context", "expected"), [
    ("s3:GetObject", STATE, {}, iampolicy.Result.ALLOW),
    ("S3:getobject", STATE, {}, iampolicy.Result.ALLOW),  # actions are case-insensitive
    ("s3:PutObject", STATE, {}, iampolicy.Result.IMPLICIT_DENY),
    ("s3:PutObject", STATE + ".tflock", {}, iampolicy.Result.ALLOW),
    ("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "envs/dev/"}, iampolicy.Result.ALLOW),
    ("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "envs/prod/"},
     iampolicy.Result.IMPLICIT_DENY),
    ("s3:ListBucket", "arn:aws:s3:::b", {}, iampolicy.Result.IMPLICIT_DENY),  # key absent
    ("iam:CreateRole", "*", {}, iampolicy.Result.DENY),
])
def test_identity_policy_evaluation(action: str, resource: str, context: dict[str, str],
                                    expected: iampolicy.Result) -> None:
    assert iampolicy.evaluate([POLICY], action, resource, context) == expected


TRUST = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                        "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/t"},
                        "Condition": {"StringEquals": {"t:aud": "sts.amazonaws.com",
                                                       "t:sub": ["repo:a/b:environment:dev",
                                                                 "repo:a/b:ref:refs/heads/main"]}}}]}


@pytest.mark.parametrize(("sub", "provider", "expected"), [
    ("repo:a/b:environment:dev", "arn:aws:iam::1:oidc-provider/t", iampolicy.Result.ALLOW),
    ("repo:a/b:ref:refs/heads/main", "arn:aws:iam::1:oidc-provider/t", iampolicy.Result.ALLOW),
    ("repo:a/b:pull_request", "arn:aws:iam::1:oidc-provider/t", iampolicy.Result.IMPLICIT_DENY),
    ("repo:a/b:environment:dev", "arn:aws:iam::2:oidc-provider/t",
     iampolicy.Result.IMPLICIT_DENY),
])
def test_trust_policy_evaluation(sub: str, provider: str, expected: iampolicy.Result) -> None:
    context = {"t:aud": "sts.amazonaws.com", "t:sub": sub}
    assert iampolicy.evaluate([TRUST], "sts:AssumeRoleWithWebIdentity", None, context,
                              principal={"Federated": provider}) == expected


@pytest.mark.parametrize(("operator", "expected", "context", "holds"), [
    ("ForAnyValue:StringEquals", ["a"], {"k": ["b", "a"]}, True),
    ("ForAllValues:StringEquals", ["a"], {"k": ["b", "a"]}, False),
    ("ForAllValues:StringEquals", ["a"], {}, True),
    ("StringNotEquals", ["a"], {}, True),
    ("StringEqualsIfExists", ["a"], {}, True),
    ("ArnLike", ["arn:aws:iam::*:role/x-*"], {"k": "arn:aws:iam::1:role/x-y"}, True),
    ("NumericLessThan", ["10"], {"k": "9"}, True),
    ("Null", ["true"], {}, True),
    ("DateGreaterThan", ["2020-01-01"], {"k": "2021-01-01"}, False),  # not evaluated: no match
])
def test_condition_operators(operator: str, expected: list[str], context: dict[str, Any],
                             holds: bool) -> None:
    assert iampolicy.condition_holds(operator, "k", expected, context) is holds
