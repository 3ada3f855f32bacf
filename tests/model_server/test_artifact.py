"""The artifact format: deterministic training output, and loading that never runs code
from the artifact (real malicious payloads, checked not to have run)."""

from __future__ import annotations

import gzip
import io
import json
import os
import pathlib
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import skops.io

from model_server import artifact
from model_server.faults import FaultInjected

ROOT = Path(__file__).resolve().parents[2]


def _train_in_new_process(seed: int, out: Path, *extra: str) -> str:
    """`python -m mlops train` in its own interpreter: object ids, hash seeds and times
    all differ from any other run."""
    env = {**os.environ, "MLOPS_ROOT": str(ROOT), "PYTHONHASHSEED": str(seed + 100)}
    done = subprocess.run([sys.executable, "-m", "mlops", "train", "--seed", str(seed),
                           "--out", str(out), *extra], capture_output=True, text=True,
                          env=env, check=False)
    assert done.returncode == 0, f"mlops train failed:\n{done.stderr}"
    return done.stdout.strip()


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first = _train_in_new_process(7, tmp_path / "a")
    second = _train_in_new_process(7, tmp_path / "b")
    other = _train_in_new_process(8, tmp_path / "c")
    a, b = (tmp_path / "a/model.tar.gz").read_bytes(), (tmp_path / "b/model.tar.gz").read_bytes()
    assert first == second == artifact.sha256(a), (
        f"same seed, two processes: sha256 {first} vs {second}")
    assert a == b
    assert other != first, "seed 8 gave the same artifact as seed 7"
    for name in ("metrics.json", "provenance.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), (
            f"{name} differs between two identical trainings")
    provenance = json.loads((tmp_path / "a/provenance.json").read_text())
    assert provenance["model_sha256"] == first and provenance["seed"] == 7
    assert provenance["fault"] is None and provenance["fault_injected"] is False
    assert provenance["data"]["name"] == "breast_cancer"
    assert len(provenance["data"]["sha256"]) == 64
    assert provenance["source"]["git_commit"], "provenance should name the git commit"
    assert set(provenance["libraries"]) >= {"scikit-learn", "skops", "numpy", "python"}


def test_archive_metadata_is_fixed(train_model: Any) -> None:
    data = train_model(1).archive.read_bytes()
    assert data[:2] == b"\x1f\x8b" and data[4:8] == b"\0\0\0\0", "gzip mtime must be 0"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["manifest.json", "model.skops"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {
        (0, 0, 0, "", "", 0o644)}
    model = artifact.read_archive(data)["model.skops"]
    with __import__("zipfile").ZipFile(io.BytesIO(model)) as skops_zip:
        times = {i.date_time for i in skops_zip.infolist()}
        names = [i.filename for i in skops_zip.infolist()]
    assert times == {artifact.ZIP_EPOCH}, f"skops zip entry times: {times}"
    assert all(n == "schema.json" or (n.split(".")[0].isdigit() and int(n.split(".")[0]) < 10_000)
               for n in names), f"skops member names still carry id()s: {names[:5]}"


def test_fault_injected_build_says_so(train_model: Any) -> None:
    faulty = train_model(3, "error-rate=0.5")
    provenance = json.loads((faulty.dir / "provenance.json").read_text())
    assert provenance["fault"] == {"error_rate": 0.5, "latency_ms": 0}
    assert provenance["fault_injected"] is True
    loaded = artifact.load(artifact.read_archive(faulty.archive.read_bytes()))
    assert isinstance(loaded.estimator, FaultInjected)
    assert loaded.estimator.describe() == {"error_rate": 0.5, "latency_ms": 0}
    assert faulty.sha256 != train_model(3).sha256


# -- tampering -----------------------------------------------------------------------------


def _malicious_pickle(marker: Path) -> bytes:
    """A real exploit: unpickling it writes `marker` (Path.write_text via __reduce__)."""

    class Exploit:
        def __reduce__(self) -> tuple[Any, ...]:
            return (pathlib.Path.write_text, (marker, "code from the artifact ran"))

    return pickle.dumps(Exploit(), protocol=4)


def _repack(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _with_model(good: dict[str, bytes], model: bytes) -> dict[str, bytes]:
    """Members whose manifest digest matches the swapped model (a careful attacker)."""
    manifest = json.loads(good["manifest.json"])
    manifest["model_sha256"] = artifact.sha256(model)
    return {"manifest.json": json.dumps(manifest).encode(), "model.skops": model}


def test_the_payload_is_live(tmp_path: Path) -> None:
    """Control: the payload used below really executes when unpickled."""
    marker = tmp_path / "control"
    payload = _malicious_pickle(marker)
    unpickle = "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"
    subprocess.run([sys.executable, "-c", unpickle], input=payload, check=True)
    assert marker.read_text() == "code from the artifact ran"


def _refusals(good: dict[str, bytes], marker: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (tampered model.tar.gz, what the refusal must say)."""
    evil = _malicious_pickle(marker)
    function_node = artifact.normalize_skops(skops.io.dumps({"loader": eval}))
    return {
        "pickle instead of skops": (_repack(_with_model(good, evil)), "is a Python pickle"),
        "pickle beside the model": (_repack({**good, "model.pkl": evil}),
                                    "unexpected file 'model.pkl'"),
        "skops naming a function": (_repack(_with_model(good, function_node)),
                                    "builtins.eval"),
        "model swapped, manifest not": (_repack({**good, "model.skops": function_node}),
                                        "altered after packing"),
        "not an archive": (evil, "not a readable gzip'd tar archive"),
    }


@pytest.mark.parametrize("case", ["pickle instead of skops", "pickle beside the model",
                                  "skops naming a function", "model swapped, manifest not",
                                  "not an archive"])
def test_tampered_artifact_is_refused_and_runs_nothing(case: str, train_model: Any,
                                                       tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    good = artifact.read_archive(train_model(1).archive.read_bytes())
    tampered, message = _refusals(good, marker)[case]
    with pytest.raises(artifact.ArtifactError) as info:
        artifact.load(artifact.read_archive(tampered))
    assert message in str(info.value), f"{case}: found {info.value}"
    assert not marker.exists(), f"{case}: code from the artifact ran"


def test_server_refuses_a_pickled_model_and_runs_nothing(train_model: Any, tmp_path: Path,
                                                         serve: Any) -> None:
    marker = tmp_path / "pwned"
    good = artifact.read_archive(train_model(1).archive.read_bytes())
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name, data in _with_model(good, _malicious_pickle(marker)).items():
        (model_dir / name).write_bytes(data)
    server = serve(model_dir, ready=False)
    assert server.proc.wait(timeout=60) == 2
    log = server.log.read_text()
    assert "error: cannot load the model" in log and "is a Python pickle" in log, log
    assert "Traceback" not in log, log
    assert not marker.exists(), "the server ran code from the artifact"


def test_gzip_bomb_member_size_is_bounded() -> None:
    info = tarfile.TarInfo("model.skops")
    info.size = artifact.MAX_MEMBER_BYTES + 1
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    with pytest.raises(artifact.ArtifactError, match="more than the"):
        artifact.read_archive(gzip.compress(header + b"\0" * 512))
