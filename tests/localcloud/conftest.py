"""Fixtures for the hosting, runtime and alarm tests of the embedded AWS.

- `artifacts`: a bucket in the worker's cloud holding real trained models (`mlops train`):
  `artifacts.url("v1")` (seed 1), "v2" (seed 2), "faulty" (seed 3, error-rate 0.5),
  "pickled" (a model.tar.gz whose model is a pickle: unloadable), "missing" (no object);
(`processes`, the model servers a cloud started, is in tests/conftest.py.)
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

MODELS = {"v1": (1, None), "v2": (2, None), "faulty": (3, "error-rate=0.5")}


@dataclass(frozen=True)
class Artifacts:
    bucket: str
    dirs: dict[str, Path]

    def url(self, name: str) -> str:
        return f"s3://{self.bucket}/{name}/model.tar.gz"


def _pickled_archive(good: bytes) -> bytes:
    """A well-formed archive whose model is a (harmless) pickle: the server refuses it."""
    import pickle

    from model_server import artifact

    members = artifact.read_archive(good)
    model = pickle.dumps({"not": "a skops file"})
    manifest = json.loads(members["manifest.json"])
    manifest["model_sha256"] = artifact.sha256(model)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in (("manifest.json", json.dumps(manifest).encode()),
                           ("model.skops", model)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture(scope="session")
def artifacts(cloud: Any, train_model: Any) -> Artifacts:
    s3 = cloud.client("s3")
    bucket = f"hosting-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    dirs = {}
    for name, (seed, fault) in MODELS.items():
        trained = train_model(seed, fault)
        dirs[name] = trained.dir
        s3.put_object(Bucket=bucket, Key=f"{name}/model.tar.gz",
                      Body=trained.archive.read_bytes())
    s3.put_object(Bucket=bucket, Key="pickled/model.tar.gz",
                  Body=_pickled_archive(train_model(1).archive.read_bytes()))
    return Artifacts(bucket, dirs)
