"""S3 objects through boto3: what `mlops artifact push` and the canary's progress record
need, errors made readable."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops.adapters import aws
from mlops.errors import MlopsError


@dataclass(frozen=True)
class RemoteObject:
    sha256: str
    metadata: dict[str, str]


def _code(err: Any) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


class S3:
    def __init__(self, env: Mapping[str, str], client: Any = None) -> None:
        self.client = client or aws.client(env, "s3")

    def bucket_exists(self, bucket: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=bucket)
        except ClientError as err:
            if _code(err) in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise MlopsError(f"could not read bucket {bucket}", str(err),
                             "check the credentials may s3:ListBucket on it") from err
        return True

    def fetch(self, bucket: str, key: str) -> RemoteObject | None:
        """The object's content digest and metadata, or None when there is no object."""
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
            body = response["Body"].read()
        except ClientError as err:
            if _code(err) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise MlopsError(f"could not read s3://{bucket}/{key}", str(err),
                             "check the credentials may s3:GetObject there") from err
        return RemoteObject(hashlib.sha256(body).hexdigest(),
                            {k.lower(): v for k, v in response.get("Metadata", {}).items()})

    def read(self, bucket: str, key: str) -> bytes:
        """The object's bytes (MlopsError when it is missing or cannot be read)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as err:
            if _code(err) in ("404", "NoSuchKey", "NotFound"):
                raise MlopsError(f"s3://{bucket}/{key} does not exist",
                                 "nothing was published at that key",
                                 "check the URI `mlops artifact push` printed") from err
            raise MlopsError(f"could not read s3://{bucket}/{key}", str(err),
                             "check the credentials may s3:GetObject there") from err
        except BotoCoreError as err:
            raise MlopsError(f"could not read s3://{bucket}/{key}", str(err),
                             "check AWS credentials and AWS_ENDPOINT_URL "
                             "(`mlops cloud up` for the embedded AWS)") from err

    def put_new(self, bucket: str, key: str, body: bytes, *, content_type: str,
                metadata: Mapping[str, str] | None = None) -> bool:
        """Create the object only if the key is free (If-None-Match: *). False when
        another writer got there first."""
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type,
                                   Metadata=dict(metadata or {}), IfNoneMatch="*")
        except ClientError as err:
            if _code(err) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise MlopsError(f"could not write s3://{bucket}/{key}", str(err),
                             "check the credentials may s3:PutObject there") from err
        return True

    def get(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or None when there is no object."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body: bytes = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as err:
            if _code(err) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise MlopsError(f"could not read s3://{bucket}/{key}", str(err),
                             "check the credentials may s3:GetObject there") from err
        except BotoCoreError as err:
            raise MlopsError(f"could not read s3://{bucket}/{key}", str(err),
                             "check AWS_ENDPOINT_URL and the network") from err
        return body

    def write(self, bucket: str, key: str, body: bytes, *,
              content_type: str = "application/json") -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        except (ClientError, BotoCoreError) as err:
            raise MlopsError(f"could not write s3://{bucket}/{key}", str(err),
                             "check the credentials may s3:PutObject there") from err

    def delete(self, bucket: str, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as err:
            raise MlopsError(f"could not delete s3://{bucket}/{key}", str(err),
                             "check the credentials may s3:DeleteObject there") from err
