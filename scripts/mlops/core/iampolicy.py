"""IAM policy evaluation for the policies this project writes. Pure.

Used by the embedded AWS (bucket policies, role trust policies on
AssumeRoleWithWebIdentity, identity policies of web-identity sessions on S3) and by the
trust-model tests. What it follows (IAM User Guide):

- "Policy evaluation logic": an explicit Deny in any applicable policy overrides any
  Allow; without an Allow the request is implicitly denied.
- "IAM JSON policy elements: Action / NotAction / Resource / NotResource": values may
  use the wildcards `*` and `?`; action names are not case-sensitive.
- "IAM JSON policy elements: Principal": in a role trust policy the principal of a web
  identity is `{"Federated": "<OIDC provider ARN>"}`; `"*"` matches anyone.
- "IAM JSON policy elements: Condition": the Condition block "lets you specify conditions
  for when a policy is in effect"; "Context key names are not case-sensitive"; condition
  operators and keys combine with a logical AND, the values of one key with a logical OR
  (NOR for a negated operator); "If the key that you specify in a policy condition is not
  present in the request context, the values do not match and the condition is false. If
  the policy condition requires that the key is not matched, such as StringNotLike or
  ArnNotLike, and the right key is not present, the condition is true. This logic applies
  to all condition operators except ...IfExists and Null check."
  Multivalued keys: ForAnyValue (at least one value matches), ForAllValues (every value
  matches; true when the key is absent).

Operators evaluated: String* (Equals, NotEquals, EqualsIgnoreCase, Like, NotLike), Bool,
Null, Arn* (Equals, Like, NotEquals, NotLike), Numeric* (Equals, NotEquals, LessThan,
LessThanEquals, GreaterThan, GreaterThanEquals), each with IfExists. Any other operator
on a present key is taken as not matching (so an Allow never widens by accident).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

Context = Mapping[str, "str | Sequence[str]"]


class Result(StrEnum):
    ALLOW = "allow"
    DENY = "explicit-deny"
    IMPLICIT_DENY = "implicit-deny"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def like(actual: str, pattern: str, *, case: bool = True) -> bool:
    """IAM wildcard match: `*` any run of characters, `?` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, actual, re.DOTALL | (0 if case else re.IGNORECASE)) is not None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numeric(test: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def match(actual: str, value: str) -> bool:
        a, v = _number(actual), _number(value)
        return a is not None and v is not None and test(a, v)
    return match


_MATCHES: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda actual, value: actual == value,
    "StringEqualsIgnoreCase": lambda actual, value: actual.lower() == value.lower(),
    "StringLike": like,
    "Bool": lambda actual, value: actual.lower() == value.lower(),
    "ArnEquals": lambda actual, value: actual == value,
    "ArnLike": like,
    "NumericEquals": _numeric(lambda a, v: a == v),
    "NumericLessThan": _numeric(lambda a, v: a < v),
    "NumericLessThanEquals": _numeric(lambda a, v: a <= v),
    "NumericGreaterThan": _numeric(lambda a, v: a > v),
    "NumericGreaterThanEquals": _numeric(lambda a, v: a >= v),
}
_NEGATED = {"StringNotEquals": "StringEquals",
            "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike",
            "NumericNotEquals": "NumericEquals"}


def condition_holds(operator: str, key: str, expected: Any, context: Context) -> bool:
    """One `"Operator": {"key": expected}` entry of a Condition block, against `context`
    (keys in lower case; a value is a string, or a list for a multivalued key)."""
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    values = [str(v) for v in _as_list(expected)]
    raw = context.get(key.lower())
    actuals = None if raw is None else [str(a) for a in _as_list(raw)]
    if name == "Null":
        return any((actuals is None) == (v.lower() == "true") for v in values)
    if actuals is None:
        if if_exists or qualifier == "ForAllValues":
            return True
        return qualifier != "ForAnyValue" and ("Not" in name)  # StringNotLike, ArnNotLike, ...
    positive = _NEGATED.get(name, name)
    match = _MATCHES.get(positive)
    if match is None:
        return False

    def one(actual: str) -> bool:
        found = any(match(actual, value) for value in values)
        return found if positive == name else not found

    if qualifier == "ForAllValues":
        return all(one(a) for a in actuals)
    return any(one(a) for a in actuals)


def statement_applies(statement: Mapping[str, Any], context: Context) -> bool:
    """True when every condition of the statement holds (or it has none)."""
    block = statement.get("Condition") or {}
    return all(condition_holds(operator, key, expected, context)
               for operator, keys in block.items()
               for key, expected in keys.items())


def _element_matches(statement: Mapping[str, Any], name: str, value: str, *,
                     case: bool) -> bool | None:
    """Whether `name` (Action/Resource) or `Not<name>` lets `value` in; None when the
    statement has neither element."""
    if name in statement:
        return any(like(value, str(p), case=case) for p in _as_list(statement[name]))
    if f"Not{name}" in statement:
        return not any(like(value, str(p), case=case) for p in _as_list(statement[f"Not{name}"]))
    return None


def _principal_matches(statement: Mapping[str, Any], principal: Mapping[str, str]) -> bool:
    listed = statement.get("Principal")
    if listed is None:
        return False
    if listed == "*":
        return True
    if not isinstance(listed, Mapping):
        return False
    for kind, value in principal.items():
        for candidate in _as_list(listed.get(kind)):
            if candidate == "*" or like(value, str(candidate)):
                return True
    return False


def statement_matches(statement: Mapping[str, Any], action: str, resource: str | None,
                      principal: Mapping[str, str] | None) -> bool:
    """Action, Resource (skipped when `resource` is None: trust policies have none) and
    Principal (only when `principal` is given: resource-based and trust policies)."""
    if not _element_matches(statement, "Action", action, case=False):
        return False
    if resource is not None and _element_matches(statement, "Resource", resource,
                                                 case=True) is False:
        return False
    return principal is None or _principal_matches(statement, principal)


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = policy.get("Statement") or []
    return [statements] if isinstance(statements, Mapping) else list(statements)


def evaluate(policies: Iterable[Mapping[str, Any]], action: str, resource: str | None = "*",
             context: Context | None = None,
             principal: Mapping[str, str] | None = None) -> Result:
    """The decision of these policies together for one request."""
    context = {k.lower(): v for k, v in (context or {}).items()}
    allowed = False
    for policy in policies:
        for statement in _statements(policy):
            if not statement_matches(statement, action, resource, principal):
                continue
            if not statement_applies(statement, context):
                continue
            if str(statement.get("Effect")) == "Deny":
                return Result.DENY
            if str(statement.get("Effect")) == "Allow":
                allowed = True
    return Result.ALLOW if allowed else Result.IMPLICIT_DENY
