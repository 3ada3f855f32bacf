"""`model-server unpack` (the init container's verify-and-unpack step) and
`model-server batch` (the CronJob) as real processes; batch against the embedded S3."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "model_server", *argv], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120,
                          check=False)


def uri(sha: str) -> str:
    return f"s3://mlops-demo-dev-artifacts/models/{sha}/model.tar.gz"


def test_unpack_writes_the_verified_files_read_only(train_model: Any, tmp_path: Path) -> None:
    model = train_model(1)
    result = run("unpack", "--archive", str(model.archive), "--uri", uri(model.sha256),
                 "--into", str(tmp_path / "model"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["manifest.json",
                                                                    "model.skops"]
    for path in (tmp_path / "model").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert json.loads(result.stdout.splitlines()[-1])["event"] == "unpacked"


def test_unpack_refuses_an_archive_that_is_not_the_released_one(train_model: Any,
                                                                tmp_path: Path) -> None:
    other = train_model(2)
    result = run("unpack", "--archive", str(other.archive), "--uri", uri(train_model(1).sha256),
                 "--into", str(tmp_path / "model"))
    assert result.returncode == 2
    assert "it is not the artifact that was released" in result.stderr
    assert not (tmp_path / "model").exists(), "nothing may be written on a mismatch"


def test_unpack_refuses_an_archive_with_more_than_the_artifact(train_model: Any,
                                                              tmp_path: Path) -> None:
    """A correct digest is not enough: the archive is read with the server's strict reader
    (exactly manifest.json and model.skops, regular files), never with `tar -x`."""
    members = {}
    with tarfile.open(train_model(1).archive) as tar:
        for info in tar:
            handle = tar.extractfile(info)
            assert handle is not None
            members[info.name] = handle.read()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in [*members.items(), ("../../etc/cron.d/x", b"* * * * * root id\n")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(gzip.compress(raw.getvalue()))
    import hashlib

    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    result = run("unpack", "--archive", str(archive), "--sha256", sha, "--into",
                 str(tmp_path / "model"))
    assert result.returncode == 2 and "unexpected file '../../etc/cron.d/x'" in result.stderr
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--uri", "s3://bucket/model.tar.gz", "is not a content-addressed artifact URI"),
    ("--sha256", "abc", "is not a sha256 hex digest"),
])
def test_unpack_bad_expectations(train_model: Any, tmp_path: Path, flag: str, value: str,
                                 message: str) -> None:
    result = run("unpack", "--archive", str(train_model(1).archive), flag, value, "--into",
                 str(tmp_path / "model"))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.cloud
def test_batch_predicts_every_object_under_the_prefix(cloud: Any, unique_name: str,
                                                      train_model: Any, tmp_path: Path) -> None:
    from mlops.adapters import training
    from model_server import artifact

    model_dir = train_model(1).unpacked(tmp_path / "model")
    rows = training.holdout_rows("breast_cancer")[:25]
    expected = artifact.load_dir(model_dir).estimator.predict(rows).tolist()
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=unique_name)
    csv = "".join(",".join(repr(v) for v in row) + "\n" for row in rows)
    inputs = {
        "batch/input/2026-11-30/a.csv": csv.encode(),
        "batch/input/2026-11-30/b.json": json.dumps({"instances": rows[:5]}).encode(),
        "batch/input/c.jsonl": "".join(json.dumps(r) + "\n" for r in rows[:3]).encode(),
        "batch/input/broken.csv": b"1,2,not-a-number\n",
        "batch/input/notes.txt": b"what is this",
    }
    for key, body in inputs.items():
        s3.put_object(Bucket=unique_name, Key=key, Body=body)

    result = run("batch", "--input", f"s3://{unique_name}/batch/input",
                 "--output", f"s3://{unique_name}/batch/output/", "--model-dir", str(model_dir),
                 env=cloud.env)
    assert result.returncode == 1, result.stderr  # two inputs failed; the others are written
    outputs = {o["Key"]: s3.get_object(Bucket=unique_name, Key=o["Key"])["Body"].read()
               for o in s3.list_objects_v2(Bucket=unique_name,
                                           Prefix="batch/output/").get("Contents", [])}
    assert outputs == {
        "batch/output/2026-11-30/a.csv.out": "".join(f"{p}\n" for p in expected).encode(),
        "batch/output/2026-11-30/b.json.out": json.dumps({"predictions": expected[:5]}).encode(),
        "batch/output/c.jsonl.out": "".join(f"{p}\n" for p in expected[:3]).encode(),
    }
    log = [json.loads(line) for line in result.stdout.splitlines()]
    failed = {line["key"]: line["error"] for line in log if line["event"] == "batch_object_failed"}
    assert set(failed) == {"batch/input/broken.csv", "batch/input/notes.txt"}
    assert "'not-a-number' is not a number" in failed["batch/input/broken.csv"]
    assert "name it .csv, .json or .jsonl" in failed["batch/input/notes.txt"]
    assert log[-1]["event"] == "batch_finished"
    assert (log[-1]["objects"], log[-1]["failed"], log[-1]["predictions"]) == (3, 2, 33)


@pytest.mark.parametrize(("argv", "message"), [
    (["--input", "s3://b1x/in/", "--output", "s3://b1x/in/out/"], "overlaps --input"),
    (["--input", "/local/path", "--output", "s3://b1x/out/"], "is not an s3://bucket/prefix/"),
], ids=["overlap", "not-s3"])
def test_batch_refuses_bad_prefixes(train_model: Any, tmp_path: Path, argv: list[str],
                                    message: str) -> None:
    model_dir = train_model(1).unpacked(tmp_path / "model")
    result = run("batch", *argv, "--model-dir", str(model_dir))
    assert result.returncode == 2 and message in result.stderr, result.stderr
