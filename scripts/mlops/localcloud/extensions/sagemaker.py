"""SageMaker endpoint lifecycle, as the SageMaker API reference describes it.

moto 5.2.5 creates endpoints already `InService`, has no UpdateEndpoint, lets a second
CreateEndpoint overwrite an endpoint, and zeroes instance counts on a weights-only
UpdateEndpointWeightsAndCapacities. What we reproduce (quotes from the API reference):

- UpdateEndpoint: "When SageMaker receives the request, it sets the endpoint status to
  Updating. After updating the endpoint, it sets the status to InService." While it
  updates, DescribeEndpoint keeps the old EndpointConfigName and shows the new one in
  PendingDeploymentSummary; a second update is refused with ValidationException
  "Cannot update in-progress endpoint".
- CreateEndpoint: status `Creating`, then `InService`; an existing name is refused with
  ValidationException "Cannot create already existing endpoint".
- ListEndpoints reports each endpoint's current `EndpointStatus` (and filters on it with
  StatusEquals), like DescribeEndpoint: a listing is a read, so it settles transitions too.
- UpdateEndpointWeightsAndCapacities: "When it receives the request, SageMaker sets the
  endpoint status to Updating. After updating the endpoint, it sets the status to
  InService." DesiredWeight changes at once, CurrentWeight when the update finishes;
  fields not in the request are kept.
- DescribeModel omits VpcConfig when the model has none (moto returns `{}`, which the
  Terraform provider reads as an empty vpc_config block: a diff on every plan).
- CreateModel keeps `EnableNetworkIsolation` ("Isolates the model container. No inbound or
  outbound network calls can be made to or from the model container."); moto always
  reports false, so a model created with it (ForceNew in the provider) was replaced on
  every plan.
- DeleteEndpointConfig: the reference says "You must not delete an EndpointConfig in use
  by an endpoint that is live or while the UpdateEndpoint or CreateEndpoint operations
  are being performed on the endpoint", but AWS does not enforce it. We do, on purpose,
  so a rollback config can never be lost: a deliberate safety divergence.

Hosting (localcloud/hosting.py): CreateEndpoint and UpdateEndpoint start the variants'
model servers on their artifacts, downloaded from the embedded S3. The endpoint goes
InService once `delay` has passed *and* every variant answers /ping; an artifact that is
missing or cannot be loaded turns it `Failed` with a FailureReason worded as AWS words it
("Failed to download model data for container ...", "... did not pass the ping health
check ..."). DescribeEndpoint: "Failed: Endpoint could not be created, updated, or
re-scaled. Use DescribeEndpointOutput$FailureReason for information about the failure."
A failed UpdateEndpoint leaves the previous fleet serving (blue/green: "SageMaker shifts
endpoint traffic to the new instances ... and then deletes the old instances") and the
endpoint Failed on its previous config; UpdateEndpoint (to any good config) recovers it.
The container image is not run: every variant is served by the project's model server
(a documented divergence). DeleteEndpoint, a reset and the cloud's shutdown stop them.

Transitions finish lazily: the status is settled whenever the endpoint is read or
changed, `delay` seconds after the transition started (and once its fleet is ready).
No background threads besides hosting's process spawner.
"""

from __future__ import annotations

import copy
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlops.localcloud.hosting import Fleet, Hosting

Variant = dict[str, Any]
Apply = Callable[[Any], None]

CREATING, UPDATING, IN_SERVICE, FAILED = "Creating", "Updating", "InService", "Failed"
Key = tuple[str, str, str]  # (account, region, endpoint name)
_HOSTING: list[Hosting] = []  # the cloud's one Hosting, set by install()
_LIFECYCLE: list[Lifecycle] = []  # and its endpoint lifecycle, for the runtime extension


def hosting() -> Hosting | None:
    return _HOSTING[0] if _HOSTING else None


def lifecycle() -> Lifecycle | None:
    return _LIFECYCLE[0] if _LIFECYCLE else None


@dataclass
class Transition:
    status: str
    done_at: float
    apply: Apply
    pending_config: str | None = None
    started: Any = None
    fleet: Fleet | None = None  # the variant processes this transition waits for
    key: Key | None = None


