"""S3 can delete every version of a key, delete markers included.

The S3 API reference, DeleteObjects: "If you specify a version ID of a delete marker, S3
removes the delete marker" — emptying a versioned bucket deletes object versions and delete
markers alike, which is what the AWS provider's `force_destroy` does before DeleteBucket.
When versioning is suspended (destroying `aws_s3_bucket_versioning` does that, before
the bucket goes), moto 5.2.5 deletes a key by popping all its versions and disposing of
each one's data buffer (`_VersionedKeyStore.pop`); its FakeDeleteMarker has no buffer and
no `dispose`, so the request crashed with AttributeError. A delete marker holds no data:
disposing of it is a no-op.
"""

from __future__ import annotations


def install() -> None:
    from moto.s3.models import FakeDeleteMarker

    def dispose(self: FakeDeleteMarker, garbage: bool = False) -> None:
        """Nothing to release: a delete marker has no data buffer."""

    if not hasattr(FakeDeleteMarker, "dispose"):
        setattr(FakeDeleteMarker, "dispose", dispose)  # noqa: B010 (patching moto)
