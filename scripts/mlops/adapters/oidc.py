"""GitHub Actions OIDC token -> STS AssumeRoleWithWebIdentity (decisions in core/oidc.py).

The token comes from ACTIONS_ID_TOKEN_REQUEST_URL (+ `&audience=`) with the bearer
ACTIONS_ID_TOKEN_REQUEST_TOKEN; STS is called with boto3, unsigned (the web identity token
is the credential), at AWS_ENDPOINT_URL when set. Throttling, 5xx and network errors are
retried with jittered exponential backoff, a bounded number of times; a token that may have
expired (by its `exp`, or STS saying ExpiredTokenException) is requested again first.
`sleep`, `clock` and `rand` are passed in so tests run without waiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlops import ui
from mlops.core import oidc
from mlops.errors import MlopsError


class OidcError(MlopsError):
    """The OIDC token or the role assumption failed."""


@dataclass(frozen=True)
class Assumed:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime
    assumed_role_arn: str

    def metadata(self) -> dict[str, str]:
        """What botocore's RefreshableCredentials takes."""
        return {"access_key": self.access_key_id, "secret_key": self.secret_access_key,
                "token": self.session_token, "expiry_time": self.expiration.isoformat()}


@dataclass
class WebIdentity:
    env: Mapping[str, str]
    role_arn: str
    audience: str = oidc.DEFAULT_AUDIENCE
    duration: int = oidc.DEFAULT_DURATION
    session_name: str = "GitHubActions"
    region: str = "us-east-1"
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    rand: Callable[[], float] = random.random
    max_attempts: int = oidc.MAX_ATTEMPTS
    timeout: float = 10.0
    _token: str | None = field(default=None, repr=False)
    token_requests: int = 0

    # -------------------------------------------------------------- the GitHub token

    def _request_settings(self) -> tuple[str, str]:
        url = self.env.get("ACTIONS_ID_TOKEN_REQUEST_URL", "")
        bearer = self.env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "")
        if not url or not bearer:
            raise OidcError(*oidc.missing_permission())
        return url, bearer

    def token(self, *, fresh: bool = False) -> str:
        """The GitHub OIDC token for the audience; requested again when it may have
        expired (or `fresh`)."""
        if (self._token is not None and not fresh
                and not oidc.token_expired(oidc.claims(self._token), self.clock())):
            return self._token
        import requests

        url, bearer = self._request_settings()
        target = oidc.token_url(url, self.audience)
        for attempt in range(1, self.max_attempts + 1):
            self.token_requests += 1
            try:
                resp = requests.get(target, timeout=self.timeout, headers={
                    "Authorization": f"bearer {bearer}", "Accept": "application/json"})
            except (requests.ConnectionError, requests.Timeout) as err:
                if attempt == self.max_attempts:
                    raise OidcError("could not reach GitHub's OIDC token endpoint",
                                    f"{type(err).__name__} after {attempt} attempts",
                                    "re-run the job; check https://www.githubstatus.com"
                                    ) from err
                self.sleep(oidc.backoff(attempt, self.rand()))
                continue
            if resp.status_code == 200:
                value = resp.json().get("value") if resp.headers.get(
                    "Content-Type", "").startswith("application/json") else None
                if not isinstance(value, str) or not value:
                    raise OidcError("GitHub's OIDC token endpoint returned no token",
                                    "the answer has no `value`", "re-run the job")
                self._token = value
                return value
            if oidc.retryable("", resp.status_code) and attempt < self.max_attempts:
                self.sleep(oidc.backoff(attempt, self.rand()))
                continue
            raise OidcError(
                f"GitHub's OIDC token endpoint answered {resp.status_code}",
                "the request token was refused or expired"
                if resp.status_code in (401, 403) else resp.text[:300],
                "request the token in the same job that got it (ACTIONS_ID_TOKEN_REQUEST_TOKEN "
                "is per job); re-run the job")
        raise AssertionError("unreachable")  # pragma: no cover

    # -------------------------------------------------------------- STS

    def _sts(self) -> Any:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        return boto3.session.Session().client(
            "sts", region_name=self.region,
            endpoint_url=self.env.get("AWS_ENDPOINT_URL_STS") or self.env.get("AWS_ENDPOINT_URL")
            or None,
            config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1},
                          connect_timeout=self.timeout, read_timeout=self.timeout))

    def assume(self) -> Assumed:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        sts = self._sts()
        fresh = False
        for attempt in range(1, self.max_attempts + 1):
            token = self.token(fresh=fresh)
            fresh = False
            try:
                out = sts.assume_role_with_web_identity(
                    RoleArn=self.role_arn, RoleSessionName=self.session_name,
                    WebIdentityToken=token, DurationSeconds=self.duration)
            except ClientError as err:
                error = err.response.get("Error", {})
                code = str(error.get("Code", ""))
                status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
                message = str(error.get("Message", ""))
                if code == "AccessDenied":
                    raise OidcError(*oidc.access_denied(self.role_arn, oidc.claims(token),
                                                        message)) from err
                if code in oidc.TOKEN_EXPIRED_CODES:
                    fresh = True
                if oidc.retryable(code, status) and attempt < self.max_attempts:
                    ui.info(f"sts:AssumeRoleWithWebIdentity: {code or status}; retrying "
                            f"({attempt}/{self.max_attempts})")
                    self.sleep(oidc.backoff(attempt, self.rand()))
                    continue
                raise OidcError(f"could not assume {self.role_arn} ({code or status})",
                                message + ("\n  the token's claims:\n" + "\n".join(
                                    f"    {k}: {v}" for k, v in
                                    oidc.trust_claims(oidc.claims(token)).items())
                                    if code.startswith(("InvalidIdentityToken", "IDP")) else ""),
                                "check the role ARN, the account's GitHub OIDC provider "
                                "(bootstrap/oidc.tf) and --audience") from err
            except (EndpointConnectionError, ConnectionError, ReadTimeoutError) as err:
                if attempt == self.max_attempts:
                    raise OidcError("could not reach STS", f"{err} after {attempt} attempts",
                                    "check AWS_ENDPOINT_URL / the network; re-run") from err
                self.sleep(oidc.backoff(attempt, self.rand()))
                continue
            except BotoCoreError as err:
                raise OidcError("could not call STS", str(err),
                                "check the region and AWS_ENDPOINT_URL") from err
            creds = out["Credentials"]
            expiration = creds["Expiration"]
            if isinstance(expiration, str):
                expiration = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
            return Assumed(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"],
                           expiration.astimezone(UTC), out["AssumedRoleUser"]["Arn"])
        raise AssertionError("unreachable")  # pragma: no cover

    def refresh(self) -> dict[str, str]:
        """botocore's refresh callback: a new GitHub token (the one from an hour ago has
        long expired), then a new session."""
        self.token(fresh=True)
        return self.assume().metadata()


def from_env(env: Mapping[str, str], role_arn: str | None = None) -> WebIdentity:
    """A WebIdentity from the variables `mlops oidc assume` exports (MLOPS_OIDC_*)."""
    from mlops.core import oidc as core

    return WebIdentity(
        env=env, role_arn=role_arn or env.get("MLOPS_OIDC_ROLE_ARN", ""),
        audience=env.get("MLOPS_OIDC_AUDIENCE") or core.DEFAULT_AUDIENCE,
        duration=int(env.get("MLOPS_OIDC_DURATION") or core.DEFAULT_DURATION),
        session_name=env.get("MLOPS_OIDC_SESSION_NAME") or "GitHubActions",
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1")
