"""boto3 clients built from an explicit environment mapping (never os.environ at import).

`AWS_ENDPOINT_URL` points every client at the embedded cloud; S3 then uses path-style
addressing. In GitHub Actions the credentials come from the OIDC role assumption
(`mlops oidc assume`). When it exported MLOPS_OIDC_ROLE_ARN and the job can still request
OIDC tokens, sessions are *refreshable*: they start from the exported credentials and,
when those near their expiry, request a new GitHub token and assume the role again, so a
long in-process command (a canary promotion) outlives a one-hour session. Terraform runs
get the current credentials at start (`fresh_credentials_env`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from mlops.errors import MlopsError

if TYPE_CHECKING:
    import boto3

# boto3 is imported where it is used: it is a quarter of a second of start-up that most
# commands (comment, changed, policy, docs) never need.


def is_local_endpoint(env: Mapping[str, str]) -> bool:
    endpoint = env.get("AWS_ENDPOINT_URL", "")
    host = urlparse(endpoint).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


OIDC_ROLE_ENV = "MLOPS_OIDC_ROLE_ARN"
OIDC_EXPIRATION_ENV = "MLOPS_OIDC_EXPIRATION"
_REFRESHABLE: dict[tuple[str, str, str], Any] = {}  # per process: (role, key id, url)


def refreshable(env: Mapping[str, str]) -> bool:
    """Whether sessions renew themselves through OIDC (see the module docstring)."""
    return bool(env.get(OIDC_ROLE_ENV) and env.get("ACTIONS_ID_TOKEN_REQUEST_URL")
                and env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))


def oidc_session(env: Mapping[str, str], identity: Any = None, *,
                 time_fetcher: Callable[[], datetime] | None = None) -> boto3.session.Session:
    """A boto3 session whose credentials renew through GitHub OIDC. It starts from the
    credentials in `env` (with MLOPS_OIDC_EXPIRATION) when there are any, else assumes the
    role now."""
    import boto3
    import botocore.session
    from botocore.credentials import RefreshableCredentials

    from mlops.adapters import oidc

    identity = identity or oidc.from_env(env)
    expiry_text = env.get(OIDC_EXPIRATION_ENV, "")
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SESSION_TOKEN") and expiry_text:
        start = {"access_key": env["AWS_ACCESS_KEY_ID"],
                 "secret_key": env.get("AWS_SECRET_ACCESS_KEY", ""),
                 "token": env["AWS_SESSION_TOKEN"], "expiry_time": expiry_text}
    else:
        start = identity.assume().metadata()
    expiry = datetime.fromisoformat(start["expiry_time"].replace("Z", "+00:00"))
    credentials = RefreshableCredentials(
        start["access_key"], start["secret_key"], start["token"], expiry.astimezone(UTC),
        identity.refresh, "mlops-github-oidc",
        **({"time_fetcher": time_fetcher} if time_fetcher else {}))
    core = botocore.session.get_session()
    core._credentials = credentials  # botocore has no public setter for this
    core.set_config_variable("region", identity.region)
    return boto3.session.Session(botocore_session=core)


def session(env: Mapping[str, str]) -> boto3.session.Session:
    import boto3

    if refreshable(env):
        key = (env[OIDC_ROLE_ENV], env.get("AWS_ACCESS_KEY_ID", ""),
               env.get("ACTIONS_ID_TOKEN_REQUEST_URL", ""))
        if key not in _REFRESHABLE:
            _REFRESHABLE[key] = oidc_session(env)
        cached: boto3.session.Session = _REFRESHABLE[key]
        return cached
    return boto3.session.Session(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=env.get("AWS_SESSION_TOKEN"),
        region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        profile_name=env.get("AWS_PROFILE") or None,
    )


def client(env: Mapping[str, str], service: str) -> Any:
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": "path"} if is_local_endpoint(env) else {},
        retries={"max_attempts": 3, "mode": "standard"},
    )
    return session(env).client(service, endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
                               config=config)


def fresh_credentials_env(env: Mapping[str, str]) -> dict[str, str]:
    """The current (renewed if need be) credentials as environment variables for a
    subprocess, when sessions are refreshable; {} otherwise."""
    if not refreshable(env):
        return {}
    frozen = session(env).get_credentials().get_frozen_credentials()
    return {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key,
            "AWS_SESSION_TOKEN": frozen.token or ""}


def account_id(env: Mapping[str, str]) -> str:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        ident = client(env, "sts").get_caller_identity()
    except NoCredentialsError as err:
        raise MlopsError(
            "no AWS credentials",
            "mlops needs the account id to find the state bucket",
            "in CI assume the role through OIDC; locally run `mlops cloud up` and export "
            "what it prints, or configure an AWS profile",
        ) from err
    except (ClientError, BotoCoreError) as err:
        raise MlopsError("could not call sts:GetCallerIdentity", str(err),
                         "check AWS_ENDPOINT_URL, the region and your credentials") from err
    return str(ident["Account"])


def bucket_exists(env: Mapping[str, str], bucket: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client(env, "s3").head_bucket(Bucket=bucket)
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            return False
        # HeadBucket needs s3:ListBucket on the bucket with no prefix; the env roles may
        # list only their own prefixes of the state bucket (bootstrap/roles.tf), so S3
        # answers 403 for a bucket that exists. Not knowing is not "missing": go on, and
        # the env's own (allowed) operations on it report any real access problem.
        if code in ("403", "AccessDenied", "Forbidden"):
            return True
        raise MlopsError(f"could not check the state bucket {bucket}", str(err),
                         "check the credentials can s3:ListBucket on it") from err
    return True
