"""`mlops artifact push DIR --env ENV [--bucket NAME]`: publish a trained model.

Uploads DIR/model.tar.gz to the env's artifact bucket at `models/<sha256>/model.tar.gz`
(content-addressed), with metrics.json and provenance.json beside it, and prints the S3
URI for the env's terraform.tfvars. The bucket is the env root's `artifact_bucket`
output (what Terraform created), unless --bucket names it.

- The archive is verified first (structure, digest, trusted types: the checks the
  server makes), so a tampered or foreign artifact never reaches a bucket.
- Same content already there: nothing is written ("already pushed").
- Different content at the key: refused, nothing is written.
- model.tar.gz goes last and carries its provenance as S3 metadata (x-amz-meta-mlops-*:
  sha256, fault, git commit, data, seed), which Terraform reads at plan time so the
  policy gate can refuse a fault-injected artifact in prod (docs/models.md).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops import argtypes, context, ui
from mlops.core import model as spec
from mlops.errors import MlopsError

CONTENT_TYPES = {"model.tar.gz": "application/gzip", "metrics.json": "application/json",
                 "provenance.json": "application/json"}


def register(sub: Any) -> None:
    parser = sub.add_parser("artifact", help="publish trained models to an env's bucket")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    push = verbs.add_parser(
        "push", help="upload DIR (from `mlops train`) to models/<sha256>/ in the env's bucket",
        description="Content-addressed, immutable upload of a trained model; prints its "
                    "S3 URI.")
    push.add_argument("dir", type=Path, metavar="DIR", help="directory written by mlops train")
    push.add_argument("--env", required=True, type=argtypes.env_name,
                      help="env whose artifact bucket receives it")
    push.add_argument("--bucket", default=None,
                      help="bucket name (default: the env root's artifact_bucket output)")
    push.set_defaults(func=run_push)


@dataclass(frozen=True)
class LocalArtifact:
    files: dict[str, bytes]
    sha256: str
    provenance: dict[str, Any]


def read_local(directory: Path) -> LocalArtifact:
    try:
        from model_server import artifact
    except ImportError as err:
        raise MlopsError("the model_server package is not installed",
                         "`mlops artifact push` verifies archives with the server's own checks",
                         "pip install -e scripts/model_server (or `make setup`)") from err
    if not directory.is_dir():
        raise MlopsError(f"{directory} is not a directory", "",
                         "pass the --out directory of `mlops train`")
    missing = [n for n in spec.ARTIFACT_FILES if not (directory / n).is_file()]
    if missing:
        raise MlopsError(f"{directory} lacks {', '.join(missing)}",
                         f"an artifact directory holds {', '.join(spec.ARTIFACT_FILES)}",
                         f"train into it first: mlops train --seed N --out {directory}")
    files = {name: (directory / name).read_bytes() for name in spec.ARTIFACT_FILES}
    try:
        artifact.verify_archive(files["model.tar.gz"])
    except artifact.ArtifactError as err:
        raise MlopsError(f"refusing to push {directory}/model.tar.gz", str(err),
                         "push only what `mlops train` wrote; retrain if it was altered") from err
    digest = artifact.sha256(files["model.tar.gz"])
    try:
        doc = spec.check_provenance(json.loads(files["provenance.json"]), digest)
        json.loads(files["metrics.json"])
    except (ValueError, UnicodeDecodeError) as err:
        raise MlopsError(f"{directory}: provenance.json or metrics.json does not belong to "
                         "this model.tar.gz", str(err),
                         "push the three files `mlops train` wrote together") from err
    return LocalArtifact(files, digest, doc)


def artifact_bucket(env: Mapping[str, str], env_name: str) -> str:
    """The env root's `artifact_bucket` output: the bucket Terraform created."""
    from mlops.commands.plan import init_env

    ctx = context.load(env)
    with ui.stage(f"{env_name}: read the artifact bucket from Terraform's outputs"):
        outputs = init_env(ctx, env_name).outputs()
    bucket = (outputs.get("artifact_bucket") or {}).get("value")
    if not bucket:
        raise MlopsError(f"env {env_name} has no artifact_bucket output yet",
                         "the bucket is created by applying the env root",
                         f"apply it first (`mlops apply --env {env_name}`), or pass --bucket")
    return str(bucket)


def run_push(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from mlops.adapters.s3 import S3

    local = read_local(args.dir)
    bucket = args.bucket or artifact_bucket(env, args.env)
    s3 = S3(env)
    if not s3.bucket_exists(bucket):
        raise MlopsError(f"bucket {bucket} does not exist", "artifacts go to the env's bucket",
                         f"apply the env first (`mlops apply --env {args.env}`), or fix --bucket")
    import hashlib

    model_key = spec.artifact_key(local.sha256)
    uri = f"s3://{bucket}/{model_key}"
    fault = spec.fault_of(local.provenance)
    ui.step(f"push {local.sha256[:12]} to s3://{bucket}/"
            + (f" (FAULT-INJECTED: {fault.label()})" if fault.active else ""))
    actions: dict[str, str] = {}
    remote_meta: dict[str, str] = {}
    for name in ("model.tar.gz", "metrics.json", "provenance.json"):
        remote = s3.fetch(bucket, spec.artifact_key(local.sha256, name))
        if name == "model.tar.gz" and remote is not None:
            remote_meta = remote.metadata
        actions[name] = spec.push_action(hashlib.sha256(local.files[name]).hexdigest(),
                                         remote.sha256 if remote else None)
    if actions["model.tar.gz"] == "conflict":
        raise MlopsError(f"{uri} already holds different content",
                         "artifact keys are content-addressed and immutable: something other "
                         "than `mlops artifact push` wrote there",
                         "investigate the object (and its versions) before anything uses it; "
                         "never overwrite it")
    if actions["model.tar.gz"] == "same":
        kept = [n for n in ("metrics.json", "provenance.json") if actions[n] != "same"]
        ui.info("already pushed: the same model.tar.gz is at that key; nothing written"
                + (f" (kept the pushed {', '.join(kept)}: first push wins)" if kept else ""))
        if remote_meta.get(spec.META_FAULT) not in (None, fault.label()):
            ui.info(f"note: the pushed object says fault={remote_meta.get(spec.META_FAULT)}")
        print(uri)
        return 0
    for name in ("metrics.json", "provenance.json"):  # sidecars first, the model last
        key = spec.artifact_key(local.sha256, name)
        if actions[name] == "conflict":
            raise MlopsError(f"s3://{bucket}/{key} already holds a different {name}",
                             "a previous push stopped half-way with other content, or "
                             "something else wrote there", "inspect and remove it by hand")
        if actions[name] == "upload":
            s3.put_new(bucket, key, local.files[name], content_type=CONTENT_TYPES[name])
    written = s3.put_new(bucket, model_key, local.files["model.tar.gz"],
                         content_type=CONTENT_TYPES["model.tar.gz"],
                         metadata=spec.artifact_metadata(local.provenance))
    if not written:
        again = s3.fetch(bucket, model_key)
        if again is None or again.sha256 != local.sha256:
            raise MlopsError(f"{uri} was written concurrently with different content", "",
                             "investigate before using it")
        ui.info("another push wrote the same model at the same time; nothing more to do")
    else:
        ui.info(f"uploaded model.tar.gz ({len(local.files['model.tar.gz'])} bytes), "
                "metrics.json, provenance.json")
    print(uri)
    return 0
