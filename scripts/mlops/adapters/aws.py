"""boto3 clients built from an explicit environment mapping (never os.environ at import).

`AWS_ENDPOINT_URL` points every client at the embedded cloud; S3 then uses path-style
addressing. In GitHub Actions the credentials come from the OIDC role assumption.
"""

from __future__ import annotations

from collections.abc import Mapping
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


def session(env: Mapping[str, str]) -> boto3.session.Session:
    import boto3

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
        raise MlopsError(f"could not check the state bucket {bucket}", str(err),
                         "check the credentials can s3:ListBucket on it") from err
    return True
