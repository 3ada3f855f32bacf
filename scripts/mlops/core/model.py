"""Training and artifact decisions, pure: fault specs, the data split, provenance, the
artifact's S3 layout and the metadata that carries provenance to the policy gate.

The split is a property of the data set, not of the model: every model trained on a
data set is scored on the same held-out rows (SPLIT_SEED), so metrics compare across
versions, and `mlops traffic` replays exactly those rows. The model seed only seeds
the estimator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops.errors import MlopsError

DATASETS = ("breast_cancer", "wine", "iris")
DEFAULT_DATASET = "breast_cancer"
SPLIT_SEED = 0
TEST_SIZE = 0.25
# A small forest: trains in well under a second and serves in a few milliseconds.
ESTIMATOR = "sklearn.ensemble.RandomForestClassifier"
ESTIMATOR_PARAMS: Mapping[str, Any] = {"n_estimators": 25, "max_depth": 6, "n_jobs": 1}
PROVENANCE_FORMAT = "mlops-provenance/1"

ARTIFACT_FILES = ("model.tar.gz", "metrics.json", "provenance.json")
MODELS_PREFIX = "models"
# S3 user metadata on model.tar.gz (x-amz-meta-*). Part of the object version: changing it
# means writing a new version, which `mlops artifact push` refuses.
META_SHA256 = "mlops-sha256"
META_FAULT = "mlops-fault"
META_COMMIT = "mlops-git-commit"
META_DATA = "mlops-data"
META_SEED = "mlops-seed"
NO_FAULT = "none"

_FAULT_KEYS = {"error-rate": "error_rate", "latency-ms": "latency_ms"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Fault:
    """A deliberate defect: fail `error_rate` of requests, and/or answer `latency_ms` late."""

    error_rate: float = 0.0
    latency_ms: int = 0

    @property
    def active(self) -> bool:
        return self.error_rate > 0 or self.latency_ms > 0

    def label(self) -> str:
        """The S3 metadata / tag value: `none`, `error-rate=0.5`, `latency-ms=300`, or both
        joined by `,` (tag values allow `=` and `,`)."""
        parts = []
        if self.error_rate > 0:
            parts.append(f"error-rate={self.error_rate:g}")
        if self.latency_ms > 0:
            parts.append(f"latency-ms={self.latency_ms}")
        return ",".join(parts) or NO_FAULT

    def as_json(self) -> dict[str, Any] | None:
        return ({"error_rate": self.error_rate, "latency_ms": self.latency_ms}
                if self.active else None)


def parse_fault(text: str) -> Fault:
    """`error-rate=0.5`, `latency-ms=300`, or both comma separated."""
    values: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        key, sep, raw = part.partition("=")
        if not sep or key.strip() not in _FAULT_KEYS:
            raise MlopsError(f"--fault {text!r}: cannot read {part!r}",
                             "a fault is error-rate=R (0 < R <= 1) and/or latency-ms=M "
                             "(0 < M <= 60000)",
                             "e.g. --fault error-rate=0.5 or --fault latency-ms=300")
        name = _FAULT_KEYS[key.strip()]
        if name in values:
            raise MlopsError(f"--fault {text!r} sets {key.strip()} twice", "",
                             "give each of error-rate and latency-ms at most once")
        try:
            values[name] = float(raw)
        except ValueError as err:
            raise MlopsError(f"--fault {text!r}: {raw!r} is not a number", "",
                             "e.g. --fault error-rate=0.5") from err
    rate = values.get("error_rate", 0.0)
    latency = values.get("latency_ms", 0.0)
    if "error_rate" in values and not 0 < rate <= 1:
        raise MlopsError(f"--fault error-rate={raw_of(values, 'error_rate')} is out of range",
                         "error-rate is the fraction of requests that fail",
                         "use a number in (0, 1], e.g. 0.5")
    if "latency_ms" in values and (not 0 < latency <= 60_000 or latency != int(latency)):
        raise MlopsError(f"--fault latency-ms={raw_of(values, 'latency_ms')} is out of range",
                         "latency-ms is a whole number of milliseconds; SageMaker gives a "
                         "model 60 s", "use a whole number in (0, 60000], e.g. 300")
    return Fault(error_rate=rate, latency_ms=int(latency))


def raw_of(values: Mapping[str, float], key: str) -> str:
    return f"{values[key]:g}"


def check_dataset(name: str) -> str:
    if name not in DATASETS:
        raise MlopsError(f"unknown data set {name!r}",
                         "training uses the small data sets scikit-learn ships (no download)",
                         f"use one of {', '.join(DATASETS)}")
    return name


def check_seed(seed: int) -> int:
    if not 0 <= seed < 2**32:
        raise MlopsError(f"--seed {seed} is out of range", "numpy seeds are 32-bit",
                         "use a seed between 0 and 4294967295")
    return seed


def provenance(*, model_sha256: str, seed: int, dataset: Mapping[str, Any],
               commit: str | None, dirty: bool, libraries: Mapping[str, str],
               fault: Fault, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """provenance.json: everything needed to rebuild the artifact and judge where it may
    run. No timestamp: the same inputs give the same file."""
    return {
        "format": PROVENANCE_FORMAT,
        "model_sha256": model_sha256,
        "source": {"git_commit": commit, "git_dirty": dirty},
        "seed": seed,
        "data": {**dataset, "split": {"test_size": TEST_SIZE, "seed": SPLIT_SEED}},
        "estimator": {"class": ESTIMATOR, "params": {**ESTIMATOR_PARAMS, "random_state": seed}},
        "libraries": dict(sorted(libraries.items())),
        "fault": fault.as_json(),
        "fault_injected": fault.active,
        "metrics": dict(metrics),
        "built_by": "mlops train",
    }


def fault_of(provenance_doc: Mapping[str, Any]) -> Fault:
    raw = provenance_doc.get("fault") or {}
    if not isinstance(raw, Mapping):
        raise ValueError("provenance fault must be an object or null")
    return Fault(error_rate=float(raw.get("error_rate", 0.0)),
                 latency_ms=int(raw.get("latency_ms", 0)))


def check_provenance(doc: Any, archive_sha256: str) -> dict[str, Any]:
    """The provenance document for the archive with `archive_sha256`, or why it is not."""
    if not isinstance(doc, dict) or doc.get("format") != PROVENANCE_FORMAT:
        raise ValueError(f"it is not an {PROVENANCE_FORMAT} document")
    if doc.get("model_sha256") != archive_sha256:
        raise ValueError(f"it describes model {doc.get('model_sha256')!r}, but model.tar.gz "
                         f"is {archive_sha256}")
    fault_of(doc)
    return doc


def artifact_key(sha256: str, name: str = "model.tar.gz") -> str:
    if not _SHA256.match(sha256):
        raise ValueError(f"{sha256!r} is not a sha256 hex digest")
    if name not in ARTIFACT_FILES:
        raise ValueError(f"{name} is not one of {ARTIFACT_FILES}")
    return f"{MODELS_PREFIX}/{sha256}/{name}"


def artifact_metadata(doc: Mapping[str, Any]) -> dict[str, str]:
    """The x-amz-meta-* of model.tar.gz, from its provenance (ASCII, as S3 requires)."""
    data = doc.get("data") or {}
    source = doc.get("source") or {}
    return {
        META_SHA256: str(doc["model_sha256"]),
        META_FAULT: fault_of(doc).label(),
        META_COMMIT: str(source.get("git_commit") or "unknown"),
        META_DATA: f"{data.get('name', 'unknown')}@{str(data.get('sha256', ''))[:12]}",
        META_SEED: str(doc.get("seed", "")),
    }


@dataclass(frozen=True)
class PushPlan:
    """What to do with one file of an artifact given what is already at its key."""

    key: str
    action: str  # "upload", "same" (already there, identical) or "conflict"


def push_action(local_sha256: str, remote_sha256: str | None) -> str:
    if remote_sha256 is None:
        return "upload"
    return "same" if remote_sha256 == local_sha256 else "conflict"


_ARTIFACT_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/((?:[^/]+/)*"
                           + MODELS_PREFIX + r"/([0-9a-f]{64})/model\.tar\.gz)$")


@dataclass(frozen=True)
class ArtifactRef:
    """A content-addressed model archive in S3: the sha256 in its key is its own digest."""

    bucket: str
    key: str
    sha256: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_artifact_uri(uri: str) -> ArtifactRef:
    """s3://<bucket>/[prefix/]models/<sha256>/model.tar.gz, as `mlops artifact push` prints
    it; ValueError saying what is wrong otherwise."""
    match = _ARTIFACT_URI.match(uri.strip())
    if match is None:
        raise ValueError(f"{uri!r} is not a content-addressed artifact URI: expected "
                         f"s3://<bucket>/{MODELS_PREFIX}/<sha256>/model.tar.gz, as "
                         "`mlops artifact push` prints it")
    return ArtifactRef(match.group(1), match.group(2), match.group(3))