@dataclass
class Lifecycle:
    """Per-server state: the transition each endpoint is in, keyed weakly by the moto
    endpoint object so `/moto-api/reset` drops it together with the endpoint."""

    delay: float
    lock: threading.RLock = field(default_factory=threading.RLock)
    transitions: weakref.WeakKeyDictionary[Any, Transition] = field(
        default_factory=weakref.WeakKeyDictionary)
    # Test knob (not AWS behaviour): endpoint name -> monotonic time before which none of
    # its transitions may finish, so a test can see an update stay `Updating`. Set through
    # POST /_mlops/sagemaker/hold (localcloud/wsgi.py Knobs); see docs/localcloud.md.
    holds: dict[str, float] = field(default_factory=dict)

    def hold(self, endpoint_name: str, seconds: float) -> None:
        with self.lock:
            if seconds > 0:
                self.holds[endpoint_name] = time.monotonic() + seconds
            else:
                self.holds.pop(endpoint_name, None)

    def begin(self, endpoint: Any, status: str, apply: Apply,
              pending_config: str | None = None, fleet: Fleet | None = None,
              key: Key | None = None) -> None:
        from moto.core.utils import utcnow

        endpoint.endpoint_status = status
        endpoint.last_modified_time = utcnow()
        self.transitions[endpoint] = Transition(status, time.monotonic() + self.delay, apply,
                                                pending_config, endpoint.last_modified_time,
                                                fleet, key)

    def settle(self, endpoint: Any) -> Transition | None:
        """Finish the endpoint's transition if its time has come (and its fleet answers);
        return what is left."""
        from moto.core.utils import utcnow

        transition = self.transitions.get(endpoint)
        held_until = self.holds.get(getattr(endpoint, "endpoint_name", ""), 0.0)
        if transition is None or time.monotonic() < max(transition.done_at, held_until):
            return transition
        fleet, host = transition.fleet, hosting()
        if fleet is not None and host is not None and transition.key is not None:
            reason = fleet.failure()
            if reason is None and not fleet.is_ready():
                return transition  # the model servers are still starting
            if reason is not None:
                host.discard(transition.key, fleet)
                endpoint.endpoint_status = FAILED
                endpoint.failure_reason = reason
                endpoint.last_modified_time = utcnow()
                del self.transitions[endpoint]
                return None
            host.retire(transition.key, keep=fleet)  # the new fleet takes all traffic
        transition.apply(endpoint)
        endpoint.endpoint_status = IN_SERVICE
        endpoint.failure_reason = None
        endpoint.last_modified_time = utcnow()
        del self.transitions[endpoint]
        return None

    def in_use(self, config_name: str, endpoints: dict[str, Any]) -> list[str]:
        users = []
        for name, endpoint in endpoints.items():
            pending = self.transitions.get(endpoint)
            if config_name in (endpoint.endpoint_config_name,
                               pending.pending_config if pending else None):
                users.append(name)
        return sorted(users)


def variants_from_config(config_variants: list[Variant]) -> list[Variant]:
    """DescribeEndpoint's ProductionVariants for a freshly deployed EndpointConfig.
    InitialVariantWeight defaults to 1.0 (API reference, ProductionVariant)."""
    variants = []
    for source in config_variants:
        weight = float(source.get("InitialVariantWeight", 1.0))
        variant: Variant = {"VariantName": source["VariantName"],
                            "CurrentWeight": weight, "DesiredWeight": weight}
        count = source.get("InitialInstanceCount")
        if count is not None:
            variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"] = int(count)
        if source.get("ServerlessConfig"):
            variant["CurrentServerlessConfig"] = source["ServerlessConfig"]
            variant["DesiredServerlessConfig"] = source["ServerlessConfig"]
        variants.append(variant)
    return variants


def desired_variants(current: list[Variant], desired: list[Variant]) -> list[Variant]:
    """Current variants with the requested DesiredWeight/DesiredInstanceCount applied."""
    by_name = {d["VariantName"]: d for d in desired}
    result = copy.deepcopy(current)
    for variant in result:
        wanted = by_name.get(variant["VariantName"], {})
        if wanted.get("DesiredWeight") is not None:
            variant["DesiredWeight"] = float(wanted["DesiredWeight"])
        if wanted.get("DesiredInstanceCount") is not None:
            variant["DesiredInstanceCount"] = int(wanted["DesiredInstanceCount"])
    return result


def current_from_desired(variants: list[Variant]) -> list[Variant]:
    result = copy.deepcopy(variants)
    for variant in result:
        variant["CurrentWeight"] = variant["DesiredWeight"]
        if "DesiredInstanceCount" in variant:
            variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"]
    return result


