"""GitHub Actions OIDC -> AWS role assumption, the decisions. Pure.

- the default role session name, sanitised to STS's constraint (RoleSessionName: 2-64
  characters of `[\\w+=,.@-]`);
- the token request URL (`ACTIONS_ID_TOKEN_REQUEST_URL` already carries a query string;
  the audience is appended as `&audience=`);
- reading a token's claims (never verifying them: AWS does that) to report the ones trust
  policies match on, and to know when it expires;
- which failures are worth retrying, and the jittered exponential backoff;
- role ARN parsing and the --allowed-account-ids check;
- the error text for AccessDenied.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

DEFAULT_AUDIENCE = "sts.amazonaws.com"
DEFAULT_DURATION = 3600
MIN_DURATION, MAX_DURATION = 900, 43200  # STS DurationSeconds bounds
MAX_ATTEMPTS = 8
BASE_DELAY = 0.1  # seconds; the n-th retry waits random() * 2^n * BASE_DELAY
MAX_DELAY = 20.0
TOKEN_REFRESH_MARGIN = 60  # seconds before `exp` a token counts as expired
TRUST_CLAIMS = ("iss", "aud", "sub", "repository", "ref", "environment", "job_workflow_ref")

_SESSION_OK = re.compile(r"[\w+=,.@-]")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")

# STS / AWS error codes that are transient (throttling, the IdP or AWS briefly away).
RETRYABLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestLimitExceeded", "TooManyRequestsException", "SlowDown",
    "IDPCommunicationError", "IDPCommunicationErrorException", "ServiceUnavailable",
    "InternalFailure", "InternalError", "RequestTimeout", "RequestTimeoutException",
})
# The token was rejected for its age: get a new one before retrying.
TOKEN_EXPIRED_CODES = frozenset({"ExpiredTokenException", "ExpiredToken"})


def session_name(repository: str, run_id: str, attempt: str) -> str:
    """`<repo name>-<run id>-<attempt>` (GitHubActions when nothing is known), sanitised
    to 2-64 characters of [\\w+=,.@-]; the repository part gives way to the run id."""
    repo = repository.split("/")[-1] if repository else ""
    tail = "-".join(p for p in (run_id, attempt) if p)
    head = repo or "GitHubActions"
    clean_tail = sanitise(tail)
    room = 64 - len(clean_tail) - (1 if clean_tail else 0)
    name = sanitise(head)[:max(room, 2)] + (f"-{clean_tail}" if clean_tail else "")
    return name[:64] if len(name) >= 2 else "GitHubActions"


def sanitise(text: str) -> str:
    return "".join(c if _SESSION_OK.fullmatch(c) else "-" for c in text)


def valid_session_name(name: str) -> bool:
    return 2 <= len(name) <= 64 and all(_SESSION_OK.fullmatch(c) for c in name)


def token_url(request_url: str, audience: str) -> str:
    sep = "&" if "?" in request_url else "?"
    return f"{request_url}{sep}audience={quote(audience, safe='')}"


def claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified. {} when it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, json.JSONDecodeError):
        return {}
    return payload if isinstance(payload, dict) else {}


def trust_claims(token_claims: Mapping[str, Any]) -> dict[str, str]:
    """The claims trust policies match on, for error messages (never the token)."""
    return {k: str(token_claims[k]) for k in TRUST_CLAIMS if k in token_claims}


def token_expired(token_claims: Mapping[str, Any], now: float,
                  margin: float = TOKEN_REFRESH_MARGIN) -> bool:
    exp = token_claims.get("exp")
    return not isinstance(exp, int | float) or now >= float(exp) - margin


def retryable(code: str, status: int) -> bool:
    return code in RETRYABLE_CODES or code in TOKEN_EXPIRED_CODES or status >= 500 \
        or status == 429


def backoff(attempt: int, rand: float) -> float:
    """The wait before retry number `attempt` (1-based): rand() * 2^attempt * BASE_DELAY,
    capped (the jitter of aws-actions/configure-aws-credentials, with a cap)."""
    return float(min(MAX_DELAY, rand * (2 ** attempt) * BASE_DELAY))


@dataclass(frozen=True)
class RoleArn:
    arn: str
    account: str


def parse_role_arn(arn: str) -> RoleArn:
    match = _ROLE_ARN.match(arn)
    if match is None:
        raise ValueError(f"{arn!r} is not an IAM role ARN (arn:aws:iam::<12 digits>:role/NAME)")
    return RoleArn(arn, match.group(1))


def parse_accounts(text: str) -> tuple[str, ...]:
    accounts = tuple(a.strip() for a in re.split(r"[,\s]+", text) if a.strip())
    bad = [a for a in accounts if not re.fullmatch(r"\d{12}", a)]
    if bad:
        raise ValueError(f"not 12-digit account ids: {', '.join(bad)}")
    return accounts


def access_denied(role_arn: str, token_claims: Mapping[str, Any],
                  aws_message: str) -> tuple[str, str, str]:
    shown = trust_claims(token_claims)
    listed = "\n".join(f"    {k}: {v}" for k, v in shown.items()) or "    (no claims readable)"
    what = f"AWS refused to let this job assume {role_arn} (AccessDenied)"
    why = (f"{aws_message}\n  the token's claims that trust policies match on (the token "
           f"itself is never shown):\n{listed}")
    fix = ("the role's trust policy must match this token's `aud` and `sub` "
           "(StringEquals on token.actions.githubusercontent.com:aud and :sub): a pull "
           "request's sub is repo:OWNER/REPO:pull_request, a job in an environment's is "
           "repo:OWNER/REPO:environment:NAME, a push's is repo:OWNER/REPO:ref:refs/heads/BRANCH. "
           "Check the workflow job (environment:, event) and bootstrap/oidc.tf")
    return what, why, fix


def missing_permission(workflow_hint: str = ".github/workflows/<workflow>.yml") -> tuple[
        str, str, str]:
    return ("no GitHub OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL / "
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set",
            "GitHub gives a job an OIDC token only when it has `permissions: id-token: write` "
            "(and never to pull requests from forks)",
            f"in {workflow_hint}, add to the job that runs this step:\n"
            "      permissions:\n        contents: read\n        id-token: write")


def credentials_env(access_key_id: str, secret_access_key: str, session_token: str,
                    region: str) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": access_key_id, "AWS_SECRET_ACCESS_KEY": secret_access_key,
            "AWS_SESSION_TOKEN": session_token, "AWS_REGION": region}


def allowed(account: str, allowed_accounts: Sequence[str]) -> bool:
    return not allowed_accounts or account in allowed_accounts


def role_from_variables(variables: Mapping[str, Any], name: str) -> str:
    """The value of the repository variable `name` in the `vars` context (a workflow passes
    `toJSON(vars)`), "" when unset. GitHub variable names are case-insensitive."""
    wanted = name.upper()
    for key, value in variables.items():
        if str(key).upper() == wanted and isinstance(value, str):
            return value.strip()
    return ""
