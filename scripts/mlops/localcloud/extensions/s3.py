"""S3 GetBucketLifecycleConfiguration returns the configuration as it was put.

The S3 API reference: GetBucketLifecycleConfiguration "Returns the lifecycle configuration
information set on the bucket", and the `x-amz-transition-default-minimum-object-size`
response header is the value set by PutBucketLifecycleConfiguration (default
`all_storage_classes_128K`). moto 5.2.5 rebuilds the rules from its own model and drops
what that model lacks: NoncurrentVersionExpiration.NewerNoncurrentVersions, the
ObjectSizeGreaterThan/ObjectSizeLessThan filters (also inside And), and it always reports
`all_storage_classes_128K`. The Terraform provider waits after every put until the
read-back rules are deeply equal to what it sent, so each of those gaps turned an apply
into a 3-minute timeout. We keep moto's model (it still validates the put) and answer the
read from the rules as they were put, shaped by the botocore model of the output.

Not fixable server-side, and the same against real S3: the provider polls 10 times, 5 s
apart, after a 10 s delay (`waitLifecycleConfigEquals`), so creating or updating an
`aws_s3_bucket_lifecycle_configuration` always takes about 55 s.
"""

from __future__ import annotations

import copy
import weakref
from datetime import datetime
from typing import Any

MIN_SIZE_HEADER = "x-amz-transition-default-minimum-object-size"
DEFAULT_MIN_SIZE = "all_storage_classes_128K"


class Stored:
    def __init__(self, rules: list[dict[str, Any]], min_size: str) -> None:
        self.rules = rules
        self.min_size = min_size


# Per moto FakeBucket: dropped with the bucket, and by `/moto-api/reset`.
_STORED: weakref.WeakKeyDictionary[Any, Stored] = weakref.WeakKeyDictionary()


def from_xml(value: Any, shape: Any) -> Any:
    """A value parsed by xmltodict (as moto parses the put body) -> the botocore shape's
    Python form, the form moto's serializer writes back as XML."""
    kind = shape.type_name
    if kind == "structure":
        value = value if isinstance(value, dict) else {}
        out = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            if key in value:
                out[name] = from_xml(value[key], member)
        return out
    if kind == "list":
        if not shape.serialization.get("flattened"):
            value = (value or {}).get(shape.member.serialization.get("name", "member"), [])
        items = value if isinstance(value, list) else [value]
        return [from_xml(item, shape.member) for item in items]
    return _scalar(value, kind)


def _scalar(value: Any, kind: str) -> Any:
    text = "" if value is None else str(value)
    if kind in ("integer", "long"):
        return int(text)
    if kind == "boolean":
        return text.lower() == "true"
    if kind == "timestamp":
        return datetime.fromisoformat(text)
    return text


def install() -> None:
    from moto.s3.models import S3Backend
    from moto.s3.responses import S3Response

    if getattr(S3Backend, "_mlops_patched", False):
        return
    original_put = S3Backend.put_bucket_lifecycle_configuration
    original_get = S3Response.get_bucket_lifecycle
    original_bucket_put = S3Response._bucket_response_put

    def put_bucket_lifecycle_configuration(self: Any, bucket_name: str,
                                           rules: list[dict[str, Any]]) -> None:
        as_put = copy.deepcopy(rules)  # moto normalises the dicts in place
        original_put(self, bucket_name, rules)
        _STORED[self.get_bucket(bucket_name)] = Stored(as_put, DEFAULT_MIN_SIZE)

    def bucket_response_put(self: Any, request: Any, bucket_name: str,
                            querystring: dict[str, Any]) -> Any:
        result = original_bucket_put(self, request, bucket_name, querystring)
        size = request.headers.get(MIN_SIZE_HEADER)
        if "lifecycle" in querystring and size:
            stored = _STORED.get(self.backend.get_bucket(bucket_name))
            if stored is not None:
                stored.min_size = size
        return result

    def get_bucket_lifecycle(self: Any) -> Any:
        from moto.core.responses import ActionResult
        from moto.core.utils import get_service_model

        bucket = self.backend.get_bucket(self.bucket_name)
        stored = _STORED.get(bucket)
        if not bucket.rules or stored is None:
            return original_get(self)
        self.data["Action"] = "GetBucketLifecycleConfiguration"
        output = get_service_model("s3").operation_model(
            "GetBucketLifecycleConfiguration").output_shape
        result = {"Rules": [from_xml(rule, output.members["Rules"].member)
                            for rule in stored.rules],
                  "TransitionDefaultMinimumObjectSize": stored.min_size}
        return self.serialized(ActionResult(result))

    setattr(S3Backend, "put_bucket_lifecycle_configuration",  # noqa: B010
            put_bucket_lifecycle_configuration)
    setattr(S3Response, "_bucket_response_put", bucket_response_put)  # noqa: B010
    setattr(S3Response, "get_bucket_lifecycle", get_bucket_lifecycle)  # noqa: B010
    setattr(S3Backend, "_mlops_patched", True)  # noqa: B010