def install(delay: float, host: Hosting | None = None) -> None:
    from moto.sagemaker.models import Model, SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    if getattr(SageMakerModelBackend, "_mlops_patched", False):
        return
    if host is not None:
        _HOSTING[:] = [host]
    lifecycle = Lifecycle(delay)
    _LIFECYCLE[:] = [lifecycle]
    _patch_backend(SageMakerModelBackend, lifecycle)
    _patch_model(Model)
    setattr(SageMakerResponse, "update_endpoint", _update_endpoint_response)  # noqa: B010
    setattr(SageMakerResponse, "create_model",  # noqa: B010
            _create_model_response(SageMakerResponse.create_model))
    setattr(SageMakerModelBackend, "_mlops_patched", True)  # noqa: B010


def _update_endpoint_response(self: Any) -> Any:
    from moto.core.responses import ActionResult

    arn = self.sagemaker_backend.update_endpoint(
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
    )
    return ActionResult({"EndpointArn": arn})


def _create_model_response(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def create_model(self: Any) -> Any:
        result = original(self)
        model = self.sagemaker_backend.describe_model(self._get_param("ModelName"))
        model.enable_network_isolation = bool(self._get_param("EnableNetworkIsolation", False))
        return result

    return create_model


def _patch_model(model_cls: Any) -> None:
    original = model_cls.response_object

    def response_object(self: Any) -> dict[str, Any]:
        response: dict[str, Any] = original.fget(self)
        if not response.get("VpcConfig"):
            response.pop("VpcConfig", None)
        return response

    model_cls.response_object = property(response_object)


def _patch_backend(backend_cls: Any, lifecycle: Lifecycle) -> None:
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig

    original_create = backend_cls.create_endpoint
    original_describe = backend_cls.describe_endpoint
    original_delete = backend_cls.delete_endpoint
    original_delete_config = backend_cls.delete_endpoint_config
    original_list = backend_cls.list_endpoints
    original_reset = backend_cls.reset

    def endpoint_arn(self: Any, name: str) -> str:
        return str(FakeEndpoint.arn_formatter(name, self.account_id, self.region_name))

    def find_settled(self: Any, name: str, *, allow_failed: bool = False) -> Any:
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise ValidationError(message=f'Could not find endpoint "{endpoint_arn(self, name)}".')
        lifecycle.settle(endpoint)
        if endpoint.endpoint_status == FAILED and not allow_failed:
            raise ValidationError(
                message=f'Cannot update endpoint "{endpoint.arn}" in Failed status: '
                f"{endpoint.failure_reason}")
        if endpoint.endpoint_status not in (IN_SERVICE, FAILED):
            raise ValidationError(
                message=f'Cannot update in-progress endpoint "{endpoint.arn}".')
        return endpoint

    def start_fleet(self: Any, endpoint_name: str, config: Any) -> tuple[Fleet | None, Key]:
        key = (self.account_id, self.region_name, endpoint_name)
        host = hosting()
        if host is None:
            return None, key
        models = {}
        for variant in config.production_variants:
            model = self._models.get(variant.get("ModelName"))
            container = (model.primary_container or {}) if model is not None else {}
            models[variant["VariantName"]] = str(container.get("ModelDataUrl") or "")
        return host.start(key, config.endpoint_config_name, models,
                          _s3_reader(self.account_id, self.partition)), key

    def create_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str,
                        tags: list[dict[str, str]]) -> Any:
        with lifecycle.lock:
            if endpoint_name in self.endpoints:
                raise ValidationError(message="Cannot create already existing endpoint "
                                      f'"{endpoint_arn(self, endpoint_name)}".')
            endpoint = original_create(self, endpoint_name, endpoint_config_name, tags)
            config = self.endpoint_configs[endpoint_config_name]
            endpoint.production_variants = variants_from_config(config.production_variants)
            fleet, key = start_fleet(self, endpoint_name, config)
            lifecycle.begin(endpoint, CREATING, lambda e: None, fleet=fleet, key=key)
            return endpoint

    def describe_endpoint(self: Any, endpoint_name: str) -> dict[str, Any]:
        with lifecycle.lock:
            endpoint = self.endpoints.get(endpoint_name)
            transition = lifecycle.settle(endpoint) if endpoint is not None else None
            response: dict[str, Any] = original_describe(self, endpoint_name)
            if transition is not None and transition.pending_config:
                response["PendingDeploymentSummary"] = {
                    "EndpointConfigName": transition.pending_config,
                    "StartTime": transition.started,
                }
            return response

    def list_endpoints(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lifecycle.lock:
            for endpoint in list(self.endpoints.values()):
                lifecycle.settle(endpoint)
            return original_list(self, *args, **kwargs)

    def update_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str) -> str:
        with lifecycle.lock:
            endpoint = find_settled(self, endpoint_name, allow_failed=True)
            config = self.endpoint_configs.get(endpoint_config_name)
            if config is None:
                arn = FakeEndpointConfig.arn_formatter(endpoint_config_name, self.account_id,
                                                       self.region_name)
                raise ValidationError(message=f'Could not find endpoint configuration "{arn}".')
            variants = variants_from_config(config.production_variants)

            def swap(target: Any) -> None:
                target.endpoint_config_name = endpoint_config_name
                target.production_variants = variants

            fleet, key = start_fleet(self, endpoint_name, config)
            lifecycle.begin(endpoint, UPDATING, swap, pending_config=endpoint_config_name,
                            fleet=fleet, key=key)
            return str(endpoint.arn)

    def update_endpoint_weights_and_capacities(
            self: Any, endpoint_name: str,
            desired_weights_and_capacities: list[dict[str, Any]]) -> str:
        with lifecycle.lock:
            endpoint = find_settled(self, endpoint_name)
            _check_variant_names(endpoint, desired_weights_and_capacities)
            endpoint.production_variants = desired_variants(
                endpoint.production_variants, desired_weights_and_capacities)

            def finish(target: Any) -> None:
                target.production_variants = current_from_desired(target.production_variants)

            lifecycle.begin(endpoint, UPDATING, finish)
            return str(endpoint.arn)

    def delete_endpoint_config(self: Any, endpoint_config_name: str) -> None:
        with lifecycle.lock:
            users = lifecycle.in_use(endpoint_config_name, self.endpoints)
            if users:
                raise ValidationError(
                    message=f"Cannot delete endpoint configuration {endpoint_config_name!r}: "
                    f"it is in use by endpoint(s) {', '.join(users)}. The embedded AWS "
                    "refuses this so rollback configs are never lost; update or delete "
                    "the endpoint first.")
            original_delete_config(self, endpoint_config_name)

    def delete_endpoint(self: Any, endpoint_name: str) -> None:
        with lifecycle.lock:
            endpoint = self.endpoints.get(endpoint_name)
            original_delete(self, endpoint_name)
            if endpoint is not None:
                lifecycle.transitions.pop(endpoint, None)
            host = hosting()
            if host is not None:
                host.retire((self.account_id, self.region_name, endpoint_name), None)

    def reset(self: Any) -> None:
        host = hosting()
        if host is not None:
            host.stop_backend(self.account_id, self.region_name)
        original_reset(self)

    for func in (create_endpoint, describe_endpoint, list_endpoints, update_endpoint,
                 update_endpoint_weights_and_capacities, delete_endpoint_config,
                 delete_endpoint, reset):
        setattr(backend_cls, func.__name__, func)


