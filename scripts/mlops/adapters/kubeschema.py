"""Built-in Kubernetes kinds against the API's own schemas, with kubernetes-validate
(pinned in pyproject.toml's `k8s` extra; its schemas are the ones published for each
Kubernetes minor version, strict: an unknown field is an error, as `kubectl apply
--validate=strict` would say)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops.errors import MlopsError


@dataclass(frozen=True)
class SchemaResult:
    status: str  # "valid", "invalid" or "unknown" (no schema for this apiVersion/kind)
    field: str = ""
    message: str = ""


def _module() -> Any:
    try:
        import kubernetes_validate
    except ImportError as err:
        raise MlopsError("kubernetes-validate is not installed",
                         "`mlops k8s check` validates built-in kinds with it",
                         "pip install -e '.[k8s]' (make setup installs it)") from err
    return kubernetes_validate


def field_path(path: Any) -> str:
    """jsonschema's absolute_path deque -> spec.template.spec.containers[0].image."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(object)"


def validate(obj: Mapping[str, Any], version: str) -> SchemaResult:
    kv = _module()
    try:
        kv.validate(dict(obj), version, strict=True)
    except kv.SchemaNotFoundError:
        return SchemaResult("unknown")
    except kv.ValidationError as err:
        message = str(err.message)
        if err.validator == "additionalProperties":
            message = message.replace("Additional properties are not allowed",
                                      "unknown field(s)")
        return SchemaResult("invalid", field_path(err.absolute_path), message)
    except kv.utils.VersionNotSupportedError as err:
        raise MlopsError(f"kubernetes-validate has no schemas for Kubernetes {version}",
                         str(err), "lower cluster.kubernetes_version in "
                         "policies/k8s/data/cluster.yaml, or raise the kubernetes-validate "
                         "pin") from err
    return SchemaResult("valid")
