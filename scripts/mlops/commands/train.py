"""`mlops train --seed N --out DIR [--data NAME] [--fault error-rate=R|latency-ms=M]`

Trains the small scikit-learn model on a data set scikit-learn ships, and writes
DIR/model.tar.gz (the artifact SageMaker serves), DIR/metrics.json (held-out scores) and
DIR/provenance.json (git commit, seed, data set and digest, library versions, fault).
The same seed and code give a byte-identical model.tar.gz. Prints the artifact's sha256.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlops
from mlops import ui
from mlops.adapters import training
from mlops.adapters.git import Git, GitError
from mlops.core import model as spec
from mlops.errors import MlopsError
from mlops.settings import Settings


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "train", help="train a model and write model.tar.gz, metrics.json, provenance.json",
        description="Train the project's scikit-learn model deterministically (needs the "
                    "`train` extra). Same seed and code: byte-identical model.tar.gz.")
    parser.add_argument("--seed", type=int, required=True, help="model seed (0..2^32-1)")
    parser.add_argument("--out", type=Path, required=True, help="directory to write into")
    parser.add_argument("--data", default=spec.DEFAULT_DATASET, choices=spec.DATASETS,
                        help=f"bundled data set (default {spec.DEFAULT_DATASET})")
    parser.add_argument("--fault", default=None, metavar="error-rate=R|latency-ms=M",
                        help="build a deliberately defective model (demos, canary tests); "
                             "the policy gate refuses it in prod")
    parser.set_defaults(func=run)


def source_root(env: Mapping[str, str]) -> Path:
    """The checkout whose code trains: MLOPS_ROOT or the repository around the working
    directory, else the one the mlops package itself lives in."""
    try:
        return Settings.from_env(env).root
    except MlopsError:
        return Path(mlops.__file__).resolve().parents[2]


def write_json(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    seed = spec.check_seed(args.seed)
    dataset = spec.check_dataset(args.data)
    fault = spec.parse_fault(args.fault) if args.fault is not None else spec.Fault()
    if args.out.exists() and not args.out.is_dir():
        raise MlopsError(f"--out {args.out} exists and is not a directory", "",
                         "pass a directory (it is created if missing)")
    training.require()
    label = f"seed {seed}, data {dataset}" + (f", FAULT {fault.label()}" if fault.active else "")
    with ui.stage(f"train: {label}"):
        trained = training.train(dataset, seed, fault)
    commit, dirty = None, False
    try:
        commit, dirty = Git(source_root(env)).source_state()
    except GitError:
        ui.info("git is not available: provenance records no commit")
    doc = spec.provenance(model_sha256=trained.archive_sha256, seed=seed,
                          dataset=trained.dataset.describe(), commit=commit, dirty=dirty,
                          libraries=training.library_versions(), fault=fault,
                          metrics=trained.metrics)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model.tar.gz").write_bytes(trained.archive)
    write_json(args.out / "metrics.json", trained.metrics)
    write_json(args.out / "provenance.json", doc)
    ui.info(f"accuracy {trained.metrics['accuracy']:.4f} on {trained.metrics['n_test']} "
            f"held-out rows; wrote {args.out}/{{{', '.join(spec.ARTIFACT_FILES)}}}")
    if fault.active:
        ui.info(f"FAULT-INJECTED build ({fault.label()}): for demos and tests only")
    print(trained.archive_sha256)
    return 0
