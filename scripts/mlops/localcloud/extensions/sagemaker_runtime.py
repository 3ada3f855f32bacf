"""SageMaker Runtime InvokeEndpoint on the hosted variants, with the AWS/SageMaker metrics.

moto 5.2.5 answers InvokeEndpoint with canned results and no metrics. We reproduce (SageMaker
Runtime API reference, InvokeEndpoint, and "Amazon SageMaker AI metrics in CloudWatch"):

- Routing: the request goes to a production variant by its current weight; "TargetVariant
  ... overrides the default behavior for the endpoint, which is to distribute the
  invocation traffic based on the variant weights." The answer names the variant in
  `X-Amzn-Invoked-Production-Variant`. Weighted routing is smooth weighted round-robin:
  each variant's share of any run of requests equals weight / sum of weights (AWS does
  not document its algorithm, only the proportions).
- The body, Content-Type and Accept go to the variant's container (`POST /invocations`);
  its answer comes back as is. A 4xx or 5xx from the container is `ModelError` (HTTP 424:
  "Model (owned by the customer in the container) returned 4xx or 5xx error code.") with
  OriginalStatusCode, OriginalMessage and LogStreamArn.
- An unknown endpoint is `ValidationError` (400) "Endpoint <name> of account <id> not
  found."; one with no serving fleet yet (Creating) or no such TargetVariant is a
  `ValidationError` too.
- Metrics, namespace AWS/SageMaker, dimensions EndpointName and VariantName, for every
  request that reached a model: Invocations ("The number of InvokeEndpoint requests
  sent to a model endpoint"), Invocation4XXErrors / Invocation5XXErrors ("The number of
  InvokeEndpoint requests where the model returned a 4xx / 5xx HTTP response code"; 0 or
  1 per request, so Average is the error rate), ModelLatency ("The interval of time
  taken by a model to respond ... includes the local communication times"),
  OverheadLatency (the rest of our handling), both in microseconds.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

NAMESPACE = "AWS/SageMaker"
TARGET_HEADER = "X-Amzn-SageMaker-Target-Variant"
VARIANT_HEADER = "x-Amzn-Invoked-Production-Variant"
MODEL_TIMEOUT = 60.0  # "Your model must respond to requests within 60 seconds"


class SmoothWeightedRoundRobin:
    """Per endpoint and variant set: nginx's smooth weighted round-robin."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current: dict[Any, dict[str, float]] = {}

    def choose(self, key: Any, weights: Sequence[tuple[str, float]]) -> str | None:
        live = [(name, weight) for name, weight in weights if weight > 0]
        if not live:
            return None
        total = sum(weight for _, weight in live)
        state_key = (key, tuple(sorted(live)))
        with self.lock:
            current = self.current.setdefault(state_key, {name: 0.0 for name, _ in live})
            for name, weight in live:
                current[name] += weight
            chosen = max(sorted(current), key=lambda name: current[name])
            current[chosen] -= total
        return chosen


ROUTER = SmoothWeightedRoundRobin()


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
           **extra: Any) -> tuple[int, dict[str, str], str]:
    body = json.dumps({"message": message, **extra})
    # moto takes the status from the "status" header of a handler's answer
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": code,
                    "status": str(status), **(headers or {})}, body


def _put_metrics(account: str, region: str, endpoint: str, variant: str, status: int,
                 model_us: float, overhead_us: float) -> None:
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core.utils import utcnow

    now = utcnow()
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    data = [
        ("Invocations", 1.0, "None"),
        ("Invocation4XXErrors", 1.0 if 400 <= status < 500 else 0.0, "None"),
        ("Invocation5XXErrors", 1.0 if status >= 500 else 0.0, "None"),
        ("ModelLatency", model_us, "Microseconds"),
        ("OverheadLatency", overhead_us, "Microseconds"),
    ]
    cloudwatch_backends[account][region].put_metric_data(NAMESPACE, [
        {"MetricName": name, "Value": value, "Unit": unit, "Dimensions": dims, "Timestamp": now}
        for name, value, unit in data])


