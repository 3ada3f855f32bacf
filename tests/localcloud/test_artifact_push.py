"""`mlops artifact push` against the embedded S3 (bucket given with --bucket; the
Terraform-output path is exercised by tests/terraform/test_envs_apply.py)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from mlops.cli import main

pytestmark = pytest.mark.cloud

ROOT = Path(__file__).resolve().parents[2]


def _push(cloud: Any, directory: Path, bucket: str) -> tuple[int, str, str]:
    env = {**cloud.env, "MLOPS_ROOT": str(ROOT)}
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["artifact", "push", str(directory), "--env", "dev", "--bucket", bucket], env)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def bucket(cloud: Any, unique_name: str) -> str:
    cloud.client("s3").create_bucket(Bucket=unique_name)
    return unique_name


def test_push_is_content_addressed_and_idempotent(cloud: Any, bucket: str,
                                                  train_model: Any) -> None:
    model = train_model(1)
    code, out, err = _push(cloud, model.dir, bucket)
    assert code == 0, err
    key = f"models/{model.sha256}/model.tar.gz"
    assert out.strip() == f"s3://{bucket}/{key}"
    s3 = cloud.client("s3")
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert listed == [f"models/{model.sha256}/{n}"
                      for n in ("metrics.json", "model.tar.gz", "provenance.json")]
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["Metadata"]["mlops-sha256"] == model.sha256
    assert head["Metadata"]["mlops-fault"] == "none"
    assert head["Metadata"]["mlops-data"].startswith("breast_cancer@")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == model.archive.read_bytes()
    versions = len(s3.list_object_versions(Bucket=bucket).get("Versions", []))

    code, out, err = _push(cloud, model.dir, bucket)
    assert code == 0 and out.strip() == f"s3://{bucket}/{key}"
    assert "already pushed" in err and "nothing written" in err
    assert len(s3.list_object_versions(Bucket=bucket).get("Versions", [])) == versions


def test_fault_injected_push_records_the_fault(cloud: Any, bucket: str,
                                              train_model: Any) -> None:
    faulty = train_model(3, "error-rate=0.5")
    code, out, err = _push(cloud, faulty.dir, bucket)
    assert code == 0 and out.strip().endswith(f"models/{faulty.sha256}/model.tar.gz"), err
    assert "FAULT-INJECTED: error-rate=0.5" in err
    head = cloud.client("s3").head_object(
        Bucket=bucket, Key=f"models/{faulty.sha256}/model.tar.gz")
    assert head["Metadata"]["mlops-fault"] == "error-rate=0.5"


def test_different_content_at_the_key_is_refused(cloud: Any, bucket: str,
                                                 train_model: Any) -> None:
    model = train_model(1)
    key = f"models/{model.sha256}/model.tar.gz"
    s3 = cloud.client("s3")
    s3.put_object(Bucket=bucket, Key=key, Body=b"something else entirely")
    code, out, err = _push(cloud, model.dir, bucket)
    assert code == 2 and not out
    assert f"error: s3://{bucket}/{key} already holds different content" in err
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"something else entirely"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key], (
        "nothing else may be written when the push is refused")


@pytest.mark.parametrize(("tamper", "message"), [
    ("truncate", "is not a readable gzip'd tar archive"),
    ("other-provenance", "provenance.json or metrics.json does not belong to"),
    ("missing", "lacks metrics.json"),
])
def test_a_damaged_directory_is_refused(cloud: Any, bucket: str, train_model: Any,
                                        tmp_path: Path, tamper: str, message: str) -> None:
    directory = tmp_path / "model"
    shutil.copytree(train_model(1).dir, directory)
    if tamper == "truncate":
        data = (directory / "model.tar.gz").read_bytes()
        (directory / "model.tar.gz").write_bytes(data[: len(data) // 2])
    elif tamper == "other-provenance":
        shutil.copy(train_model(2).dir / "provenance.json", directory / "provenance.json")
    else:
        (directory / "metrics.json").unlink()
    code, out, err = _push(cloud, directory, bucket)
    assert code == 2 and not out, err
    assert message in " ".join(err.split()), err
    assert "Traceback" not in err
    assert "Contents" not in cloud.client("s3").list_objects_v2(Bucket=bucket)


def test_missing_bucket_is_explained(cloud: Any, train_model: Any) -> None:
    code, _, err = _push(cloud, train_model(1).dir, "no-such-bucket-anywhere")
    assert code == 2 and "bucket no-such-bucket-anywhere does not exist" in err


def test_metrics_and_provenance_are_uploaded_as_written(cloud: Any, bucket: str,
                                                        train_model: Any) -> None:
    model = train_model(1)
    _push(cloud, model.dir, bucket)
    s3 = cloud.client("s3")
    for name in ("metrics.json", "provenance.json"):
        body = s3.get_object(Bucket=bucket, Key=f"models/{model.sha256}/{name}")["Body"].read()
        assert json.loads(body) == json.loads((model.dir / name).read_text())
