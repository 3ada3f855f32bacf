"""S3 bucket policies are evaluated with their Condition blocks.

IAM reference, "IAM JSON policy elements: Condition": the Condition block "lets you
specify conditions for when a policy is in effect", and "Context key names are not
case-sensitive". "Conditions with multiple context keys or values": condition operators
and keys are combined with a logical AND; several values for one key with a logical OR
(NOR for a negated operator). "Condition operators": "If the key that you specify in a
policy condition is not present in the request context, the values do not match and the
condition is false. If the policy condition requires that the key is not matched, such
as StringNotLike or ArnNotLike, and the right key is not present, the condition is
true. This logic applies to all condition operators except ...IfExists and Null check."
Policy evaluation logic: an explicit deny overrides any allow.

moto 5.2.5 (FakeBucket.get_permission -> IAMPolicyStatement.is_action_permitted) ignores
every condition operator except StringEquals, so a Deny statement whose condition does
not match still denies. With the standard TLS-only policy (Deny s3:* when
`Bool aws:SecureTransport = false`) every object operation was 403 and Terraform's S3
backend could not read or write state.

We keep moto's Action/Resource/Principal/Effect matching and add the conditions: a
statement whose conditions do not all hold does not apply (NEUTRAL). The request context
is `aws:SecureTransport = true`: the embedded AWS is plain HTTP on loopback standing in
for AWS's HTTPS endpoints, which the SDKs and Terraform always use. No other key is in
it, so conditions on other keys follow the absent-key rule above. Operators evaluated on
a present key: those of core/iampolicy.py (String*, Bool, Null, Arn*, Numeric*, with
IfExists; ForAnyValue/ForAllValues). Any other operator is taken as not matching.

Also, S3 API reference, HeadObject: "To use HEAD, you must have the s3:GetObject
permission"; moto asks the policy about `s3:HeadObject`, an action that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The condition logic is core/iampolicy.py's (shared with the STS and IAM extensions).
from mlops.core.iampolicy import condition_holds, statement_applies

__all__ = ["condition_holds", "evaluate", "install", "statement_applies"]

# Keys lower-cased: context key names are not case-sensitive.
REQUEST_CONTEXT: dict[str, str] = {"aws:securetransport": "true"}
ACTION_ALIASES = {"s3:HeadObject": "s3:GetObject"}


def evaluate(policy: Mapping[str, Any], action: str, resource: str,
             context: Mapping[str, str]) -> Any:
    """DENIED if an applicable statement denies, else PERMITTED if one allows, else
    NEUTRAL (a moto PermissionResult)."""
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    statements = policy.get("Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    permitted = False
    for statement in statements:
        if not statement_applies(statement, context):
            continue
        unconditional = {k: v for k, v in statement.items() if k != "Condition"}
        result = IAMPolicyStatement(unconditional).is_action_permitted(
            ACTION_ALIASES.get(action, action), resource)
        if result == PermissionResult.DENIED:
            return PermissionResult.DENIED
        permitted = permitted or result == PermissionResult.PERMITTED
    return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL


def install() -> None:
    import json

    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    if getattr(FakeBucket, "_mlops_policy_patched", False):
        return

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        return evaluate(json.loads(self.policy.decode()), action, resource, REQUEST_CONTEXT)

    setattr(FakeBucket, "get_permission", get_permission)  # noqa: B010
    setattr(FakeBucket, "_mlops_policy_patched", True)  # noqa: B010
