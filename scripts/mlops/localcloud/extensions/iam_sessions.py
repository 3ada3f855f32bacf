"""S3 requests signed by a web-identity session are held to its role's IAM policies.

moto evaluates identity policies only in its global authorization mode
(INITIAL_NO_AUTH_ACTION_COUNT), which would demand real IAM users for every request the
demo and the tests make with the dummy root keys. So the trust model (which role may
write which state object) could not be tested. We evaluate, for S3 only, the requests
signed with credentials from AssumeRoleWithWebIdentity (validated by extensions/sts.py):
the role's inline and attached policies, by core/iampolicy.py, following the IAM User
Guide's "Policy evaluation logic": "an explicit deny in any of these policies overrides
the allow", and "By default, all requests are implicitly denied". A refusal is S3's
AccessDenied (HTTP 403).

The action is the IAM action of the S3 operation as moto names it (s3:GetObject for
GetObject and HeadObject, s3:PutObject, s3:DeleteObject, s3:ListBucket for ListObjects
and HeadBucket, ...); the resource `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`; the
context `aws:SecureTransport = true` (as in s3_policy.py), `s3:prefix` from the query of
a listing ("Actions, resources, and condition keys for Amazon S3"), `aws:PrincipalArn`
(the role). Divergences: other services are not evaluated (moto passes them no resource
ARN), permission boundaries and session policies are not applied, signatures are not
checked. The root dummy credentials are never evaluated.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlparse

from mlops.core import iampolicy
from mlops.localcloud.extensions import sts

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")

# Operations moto names by the operation where IAM checks another action. HeadBucket:
# "To use this operation, you must have permissions to perform the s3:ListBucket action"
# (Amazon S3 API Reference, HeadBucket). There is no s3:HeadBucket action to allow.
IAM_ACTION = {"HeadBucket": "ListBucket"}


def session_role(response: Any) -> tuple[str, list[dict[str, Any]]] | None:
    """(role ARN, its policy documents) when the request is signed by a web-identity
    session; None otherwise."""
    from moto.iam.access_control import AssumedRoleAccessKey, CreateAccessKeyFailure
    from moto.utilities.utils import get_partition

    headers = getattr(response, "headers", {}) or {}
    match = _CREDENTIAL.search(str(headers.get("Authorization") or ""))
    if match is None or match.group(1) not in sts.WEB_IDENTITY_KEYS:
        return None
    try:
        key = AssumedRoleAccessKey(account_id=response.current_account,
                                   partition=get_partition("us-east-1"),
                                   access_key_id=match.group(1), headers=dict(headers))
        raw = key.collect_policies()
    except (CreateAccessKeyFailure, KeyError):
        return None  # an unknown or reset session: moto's own rules apply
    documents: list[dict[str, Any]] = []
    for policy in raw:
        if isinstance(policy, str):
            documents.append(json.loads(policy))
        else:  # a managed policy: its default version
            version = next(v for v in policy.versions if v.is_default)
            document = version.document
            documents.append(json.loads(document) if isinstance(document, str) else document)
    arn = f"arn:aws:iam::{response.current_account}:role/{key._owner_role_name}"
    return arn, documents


def decide(response: Any, bucket_name: str | None, key_name: str | None) -> bool:
    """True when the request may go on."""
    found = session_role(response)
    if found is None:
        return True
    role_arn, policies = found
    operation = str(response.data.get("Action", ""))
    action = f"s3:{IAM_ACTION.get(operation, operation)}"
    resource = "arn:aws:s3:::" + (f"{bucket_name}/{key_name}" if key_name
                                  else (bucket_name or "*"))
    context: dict[str, Any] = {"aws:securetransport": "true", "aws:principalarn": role_arn}
    query = parse_qs(urlparse(str(getattr(response, "uri", "") or "")).query)
    if "prefix" in query:
        context["s3:prefix"] = query["prefix"][0]
    elif action == "s3:ListBucket":
        context["s3:prefix"] = ""
    return iampolicy.evaluate(policies, action, resource, context) == iampolicy.Result.ALLOW


def install() -> None:
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.s3.exceptions import BucketAccessDeniedError, S3AccessDeniedError

    if getattr(ActionAuthenticatorMixin, "_mlops_sessions_patched", False):
        return
    original = ActionAuthenticatorMixin._authenticate_and_authorize_s3_action

    def authorize(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
        original(self, bucket_name=bucket_name, key_name=key_name)
        if not decide(self, bucket_name, key_name):
            if bucket_name:
                raise BucketAccessDeniedError(bucket=bucket_name)
            raise S3AccessDeniedError()

    setattr(ActionAuthenticatorMixin, "_authenticate_and_authorize_s3_action",  # noqa: B010
            authorize)
    setattr(ActionAuthenticatorMixin, "_mlops_sessions_patched", True)  # noqa: B010