def _s3_reader(account_id: str, partition: str) -> Callable[[str], bytes]:
    """s3://bucket/key -> the object's bytes, from the embedded S3 (this process's moto
    backend, as SageMaker reads the artifact with the model's role); KeyError if absent."""

    def fetch(url: str) -> bytes:
        from moto.s3.exceptions import MissingBucket
        from moto.s3.models import s3_backends

        bucket, _, key = url.removeprefix("s3://").partition("/")
        if not url.startswith("s3://") or not bucket or not key:
            raise KeyError(url)
        try:
            found = s3_backends[account_id][partition].get_object(bucket, key)
        except MissingBucket as err:
            raise KeyError(url) from err
        if found is None:
            raise KeyError(url)
        return bytes(found.value)

    return fetch


def _check_variant_names(endpoint: Any, desired: list[dict[str, Any]]) -> None:
    """moto's own validation messages for UpdateEndpointWeightsAndCapacities."""
    from moto.sagemaker.exceptions import AWSValidationException

    known = {v["VariantName"] for v in endpoint.production_variants}
    seen: set[str] = set()
    for item in desired:
        name = item.get("VariantName")
        if name in seen:
            raise AWSValidationException(
                f'The variant name "{name}" was non-unique within the request.')
        if name not in known:
            raise AWSValidationException(
                f'The variant name(s) "{name}" is/are not present within endpoint '
                f'configuration "{endpoint.endpoint_config_name}".')
        seen.add(str(name))
