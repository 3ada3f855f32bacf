"""S3 lifecycle read-back and conditional writes (mlops/localcloud/extensions/s3.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.cloud

RULES: list[dict[str, Any]] = [
    {"ID": "empty-filter", "Status": "Enabled", "Filter": {},
     "NoncurrentVersionTransitions": [{"NoncurrentDays": 30, "StorageClass": "GLACIER"}]},
    {"ID": "newer-versions", "Status": "Enabled", "Filter": {"Prefix": ""},
     "NoncurrentVersionExpiration": {"NoncurrentDays": 90, "NewerNoncurrentVersions": 3}},
    {"ID": "and-size", "Status": "Enabled",
     "Filter": {"And": {"Prefix": "logs/", "ObjectSizeGreaterThan": 1024,
                        "Tags": [{"Key": "tier", "Value": "cold"}]}},
     "Transitions": [{"Days": 0, "StorageClass": "GLACIER_IR"}],
     "Expiration": {"Days": 365}},
    {"ID": "size-only", "Status": "Disabled", "Filter": {"ObjectSizeLessThan": 4096},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
]

ACQUIRE = """
import sys, boto3
from botocore.exceptions import ClientError
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
try:
    s3.put_object(Bucket=sys.argv[2], Key="state.tfstate.tflock", Body=sys.argv[3].encode(),
                  IfNoneMatch="*")
    print("acquired")
except ClientError as err:
    print(err.response["Error"]["Code"])
"""


def test_lifecycle_reads_back_as_put(cloud: Any, unique_name: str) -> None:
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=unique_name)
    s3.put_bucket_lifecycle_configuration(
        Bucket=unique_name, TransitionDefaultMinimumObjectSize="varies_by_storage_class",
        LifecycleConfiguration={"Rules": RULES})
    got = s3.get_bucket_lifecycle_configuration(Bucket=unique_name)
    assert got["Rules"] == RULES
    assert got["TransitionDefaultMinimumObjectSize"] == "varies_by_storage_class"


def test_lifecycle_delete_still_works(cloud: Any, unique_name: str) -> None:
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=unique_name)
    s3.put_bucket_lifecycle_configuration(Bucket=unique_name,
                                          LifecycleConfiguration={"Rules": RULES[:1]})
    s3.delete_bucket_lifecycle(Bucket=unique_name)
    with pytest.raises(ClientError) as excinfo:
        s3.get_bucket_lifecycle_configuration(Bucket=unique_name)
    assert excinfo.value.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"


def test_if_none_match_refuses_existing_object(cloud: Any, unique_name: str) -> None:
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=unique_name)
    s3.put_object(Bucket=unique_name, Key="k.tflock", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=unique_name, Key="k.tflock", Body=b"second", IfNoneMatch="*")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert excinfo.value.response["Error"]["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket=unique_name, Key="k.tflock")["Body"].read() == b"first"


def test_two_processes_cannot_hold_the_lock_at_once(cloud: Any, unique_name: str) -> None:
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=unique_name)
    procs = [subprocess.Popen([sys.executable, "-c", ACQUIRE, cloud.endpoint, unique_name,
                               json.dumps({"who": i})], stdout=subprocess.PIPE, text=True)
             for i in range(2)]
    outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outcomes == ["PreconditionFailed", "acquired"]
    s3.delete_object(Bucket=unique_name, Key="state.tfstate.tflock")  # unlock
    s3.put_object(Bucket=unique_name, Key="state.tfstate.tflock", Body=b"x", IfNoneMatch="*")


def test_emptying_a_versioned_bucket_deletes_delete_markers_too(
        cloud: Any, unique_name: str) -> None:
    """What force_destroy does after aws_s3_bucket_versioning is destroyed (which
    suspends versioning): DeleteObjects on every version and delete marker."""
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=unique_name)
    s3.put_bucket_versioning(Bucket=unique_name,
                             VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=unique_name, Key="state.tflock", Body=b"{}")
    s3.delete_object(Bucket=unique_name, Key="state.tflock")  # leaves a delete marker
    listed = s3.list_object_versions(Bucket=unique_name)
    targets = [{"Key": v["Key"], "VersionId": v["VersionId"]}
               for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]
    assert len(targets) == 2, listed
    s3.put_bucket_versioning(Bucket=unique_name,
                             VersioningConfiguration={"Status": "Suspended"})
    result = s3.delete_objects(Bucket=unique_name, Delete={"Objects": targets})
    assert not result.get("Errors"), result
    after = s3.list_object_versions(Bucket=unique_name)
    assert not after.get("Versions") and not after.get("DeleteMarkers"), after
    s3.delete_bucket(Bucket=unique_name)
