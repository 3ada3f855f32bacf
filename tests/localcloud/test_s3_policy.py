"""Condition-aware S3 bucket policies (mlops/localcloud/extensions/s3_policy.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops.localcloud.extensions.s3_policy import condition_holds, statement_applies

pytestmark = pytest.mark.cloud

CONTEXT = {"aws:securetransport": "true"}


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _tls_only(bucket: str) -> dict[str, Any]:
    return {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def _s3(cloud: Any, bucket: str, *statements: dict[str, Any]) -> Any:
    s3 = cloud.client("s3", s3={"addressing_style": "path"})
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=_policy(*statements))
    return s3


def _status(excinfo: pytest.ExceptionInfo[ClientError]) -> int:
    return int(excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"])


def test_tls_only_policy_allows_object_operations(cloud: Any, unique_name: str) -> None:
    s3 = _s3(cloud, unique_name, _tls_only(unique_name))
    s3.put_object(Bucket=unique_name, Key="env/terraform.tfstate", Body=b"{}")
    assert s3.head_object(Bucket=unique_name, Key="env/terraform.tfstate")["ContentLength"] == 2
    got = s3.get_object(Bucket=unique_name, Key="env/terraform.tfstate")
    assert got["Body"].read() == b"{}"
    s3.delete_object(Bucket=unique_name, Key="env/terraform.tfstate")
    with pytest.raises(ClientError) as excinfo:
        s3.head_object(Bucket=unique_name, Key="env/terraform.tfstate")
    assert _status(excinfo) == 404


def test_tls_only_policy_missing_key_is_404(cloud: Any, unique_name: str) -> None:
    s3 = _s3(cloud, unique_name, _tls_only(unique_name))
    with pytest.raises(ClientError) as excinfo:
        s3.head_object(Bucket=unique_name, Key="no/such.tfstate")
    assert _status(excinfo) == 404


def test_unconditional_deny_still_denies(cloud: Any, unique_name: str) -> None:
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{unique_name}/*"}
    s3 = _s3(cloud, unique_name, _tls_only(unique_name), deny)
    s3.put_object(Bucket=unique_name, Key="k", Body=b"x")  # PutObject is not denied
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=unique_name, Key="k")
    assert _status(excinfo) == 403
    with pytest.raises(ClientError) as excinfo:  # HeadObject needs s3:GetObject
        s3.head_object(Bucket=unique_name, Key="k")
    assert _status(excinfo) == 403


def test_deny_with_matching_condition_denies(cloud: Any, unique_name: str) -> None:
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{unique_name}/*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
    s3 = _s3(cloud, unique_name, deny)
    s3.put_object(Bucket=unique_name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=unique_name, Key="k")
    assert _status(excinfo) == 403


@pytest.mark.parametrize(("operator", "key", "expected", "holds"), [
    ("Bool", "aws:SecureTransport", "false", False),
    ("Bool", "AWS:securetransport", True, True),  # keys are case-insensitive; JSON true
    ("StringEquals", "aws:SecureTransport", ["false", "true"], True),
    ("StringNotEquals", "aws:SecureTransport", "true", False),
    ("StringEqualsIgnoreCase", "aws:SecureTransport", "TRUE", True),
    ("StringLike", "aws:SecureTransport", "t?u*", True),
    ("StringNotLike", "aws:SecureTransport", "f*", True),
    ("StringEquals", "aws:SourceVpce", "vpce-1", False),  # absent key: no match
    ("StringNotEquals", "aws:SourceVpce", "vpce-1", True),  # ... except negated operators
    ("StringEqualsIfExists", "aws:SourceVpce", "vpce-1", True),
    ("Null", "aws:SourceVpce", "true", True),
    ("Null", "aws:SecureTransport", "true", False),
    ("NumericLessThan", "s3:TlsVersion", "1.2", False),
    ("ForAllValues:StringEquals", "aws:TagKeys", "env", True),
    ("ForAnyValue:StringEquals", "aws:TagKeys", "env", False),
])
def test_condition_operators(operator: str, key: str, expected: Any, holds: bool) -> None:
    assert condition_holds(operator, key, expected, CONTEXT) is holds


def test_statement_needs_every_condition() -> None:
    statement = {"Condition": {"Bool": {"aws:SecureTransport": "true"},
                               "StringEquals": {"aws:SourceVpce": "vpce-1"}}}
    assert not statement_applies(statement, CONTEXT)
    assert statement_applies({}, CONTEXT)
