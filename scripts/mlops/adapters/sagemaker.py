"""SageMaker through boto3. Runtime: InvokeEndpoint, one outcome per call, never raising
for what the endpoint answered (a ModelError is an outcome, not a crash). Control plane:
endpoints, their weights and configs (`Endpoints`), for the canary and rollback commands."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops.adapters import aws
from mlops.errors import MlopsError

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


# ---------------------------------------------------------------------------------------
# The control plane: endpoints, their weights and configs
# ---------------------------------------------------------------------------------------

IN_PROGRESS = "Cannot update in-progress endpoint"


class EndpointBusy(MlopsError):
    """SageMaker refused an update because another one is in progress."""


@dataclass(frozen=True)
class VariantView:
    name: str
    desired_weight: float
    current_weight: float


@dataclass(frozen=True)
class EndpointView:
    """What DescribeEndpoint says, as mlops reads it."""

    name: str
    status: str
    failure_reason: str
    config: str
    pending_config: str  # "" unless an UpdateEndpoint is in flight
    variants: dict[str, VariantView]

    def weight(self, variant: str, *, current: bool = False) -> float:
        found = self.variants.get(variant)
        if found is None:
            return 0.0
        return found.current_weight if current else found.desired_weight


def _error(err: Any) -> tuple[str, str]:
    error = err.response.get("Error", {})
    return str(error.get("Code", "")), str(error.get("Message", ""))


class Endpoints:
    """SageMaker endpoints through one boto3 client (built once: a refreshable session from
    adapters.aws keeps it valid through a long promotion)."""

    def __init__(self, env: Mapping[str, str], client: Any = None) -> None:
        self.client = client or aws.client(env, "sagemaker")

    def describe(self, name: str) -> EndpointView | None:
        """The endpoint, or None when there is no endpoint by that name."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            data = self.client.describe_endpoint(EndpointName=name)
        except ClientError as err:
            code, message = _error(err)
            if code == "ValidationException" and "Could not find endpoint" in message:
                return None
            raise MlopsError(f"could not describe the endpoint {name}", message or code,
                             "check the credentials may sagemaker:DescribeEndpoint") from err
        except BotoCoreError as err:
            raise MlopsError(f"could not describe the endpoint {name}", str(err),
                             "check AWS_ENDPOINT_URL and the network") from err
        variants = {}
        for item in data.get("ProductionVariants") or []:
            current = float(item.get("CurrentWeight", 0.0) or 0.0)
            desired = item.get("DesiredWeight")
            variants[str(item["VariantName"])] = VariantView(
                str(item["VariantName"]), current if desired is None else float(desired),
                current)
        pending = (data.get("PendingDeploymentSummary") or {}).get("EndpointConfigName") or ""
        return EndpointView(str(data["EndpointName"]), str(data.get("EndpointStatus", "")),
                            str(data.get("FailureReason") or ""),
                            str(data.get("EndpointConfigName", "")), str(pending), variants)

    def _update(self, what: str, name: str, call: Any, **kwargs: Any) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            call(EndpointName=name, **kwargs)
        except ClientError as err:
            code, message = _error(err)
            if IN_PROGRESS in message:
                raise EndpointBusy(f"the endpoint {name} is being updated", message,
                                   "wait for it to be InService") from err
            raise MlopsError(f"SageMaker refused {what} on {name}", message or code,
                             "read SageMaker's message; check the endpoint's status") from err
        except BotoCoreError as err:
            raise MlopsError(f"could not call {what} on {name}", str(err),
                             "check AWS_ENDPOINT_URL and the network") from err

    def update_weights(self, name: str, weights: Mapping[str, float]) -> None:
        """UpdateEndpointWeightsAndCapacities (weights only; capacities are kept)."""
        self._update("UpdateEndpointWeightsAndCapacities", name,
                     self.client.update_endpoint_weights_and_capacities,
                     DesiredWeightsAndCapacities=[
                         {"VariantName": variant, "DesiredWeight": float(weight)}
                         for variant, weight in sorted(weights.items())])

    def update_config(self, name: str, config: str) -> None:
        """UpdateEndpoint to another EndpointConfig (weights become the config's)."""
        self._update("UpdateEndpoint", name, self.client.update_endpoint,
                     EndpointConfigName=config)

    def config_variants(self, config: str) -> dict[str, str] | None:
        """{variant: model name} of an EndpointConfig, or None when it does not exist."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            data = self.client.describe_endpoint_config(EndpointConfigName=config)
        except ClientError as err:
            code, message = _error(err)
            if code == "ValidationException" and "Could not find" in message:
                return None
            raise MlopsError(f"could not describe the endpoint configuration {config}",
                             message or code, "check the credentials may "
                             "sagemaker:DescribeEndpointConfig") from err
        except BotoCoreError as err:
            raise MlopsError(f"could not describe the endpoint configuration {config}",
                             str(err), "check AWS_ENDPOINT_URL and the network") from err
        return {str(v["VariantName"]): str(v.get("ModelName", ""))
                for v in data.get("ProductionVariants") or []}
