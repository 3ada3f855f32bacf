"""scikit-learn behind one small interface: load a bundled data set, split it, fit the
estimator, score it, and serialize it in the model server's artifact format.

The libraries are the optional `train` extra; `require()` turns their absence into an
error that says what to install. Nothing here touches the network: the data sets ship
inside scikit-learn.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
from dataclasses import dataclass
from typing import Any

from mlops.core import model as spec
from mlops.errors import MlopsError

LIBRARIES = ("scikit-learn", "skops", "numpy", "scipy", "model-server")


TRAINING_MODULES = ("sklearn", "skops", "numpy", "model_server.artifact")
# The held-out rows (`mlops endpoint rollback`'s check, `mlops traffic`'s payloads) come
# from the data sets bundled with scikit-learn: no skops, no model server.
HOLDOUT_MODULES = ("sklearn", "numpy")


def require(what: str = "training", modules: tuple[str, ...] = TRAINING_MODULES) -> None:
    missing = []
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module.split(".")[0])
    if not missing:
        return
    if "model_server" in missing:
        raise MlopsError(
            f"{what} needs {', '.join(missing)}, which is not installed here",
            "scikit-learn, skops and numpy are the optional `train` extra of mlops, and the "
            "artifact format is the model server package (scripts/model_server)",
            "pip install -e scripts/model_server -e '.[train]'  (or `make setup`, which "
            "installs everything)")
    raise MlopsError(
        f"{what} needs {', '.join(missing)}, which is not installed here",
        "the data sets ship with scikit-learn, the optional `train` extra of mlops",
        "pip install -e '.[train]'  (or `make setup`, which installs everything)")


@dataclass(frozen=True)
class Dataset:
    name: str
    features: Any  # numpy array (rows x features)
    target: Any
    feature_names: tuple[str, ...]
    classes: tuple[Any, ...]
    sha256: str

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "rows": int(self.features.shape[0]),
                "features": int(self.features.shape[1]), "source": "scikit-learn bundled"}


def load_dataset(name: str) -> Dataset:
    spec.check_dataset(name)
    import numpy as np
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    features = np.ascontiguousarray(bunch.data, dtype="<f8")
    target = np.ascontiguousarray(bunch.target, dtype="<i8")
    names = tuple(str(n) for n in bunch.feature_names)
    digest = hashlib.sha256()
    digest.update(features.tobytes())
    digest.update(target.tobytes())
    digest.update("\n".join(names).encode())
    return Dataset(name, features, target, names,
                   tuple(int(c) for c in np.unique(target)), digest.hexdigest())


def split(data: Dataset) -> tuple[Any, Any, Any, Any]:
    """(train X, test X, train y, test y): the same rows for every model of this data set."""
    from sklearn.model_selection import train_test_split

    parts: tuple[Any, Any, Any, Any] = tuple(train_test_split(
        data.features, data.target, test_size=spec.TEST_SIZE, random_state=spec.SPLIT_SEED,
        stratify=data.target))
    return parts


def holdout_rows(name: str) -> list[list[float]]:
    """The held-out feature rows of a data set, as InvokeEndpoint payload rows."""
    require(f"reading the held-out rows of the {name} data set", HOLDOUT_MODULES)
    _, test_x, _, _ = split(load_dataset(name))
    rows: list[list[float]] = test_x.tolist()
    return rows


@dataclass(frozen=True)
class Trained:
    archive: bytes  # model.tar.gz
    archive_sha256: str
    metrics: dict[str, Any]
    dataset: Dataset


def train(dataset_name: str, seed: int, fault: spec.Fault) -> Trained:
    require()
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, f1_score

    from model_server import artifact
    from model_server.faults import FaultInjected

    data = load_dataset(dataset_name)
    train_x, test_x, train_y, test_y = split(data)
    estimator = RandomForestClassifier(**spec.ESTIMATOR_PARAMS, random_state=seed)
    estimator.fit(train_x, train_y)
    predicted = estimator.predict(test_x)
    metrics = {
        "accuracy": round(float(accuracy_score(test_y, predicted)), 6),
        "f1_macro": round(float(f1_score(test_y, predicted, average="macro")), 6),
        "n_train": int(train_x.shape[0]),
        "n_test": int(test_x.shape[0]),
    }
    served: Any = estimator
    if fault.active:
        served = FaultInjected(estimator, error_rate=fault.error_rate,
                               latency_ms=fault.latency_ms)
    model = artifact.dump(served)
    manifest = artifact.Manifest(
        model_sha256=artifact.sha256(model), n_features=len(data.feature_names),
        feature_names=data.feature_names, classes=data.classes,
        estimator=f"{type(served).__module__}.{type(served).__name__}")
    archive = artifact.pack(model, manifest)
    return Trained(archive, artifact.sha256(archive), metrics, data)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