def invoke_endpoint(self: Any) -> tuple[int, dict[str, str], Any]:
    from moto.sagemaker.models import sagemaker_backends

    from mlops.localcloud.extensions import sagemaker

    received = time.perf_counter()
    account, region = self.current_account, self.region
    name = self.path.split("/")[2] if self.path.count("/") >= 3 else ""
    backend = sagemaker_backends[account][region]
    lifecycle, host = sagemaker.lifecycle(), sagemaker.hosting()
    if lifecycle is None or host is None:
        return _error(400, "ValidationError", "mlops localcloud: hosting is not installed")
    with lifecycle.lock:
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            return _error(400, "ValidationError", f"Endpoint {name} of account {account} "
                                                  "not found.")
        lifecycle.settle(endpoint)
        config = endpoint.endpoint_config_name
        weights = [(v["VariantName"], float(v.get("CurrentWeight", 0.0)))
                   for v in endpoint.production_variants]
        status = endpoint.endpoint_status
    key = (account, region, name)
    fleet = next((f for f in host.active(key) if f.config == config and f.is_ready()), None)
    if fleet is None:
        return _error(400, "ValidationError",
                      f"Endpoint {name} of account {account} is not ready to serve (status "
                      f"{status}); wait for InService.")
    target = self.headers.get(TARGET_HEADER)
    if target:
        if target not in fleet.variants:
            return _error(400, "ValidationError",
                          f"Variant {target} not found for endpoint {name}; its variants are "
                          f"{', '.join(sorted(fleet.variants))}.")
        chosen: str | None = target
    else:
        chosen = ROUTER.choose((*key, config), weights)
    if chosen is None or chosen not in fleet.variants:
        return _error(400, "ValidationError",
                      f"Endpoint {name} has no variant with a weight above 0 to route to.")
    variant = fleet.variants[chosen]
    raw = getattr(self, "raw_body", None)  # moto decodes .body as UTF-8; bytes stay bytes here
    body = raw if isinstance(raw, bytes) else str(self.body or "").encode()
    headers = {"Content-Type": self.headers.get("Content-Type") or "application/json"}
    if self.headers.get("Accept"):
        headers["Accept"] = self.headers["Accept"]
    request = urllib.request.Request(variant.url + "/invocations", data=body, headers=headers,
                                     method="POST")
    sent = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=MODEL_TIMEOUT) as resp:
            code, answer = resp.status, resp.read()
            content_type = resp.headers.get("Content-Type", "application/json")
    except urllib.error.HTTPError as err:
        code, answer, content_type = err.code, err.read(), "application/json"
    except (OSError, urllib.error.URLError) as err:
        code, answer, content_type = 502, f"the model server did not answer: {err}".encode(), ""
    answered = time.perf_counter()
    model_us = (answered - sent) * 1e6
    overhead_us = ((sent - received) + (time.perf_counter() - answered)) * 1e6
    _put_metrics(account, region, name, chosen, code, model_us, overhead_us)
    invoked = {VARIANT_HEADER: chosen}
    if code >= 400:
        kind = "client" if code < 500 else "server"
        original = answer.decode("utf-8", errors="replace")[:2048]
        log_stream = (f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/"
                      f"{name}:log-stream:{chosen}/{variant.log}")
        return _error(424, "ModelError",
                      f'Received {kind} error ({code}) from primary with message "{original}". '
                      f"See the log {variant.log} (embedded AWS) for more information.",
                      invoked, OriginalStatusCode=code, OriginalMessage=original,
                      LogStreamArn=log_stream)
    return 200, {"Content-Type": content_type, **invoked}, answer


def install() -> None:
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    if getattr(SageMakerRuntimeResponse, "_mlops_patched", False):
        return
    setattr(SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint)  # noqa: B010
    setattr(SageMakerRuntimeResponse, "_mlops_patched", True)  # noqa: B010
