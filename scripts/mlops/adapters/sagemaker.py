"""SageMaker through boto3. Runtime: InvokeEndpoint, one outcome per call, never raising
for what the endpoint answered (a ModelError is an outcome, not a crash)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops.adapters import aws

VARIANT_HEADER = "x-amzn-invoked-production-variant"


@dataclass(frozen=True)
class Invocation:
    ok: bool
    variant: str  # the variant that answered ("" when none did)
    status: int  # HTTP status of InvokeEndpoint (200, 424 for ModelError, ...)
    error: str  # "" or the AWS error code (ModelError, ValidationError, ...)
    message: str
    latency_ms: float
    body: bytes = b""


class Runtime:
    """A sagemaker-runtime client for many concurrent invocations (no SDK retries: a
    load test must see every failure)."""

    def __init__(self, env: Mapping[str, str], max_connections: int = 10) -> None:
        from botocore.config import Config

        config = Config(retries={"max_attempts": 1, "mode": "standard"},
                        max_pool_connections=max_connections, connect_timeout=5,
                        read_timeout=70)
        self.client: Any = aws.session(env).client(
            "sagemaker-runtime", endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            config=config)

    def invoke(self, endpoint: str, body: bytes, *, content_type: str = "application/json",
               accept: str = "application/json", target_variant: str | None = None
               ) -> Invocation:
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs: dict[str, Any] = {"EndpointName": endpoint, "Body": body,
                                  "ContentType": content_type, "Accept": accept}
        if target_variant:
            kwargs["TargetVariant"] = target_variant
        started = time.perf_counter()
        try:
            response = self.client.invoke_endpoint(**kwargs)
            payload = response["Body"].read()
        except ClientError as err:
            elapsed = (time.perf_counter() - started) * 1000
            meta = err.response.get("ResponseMetadata", {})
            headers = {k.lower(): v for k, v in meta.get("HTTPHeaders", {}).items()}
            error = err.response.get("Error", {})
            return Invocation(False, headers.get(VARIANT_HEADER, ""),
                              int(meta.get("HTTPStatusCode", 0)), str(error.get("Code", "")),
                              str(error.get("Message", "")), elapsed)
        except BotoCoreError as err:
            elapsed = (time.perf_counter() - started) * 1000
            return Invocation(False, "", 0, type(err).__name__, str(err), elapsed)
        elapsed = (time.perf_counter() - started) * 1000
        return Invocation(True, str(response.get("InvokedProductionVariant", "")), 200, "", "",
                          elapsed, payload)
