"""Deployment records in the state bucket (format and keys: core/deployments.py)."""

from __future__ import annotations

from typing import Any

from mlops.core import deployments
from mlops.core.deployments import Record
from mlops.errors import MlopsError


class RecordError(MlopsError):
    """Deployment records could not be read or written."""


def _code(err: Any) -> str:
    return str(getattr(err, "response", {}).get("Error", {}).get("Code", ""))


class DeploymentLog:
    def __init__(self, s3: Any, bucket: str, env: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.env = env

    def write(self, record: Record) -> str:
        """Append the record (never overwriting one) and make it the latest; its key."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = record.key()
        body = record.to_json().encode()
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body,
                               ContentType="application/json", IfNoneMatch="*")
            self.s3.put_object(Bucket=self.bucket, Key=deployments.latest_key(self.env),
                               Body=body, ContentType="application/json")
        except (ClientError, BotoCoreError) as err:
            raise RecordError(
                f"could not write the deployment record s3://{self.bucket}/{key}", str(err),
                "check the apply role may s3:PutObject under "
                f"{deployments.env_prefix(self.env)} in the state bucket") from err
        return key

    def latest(self) -> Record | None:
        """The newest record, in one call."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = deployments.latest_key(self.env)
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as err:
            if _code(err) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise RecordError(f"could not read s3://{self.bucket}/{key}", str(err),
                              "check the role may s3:GetObject on it") from err
        except BotoCoreError as err:
            raise RecordError(f"could not read s3://{self.bucket}/{key}", str(err),
                              "check AWS_ENDPOINT_URL and the network") from err
        return self._parse(key, body)

    def history(self, limit: int = 200) -> list[Record]:
        """Records, newest first (at most `limit`)."""
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = deployments.records_prefix(self.env)
        keys: list[str] = []
        try:
            paginator = self.s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix,
                                           PaginationConfig={"MaxItems": limit}):
                keys += [obj["Key"] for obj in page.get("Contents", [])]
            records = []
            for key in deployments.newest_first(keys, self.env)[:limit]:
                body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                records.append(self._parse(key, body))
        except (ClientError, BotoCoreError) as err:
            raise RecordError(f"could not read the deployment records under s3://"
                              f"{self.bucket}/{prefix}", str(err),
                              "check the role may s3:ListBucket and s3:GetObject there") from err
        return records

    def _parse(self, key: str, body: bytes) -> Record:
        try:
            return Record.from_json(body)
        except ValueError as err:
            raise RecordError(f"s3://{self.bucket}/{key} is not a deployment record", str(err),
                              "it was written by something else; move it out of the way"
                              ) from err
