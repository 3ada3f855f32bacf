"""mlops.core.model and mlops.core.traffic: pure decisions on literal inputs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlops.core import model, traffic
from mlops.errors import MlopsError

ROOT = Path(__file__).resolve().parents[2]
SHA = "a" * 64


@pytest.mark.parametrize(("text", "expected"), [
    ("error-rate=0.5", model.Fault(0.5, 0)),
    ("latency-ms=300", model.Fault(0.0, 300)),
    (" error-rate=1 , latency-ms=20 ", model.Fault(1.0, 20)),
    ("error-rate=0.0001", model.Fault(0.0001, 0)),
])
def test_parse_fault(text: str, expected: model.Fault) -> None:
    assert model.parse_fault(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("error-rate=0", "out of range"),
    ("error-rate=1.5", "out of range"),
    ("latency-ms=0", "out of range"),
    ("latency-ms=60001", "out of range"),
    ("latency-ms=1.5", "out of range"),
    ("error-rate=x", "is not a number"),
    ("error_rate=0.5", "cannot read"),
    ("boom", "cannot read"),
    ("", "cannot read"),
    ("error-rate=0.1,error-rate=0.2", "twice"),
])
def test_bad_fault_is_explained(text: str, message: str) -> None:
    with pytest.raises(MlopsError) as info:
        model.parse_fault(text)
    assert message in info.value.what and info.value.fix


@pytest.mark.parametrize(("fault", "label"), [
    (model.Fault(), "none"),
    (model.Fault(0.5, 0), "error-rate=0.5"),
    (model.Fault(0.0, 250), "latency-ms=250"),
    (model.Fault(0.25, 10), "error-rate=0.25,latency-ms=10"),
])
def test_fault_label_is_a_valid_tag_value(fault: model.Fault, label: str) -> None:
    assert fault.label() == label
    assert re.fullmatch(r"[\w.:/=+\-@ ,]*", label), "S3/SageMaker tag values allow these"
    assert fault.active == (label != "none")


def test_artifact_keys_are_content_addressed() -> None:
    assert model.artifact_key(SHA) == f"models/{SHA}/model.tar.gz"
    assert model.artifact_key(SHA, "provenance.json") == f"models/{SHA}/provenance.json"
    with pytest.raises(ValueError):
        model.artifact_key("v1")
    with pytest.raises(ValueError):
        model.artifact_key(SHA, "../x")


@pytest.mark.parametrize(("local", "remote", "action"), [
    ("x", None, "upload"), ("x", "x", "same"), ("x", "y", "conflict")])
def test_push_action(local: str, remote: str | None, action: str) -> None:
    assert model.push_action(local, remote) == action


def _provenance(**overrides: Any) -> dict[str, Any]:
    doc = model.provenance(model_sha256=SHA, seed=3, dataset={"name": "wine", "sha256": "b" * 64},
                           commit="c" * 40, dirty=False, libraries={"numpy": "2"},
                           fault=model.Fault(0.5, 0), metrics={"accuracy": 1.0})
    doc.update(overrides)
    return doc


def test_metadata_carries_the_fault_and_origin() -> None:
    assert model.artifact_metadata(_provenance()) == {
        "mlops-sha256": SHA, "mlops-fault": "error-rate=0.5", "mlops-git-commit": "c" * 40,
        "mlops-data": "wine@bbbbbbbbbbbb", "mlops-seed": "3"}
    assert model.artifact_metadata(_provenance(fault=None))["mlops-fault"] == "none"


@pytest.mark.parametrize(("doc", "message"), [
    ({"format": "other"}, "not an mlops-provenance/1"),
    ("text", "not an mlops-provenance/1"),
    (_provenance(model_sha256="d" * 64), "describes model"),
    (_provenance(fault="loud"), "fault must be an object"),
])
def test_foreign_provenance_is_refused(doc: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model.check_provenance(doc, SHA)


def test_provenance_records_what_rebuilds_the_model() -> None:
    doc = model.check_provenance(_provenance(), SHA)
    assert doc["data"]["split"] == {"test_size": model.TEST_SIZE, "seed": model.SPLIT_SEED}
    assert doc["estimator"]["params"]["random_state"] == 3
    assert doc["fault_injected"] is True and doc["fault"] == {"error_rate": 0.5,
                                                              "latency_ms": 0}


# -- traffic ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "p", "expected"), [
    ([], 50, None),
    ([5.0], 99, 5.0),
    ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
    ([1.0, 2.0, 3.0, 4.0], 75, 3.0),
    ([float(v) for v in range(1, 101)], 99, 99.0),
    ([float(v) for v in range(1, 101)], 100, 100.0),
    ([3.0, 1.0, 2.0], 1, 1.0),
])
def test_nearest_rank_percentile(values: list[float], p: float, expected: float | None) -> None:
    assert traffic.percentile(values, p) == expected


def test_schedule_is_open_loop_and_even() -> None:
    assert traffic.schedule(4, 1) == [0.0, 0.25, 0.5, 0.75]
    assert len(traffic.schedule(10, 2.5)) == 25
    assert traffic.schedule(0.5, 1) == [0.0]
    with pytest.raises(ValueError):
        traffic.schedule(0, 1)


def test_summary_per_variant() -> None:
    outcomes = [traffic.Outcome("stable", True, 10.0), traffic.Outcome("canary", False, 30.0,
                                                                        "ModelError"),
                traffic.Outcome("canary", True, 20.0), traffic.Outcome("", False, 1.0,
                                                                   "ValidationError")]
    stats = traffic.summarize(outcomes)
    assert list(stats) == ["(none)", "canary", "stable"]
    doc = traffic.report(stats, endpoint="e", sent=4, elapsed=2.0, rps=2.0)
    assert doc["success_rate"] == 0.5 and doc["achieved_rps"] == 2.0
    assert doc["variants"]["canary"] == {
        "requests": 2, "ok": 1, "success_rate": 0.5, "errors": {"ModelError": 1},
        "latency_ms": {"p50": 20.0, "p90": 30.0, "p99": 30.0}}
    text = traffic.render(doc)
    assert "canary" in text and "50.0%" in text and "ModelError x1" in text
    assert "canary 1/2" in traffic.progress(4, 10, 1.0, stats)


# -- packaging -------------------------------------------------------------------------------


def _pins(pyproject: Path, section: str) -> dict[str, str]:
    import tomllib

    data = tomllib.loads(pyproject.read_text())["project"]
    deps = data["dependencies"] if section == "dependencies" else \
        data["optional-dependencies"][section]
    return dict(d.split("==") for d in deps)


def test_training_pins_equal_the_servers() -> None:
    """The server loads what training wrote: same scikit-learn, skops and numpy."""
    train = _pins(ROOT / "pyproject.toml", "train")
    server = _pins(ROOT / "scripts/model_server/pyproject.toml", "dependencies")
    assert train == {k: server[k] for k in train}, (
        f"pyproject.toml [train] {train} must equal scripts/model_server pins {server}")
    dev = _pins(ROOT / "pyproject.toml", "dev")
    assert {k: dev.get(k) for k in train} == train, "the dev extra must include [train]"


def test_server_package_depends_on_no_cli_cloud_or_terraform() -> None:
    server = _pins(ROOT / "scripts/model_server/pyproject.toml", "dependencies")
    assert not set(server) & {"mlops", "boto3", "botocore", "tftest", "moto"}, server
    assert _pins(ROOT / "scripts/model_server/pyproject.toml", "s3") == {"boto3": "1.44.5"}, (
        "boto3 only in the optional s3 extra (batch mode), at the CLI's pin")
    sources = (ROOT / "scripts/model_server/src/model_server").rglob("*.py")
    for path in sources:
        text = path.read_text()
        for banned in ("import mlops", "from mlops", "import boto3", "import botocore"):
            if path.name == "batch.py" and "boto" in banned:
                continue  # batch mode: the [s3] extra, imported there and nowhere else
            assert banned not in text, f"{path} must not use {banned!r}"


def test_train_without_the_extra_says_what_to_install(tmp_path: Path) -> None:
    """scikit-learn made unimportable in a fresh interpreter: a clear error, no traceback."""
    code = ("import sys; sys.modules['sklearn'] = None; from mlops.cli import main; "
            f"sys.exit(main(['train', '--seed', '1', '--out', {str(tmp_path)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 2, done.stderr
    assert "error: training needs sklearn" in done.stderr and "[train]" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "model.tar.gz").exists()


def test_held_out_rows_need_only_scikit_learn_and_say_so() -> None:
    """`mlops endpoint rollback` checks the old model with held-out rows: they need
    scikit-learn (the train extra) but not the model server, and the error names them.
    rollback.yml installs the extra for that kind: this is what a job without it printed."""
    code = ("import sys; sys.modules['model_server'] = None; sys.modules['skops'] = None\n"
            "from mlops.adapters import training\n"
            "assert len(training.holdout_rows('breast_cancer')) > 5\n"
            "sys.modules['sklearn'] = None\n"
            "from mlops.errors import MlopsError\n"
            "try:\n    training.holdout_rows('breast_cancer')\n"
            "except MlopsError as err:\n    print(err.render())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "reading the held-out rows of the breast_cancer data set needs sklearn" in done.stdout
    assert "pip install -e '.[train]'" in done.stdout and "model_server" not in done.stdout


@pytest.mark.parametrize(("argv", "message"), [
    (["traffic", "--env", "dev", "--rps", "0", "--duration", "1"], "--rps 0 is out of range"),
    (["traffic", "--env", "dev", "--rps", "5", "--duration", "-1"], "--duration -1 is out of"),
    (["train", "--seed", "-1", "--out", "x"], "--seed -1 is out of range"),
    (["artifact", "push", "/nonexistent", "--env", "dev", "--bucket", "b"],
     "/nonexistent is not a directory"),
])
def test_bad_model_command_input_is_explained(argv: list[str], message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from mlops.cli import main

    code = main(argv, {"MLOPS_ROOT": str(ROOT)})
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
