"""STS AssumeRoleWithWebIdentity validates the web identity token, as AWS does.

moto 5.2.5 ignores the WebIdentityToken: any string assumes any role, so a trust policy
could never be shown to refuse anyone. We check, before moto issues the session:

1. The token is a JWT whose payload we can read, not yet expired and not before its
   `nbf`. STS API reference, errors of AssumeRoleWithWebIdentity: ExpiredTokenException
   "The web identity token that was passed is expired or is not valid. Get a new identity
   token from the identity provider and then retry the request."; InvalidIdentityToken
   "The web identity token that was passed could not be validated by AWS. Get a new
   identity token from the identity provider and then retry the request."
2. Its `iss` names an IAM OIDC provider of the role's account (the provider's URL is the
   issuer without `https://`), and its `aud` is one of that provider's client ids
   (InvalidIdentityToken otherwise, with the messages AWS gives: "No OpenIDConnect
   provider found in your account for <iss>", "Incorrect token audience").
3. The role's trust policy allows `sts:AssumeRoleWithWebIdentity` for the principal
   `{"Federated": <provider ARN>}`, with its conditions evaluated on the request context
   `<provider url>:aud`, `<provider url>:sub` and `<provider url>:amr` (IAM User Guide,
   "Available keys for AWS OIDC federation"), by core/iampolicy.py: an explicit Deny wins,
   no Allow is a refusal. A refusal is AccessDenied, HTTP 403, "Not authorized to perform
   sts:AssumeRoleWithWebIdentity", which is what AWS answers.
4. DurationSeconds is 900 to the role's MaxSessionDuration (ValidationError "The
   requested DurationSeconds exceeds the MaxSessionDuration set for this role.").

Divergence, on purpose and unavoidable: the token's signature is not verified. AWS checks
it against the provider's JWKS (GitHub's, at token.actions.githubusercontent.com), which
cannot be reached here; the embedded GitHub signs its tokens with a key it serves, but the
IAM provider's URL is GitHub's real issuer. Everything a trust policy decides on is checked.

Sessions issued here are remembered (WEB_IDENTITY_KEYS) so the IAM extension can hold
them to their role's identity policies.
"""

from __future__ import annotations

import json
import time
from typing import Any

from mlops.core import iampolicy, oidc

ACTION = "sts:AssumeRoleWithWebIdentity"
WEB_IDENTITY_KEYS: set[str] = set()  # access key ids of sessions issued after validation


def _errors() -> tuple[Any, Any, Any]:
    from moto.core.exceptions import AccessDeniedError
    from moto.sts.exceptions import STSClientError, STSValidationError

    class AccessDenied(AccessDeniedError):
        code = 403

        def __init__(self) -> None:  # AWS's wording, not moto's "User: X is not ..."
            super(AccessDeniedError, self).__init__("AccessDenied",
                                                    f"Not authorized to perform {ACTION}")

    return STSClientError, STSValidationError, AccessDenied


def validate(token: str, role_arn: str, duration: int, now: float) -> None:
    """Raise the error AWS would give, or return when the session may be issued."""
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    client_error, validation_error, access_denied = _errors()
    invalid = "InvalidIdentityToken"
    claims = oidc.claims(token)
    if not claims or not isinstance(claims.get("iss"), str):
        raise client_error(invalid, "The web identity token that was passed could not be "
                                    "validated by AWS. Get a new identity token from the "
                                    "identity provider and then retry the request.")
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int | float) or now >= exp:
        raise client_error("ExpiredTokenException",
                           "The web identity token that was passed is expired or is not "
                           "valid. Get a new identity token from the identity provider and "
                           "then retry the request.")
    if isinstance(nbf, int | float) and now < nbf:
        raise client_error(invalid, "The web identity token is not valid yet (nbf)")
    try:
        role = oidc.parse_role_arn(role_arn)
    except ValueError as err:
        raise validation_error(f"RoleArn {role_arn} is not a role ARN") from err
    iam = iam_backends[role.account][get_partition("us-east-1")]
    issuer = str(claims["iss"])
    host = issuer.removeprefix("https://").rstrip("/")
    provider = next((p for p in iam.open_id_providers.values() if p.url.rstrip("/") == host),
                    None)
    if provider is None:
        raise client_error(invalid, f"No OpenIDConnect provider found in your account for "
                                    f"{issuer}")
    audiences = claims.get("aud")
    auds = [str(a) for a in (audiences if isinstance(audiences, list) else [audiences])]
    if not any(a in provider.client_id_list for a in auds):
        raise client_error(invalid, "Incorrect token audience")
    try:
        found = iam.get_role_by_arn(role_arn)
    except Exception as err:  # moto's NotFoundException: AWS says AccessDenied, not 404
        raise access_denied() from err
    policy = found.assume_role_policy_document
    document = json.loads(policy) if isinstance(policy, str) else dict(policy)
    context: dict[str, Any] = {f"{host}:aud": auds if len(auds) > 1 else auds[0],
                               f"{host}:sub": str(claims.get("sub", ""))}
    if "amr" in claims:
        context[f"{host}:amr"] = [str(a) for a in claims["amr"]] \
            if isinstance(claims["amr"], list) else str(claims["amr"])
    decision = iampolicy.evaluate([document], ACTION, None, context,
                                  principal={"Federated": provider.arn})
    if decision != iampolicy.Result.ALLOW:
        raise access_denied()
    max_duration = int(getattr(found, "max_session_duration", None) or 3600)
    if duration > max_duration:
        raise validation_error("The requested DurationSeconds exceeds the MaxSessionDuration "
                               "set for this role.")
    if duration < 900:
        raise validation_error(f"1 validation error detected: Value '{duration}' at "
                               "'durationSeconds' failed to satisfy constraint: Member must "
                               "have value greater than or equal to 900")


def install() -> None:
    from moto.sts.responses import TokenResponse

    if getattr(TokenResponse, "_mlops_web_identity_patched", False):
        return
    original = TokenResponse.assume_role_with_web_identity

    def assume_role_with_web_identity(self: Any) -> Any:
        validate(str(self._get_param("WebIdentityToken") or ""),
                 str(self._get_param("RoleArn") or ""),
                 self._get_int_param("DurationSeconds", 3600), time.time())
        result = original(self)
        payload: Any = getattr(result, "result", None)
        credentials = payload.get("Credentials") if isinstance(payload, dict) else None
        key = getattr(credentials, "access_key_id", None)
        if key:
            WEB_IDENTITY_KEYS.add(str(key))
        return result

    setattr(TokenResponse, "assume_role_with_web_identity",  # noqa: B010
            assume_role_with_web_identity)
    setattr(TokenResponse, "_mlops_web_identity_patched", True)  # noqa: B010
