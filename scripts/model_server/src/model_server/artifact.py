"""The model artifact format, shared by the trainer (`mlops train`) and this server.

`model.tar.gz`, which SageMaker downloads and unpacks into the model directory
(`/opt/ml/model`), holds exactly two regular files:

    manifest.json   what the server needs to validate requests and what was packed:
                    {"format": "mlops-model/1", "model_file": "model.skops",
                     "model_sha256": ..., "n_features": 30, "feature_names": [...],
                     "classes": [...], "estimator": "sklearn.ensemble...."}
    model.skops     the estimator, serialized with skops: a zip of JSON and .npy files,
                    never a pickle

Security (nothing in an artifact is ever executed):
- The skops schema is read as JSON first, without importing skops or scikit-learn, and
  every type it names must be in `ALLOWED_TYPES` and every node kind in `ALLOWED_NODES`
  (no functions, methods, operators, partials or type objects). Only then is it loaded,
  with `skops.io.loads(..., trusted=ALLOWED_TYPES)`, which audits it again.
- A pickle (or anything that is not a skops zip) where the model should be is refused;
  so is an archive with other members, links, devices or absolute/parent paths.

Determinism: the same estimator always packs to the same bytes. skops names arrays and
memoised objects by `id()`, and zip entries carry the time they were written; both are
normalised here (ids renumbered in order of appearance, timestamps fixed). The tar has
sorted members, mtime 0, uid/gid 0 and fixed modes; gzip carries mtime 0 and no name.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

FORMAT = "mlops-model/1"
MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.skops"
MEMBERS = (MANIFEST_FILE, MODEL_FILE)
ARCHIVE_FILE = "model.tar.gz"
# Far above any model this format is for, far below what would hurt a host.
MAX_MEMBER_BYTES = 256 * 1024 * 1024
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry

# Every type a model artifact may contain: what `mlops train` writes (a random forest,
# optionally wrapped in FaultInjected) and the builtins/numpy types their state is made
# of. Anything else is refused before skops is even imported.
ALLOWED_TYPES: frozenset[str] = frozenset({
    "builtins.dict", "builtins.list", "builtins.tuple", "builtins.str", "builtins.int",
    "builtins.float", "builtins.bool",
    "numpy.ndarray", "numpy.int64",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._tree.Tree",
    "model_server.faults.FaultInjected",
})
# skops node kinds that only rebuild data. FunctionNode, MethodNode, PartialNode,
# OperatorFuncNode and ConstructorFromReduceNode reference callables: refused. TypeNode
# (skops records the type of dict keys with it) may only name the key types below.
ALLOWED_NODES: frozenset[str] = frozenset({
    "DictNode", "ListNode", "TupleNode", "JsonNode", "ObjectNode", "NdArrayNode",
    "TreeNode", "TypeNode",
})
TYPE_NODE_TYPES: frozenset[str] = frozenset({"builtins.str", "builtins.int"})

_MEMO_FILE = re.compile(r"^(\d+)(\.[a-z]+)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Where `mlops artifact push` puts an archive: content-addressed by its own sha256.
_ARTIFACT_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(?:.+/)?models/"
                           r"([0-9a-f]{64})/model\.tar\.gz$")


class ArtifactError(Exception):
    """The artifact is missing, malformed, or not trusted. The message says which."""


@dataclass(frozen=True)
class Manifest:
    model_sha256: str
    n_features: int
    feature_names: tuple[str, ...]
    classes: tuple[Any, ...]
    estimator: str
    format: str = FORMAT
    model_file: str = MODEL_FILE

    def to_bytes(self) -> bytes:
        data = asdict(self)
        data["feature_names"] = list(self.feature_names)
        data["classes"] = list(self.classes)
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ArtifactError(f"{MANIFEST_FILE} is not valid JSON ({err})") from err
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ArtifactError(f"{MANIFEST_FILE}: format {found!r} is not {FORMAT!r}; "
                                "this server reads artifacts written by `mlops train`")
        try:
            manifest = cls(
                model_sha256=str(data["model_sha256"]),
                n_features=int(data["n_features"]),
                feature_names=tuple(str(n) for n in data["feature_names"]),
                classes=tuple(data["classes"]),
                estimator=str(data["estimator"]),
                model_file=str(data.get("model_file", MODEL_FILE)),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ArtifactError(f"{MANIFEST_FILE} lacks or mistypes a field ({err!r})") from err
        if manifest.model_file != MODEL_FILE or not _SHA256.match(manifest.model_sha256):
            raise ArtifactError(f"{MANIFEST_FILE}: model_file must be {MODEL_FILE!r} and "
                                "model_sha256 a sha256 hex digest")
        if manifest.n_features < 1 or len(manifest.feature_names) != manifest.n_features:
            raise ArtifactError(f"{MANIFEST_FILE}: n_features must be >= 1 and match "
                                "feature_names")
        return manifest


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- skops: inspect without loading ------------------------------------------------------


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def read_schema(model: bytes) -> dict[str, Any]:
    """The skops schema.json of `model`, refusing anything that is not a skops zip."""
    if model[:1] == b"\x80":  # every pickle since protocol 2 starts with PROTO (0x80)
        raise ArtifactError(f"{MODEL_FILE} is a Python pickle, not a skops file: refusing it "
                            "(loading a pickle can run arbitrary code)")
    if not zipfile.is_zipfile(io.BytesIO(model)):
        raise ArtifactError(f"{MODEL_FILE} is not a skops file (not a zip archive); "
                            "artifacts are written by `mlops train`")
    try:
        with zipfile.ZipFile(io.BytesIO(model)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (KeyError, zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{MODEL_FILE} has no readable skops schema.json ({err})") from err
    if not isinstance(schema, dict):
        raise ArtifactError(f"{MODEL_FILE}: schema.json is not an object")
    return schema


def untrusted(model: bytes) -> list[str]:
    """What in the skops file is not on the allowlists, as readable strings ([] = trusted)."""
    found: set[str] = set()
    for node in _walk(read_schema(model)):
        loader = node.get("__loader__")
        if loader is not None and loader not in ALLOWED_NODES:
            found.add(f"node {loader}")
        if "__class__" in node and "__module__" in node:
            name = f"{node['__module__']}.{node['__class__']}"
            if name not in ALLOWED_TYPES:
                found.add(f"type {name}")
            elif loader == "TypeNode" and name not in TYPE_NODE_TYPES:
                found.add(f"type object {name}")
    return sorted(found)


def check_trusted(model: bytes) -> None:
    bad = untrusted(model)
    if bad:
        raise ArtifactError(
            f"{MODEL_FILE} contains what this server does not trust: {', '.join(bad)}. "
            "Refusing to load it: only the types `mlops train` writes are allowed "
            "(model_server.artifact.ALLOWED_TYPES)")


# -- skops: deterministic bytes ----------------------------------------------------------


def normalize_skops(model: bytes) -> bytes:
    """The same skops file with id()-based names renumbered and zip times fixed."""
    with zipfile.ZipFile(io.BytesIO(model)) as source:
        schema = json.loads(source.read("schema.json"))
        infos = source.infolist()
        contents = {info.filename: source.read(info.filename) for info in infos}
    ids: dict[int, int] = {}

    def renumber(old: int) -> int:
        return ids.setdefault(old, len(ids) + 1)

    for node in _walk(schema):
        if isinstance(node.get("__id__"), int):
            node["__id__"] = renumber(node["__id__"])
        file = node.get("file")
        if isinstance(file, str) and _MEMO_FILE.match(file):
            match = _MEMO_FILE.match(file)
            assert match is not None
            node["file"] = f"{renumber(int(match.group(1)))}{match.group(2)}"

    def rename(name: str) -> str:
        match = _MEMO_FILE.match(name)
        if match is None:
            return name
        if int(match.group(1)) not in ids:
            raise ArtifactError(f"skops member {name} is not referenced by its schema")
        return f"{ids[int(match.group(1))]}{match.group(2)}"

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
        for info in infos:
            name = rename(info.filename)
            data = (json.dumps(schema, indent=2, sort_keys=True).encode()
                    if info.filename == "schema.json" else contents[info.filename])
            entry = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            entry.create_system = 3  # unix, whatever host packs it
            entry.external_attr = 0o100644 << 16
            entry.compress_type = zipfile.ZIP_STORED
            target.writestr(entry, data)
    return out.getvalue()


def dump(estimator: Any) -> bytes:
    """Serialize with skops (imported here), normalised to deterministic bytes."""
    import skops.io

    model = normalize_skops(skops.io.dumps(estimator))
    check_trusted(model)  # never write what the server would refuse to load
    return model


# -- the archive -------------------------------------------------------------------------


def pack(model: bytes, manifest: Manifest) -> bytes:
    """model.tar.gz bytes: the manifest and the model, byte-identical for equal inputs."""
    if manifest.model_sha256 != sha256(model):
        raise ArtifactError("manifest.model_sha256 does not match the model bytes")
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in sorted({MANIFEST_FILE: manifest.to_bytes(), MODEL_FILE: model}.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(tar_bytes.getvalue())
    return out.getvalue()


def read_archive(archive: bytes) -> dict[str, bytes]:
    """The members of a model.tar.gz, refusing anything but exactly MEMBERS as regular
    files with plain names. Nothing is written to disk."""
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for info in tar:
                name = info.name.removeprefix("./")
                if name not in MEMBERS or not info.isfile():
                    kind = "file" if info.isfile() else "link or special entry"
                    raise ArtifactError(
                        f"{ARCHIVE_FILE} holds an unexpected {kind} {info.name!r}; an "
                        f"artifact holds exactly {', '.join(MEMBERS)}")
                if name in members:
                    raise ArtifactError(f"{ARCHIVE_FILE} holds {name} twice")
                if info.size > MAX_MEMBER_BYTES:
                    raise ArtifactError(f"{ARCHIVE_FILE}: {name} is {info.size} bytes, "
                                        f"more than the {MAX_MEMBER_BYTES} allowed")
                handle = tar.extractfile(info)
                assert handle is not None
                members[name] = handle.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise ArtifactError(f"{ARCHIVE_FILE} is not a readable gzip'd tar archive "
                            f"({type(err).__name__}: {err})") from err
    missing = [m for m in MEMBERS if m not in members]
    if missing:
        raise ArtifactError(f"{ARCHIVE_FILE} lacks {', '.join(missing)}")
    return members


def verify(members: dict[str, bytes]) -> Manifest:
    """Check manifest, digest and trusted types without importing skops or scikit-learn."""
    manifest = Manifest.from_bytes(members[MANIFEST_FILE])
    model = members[MODEL_FILE]
    found = sha256(model)
    if found != manifest.model_sha256:
        raise ArtifactError(f"{MODEL_FILE} has sha256 {found}, but {MANIFEST_FILE} says "
                            f"{manifest.model_sha256}: the artifact was altered after packing")
    check_trusted(model)
    return manifest


def verify_archive(archive: bytes) -> Manifest:
    return verify(read_archive(archive))


def read_model_dir(model_dir: Path) -> dict[str, bytes]:
    """The artifact's files from an unpacked model directory (as SageMaker leaves it)."""
    if not model_dir.is_dir():
        raise ArtifactError(f"model directory {model_dir} does not exist")
    members: dict[str, bytes] = {}
    for name in MEMBERS:
        path = model_dir / name
        if not path.is_file() or path.is_symlink():
            raise ArtifactError(f"{path} is missing (or not a regular file); the model "
                                f"directory must hold the unpacked {ARCHIVE_FILE}")
        if path.stat().st_size > MAX_MEMBER_BYTES:
            raise ArtifactError(f"{path} is larger than {MAX_MEMBER_BYTES} bytes")
        members[name] = path.read_bytes()
    return members


@dataclass(frozen=True)
class LoadedModel:
    estimator: Any
    manifest: Manifest


def load(members: dict[str, bytes]) -> LoadedModel:
    """Verify, then load with skops and the explicit trusted-type list."""
    manifest = verify(members)
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        estimator = skops.io.loads(members[MODEL_FILE], trusted=sorted(ALLOWED_TYPES))
    except UntrustedTypesFoundException as err:  # our own check missed it: still refused
        raise ArtifactError(f"{MODEL_FILE} contains untrusted types: {err}") from err
    except Exception as err:  # a damaged file fails in many ways; none may crash us
        raise ArtifactError(f"{MODEL_FILE} could not be loaded "
                            f"({type(err).__name__}: {err})") from err
    validate = getattr(estimator, "validate", None)
    if callable(validate):
        try:
            validate()
        except ValueError as err:
            raise ArtifactError(f"{MODEL_FILE}: {err}") from err
    if not callable(getattr(estimator, "predict", None)):
        raise ArtifactError(f"{MODEL_FILE} holds a {type(estimator).__name__}, which cannot "
                            "predict")
    return LoadedModel(estimator, manifest)


def load_dir(model_dir: Path) -> LoadedModel:
    return load(read_model_dir(model_dir))


# -- content-addressed delivery (the init container, `mlops serve s3://...`) -------------


def check_sha256(value: str) -> str:
    if not _SHA256.match(value or ""):
        raise ArtifactError(f"{value!r} is not a sha256 hex digest (64 lowercase hex digits)")
    return value


def sha256_from_uri(uri: str) -> str:
    """The sha256 an artifact URI promises: s3://<bucket>/[...]models/<sha256>/model.tar.gz."""
    match = _ARTIFACT_URI.match(uri or "")
    if match is None:
        raise ArtifactError(f"{uri!r} is not a content-addressed artifact URI "
                            "(s3://<bucket>/models/<sha256>/model.tar.gz, as `mlops artifact "
                            "push` prints it)")
    return match.group(1)


def unpack_verified(archive: bytes, expected_sha256: str, into: Path) -> Manifest:
    """Write the archive's two files into `into` after checking that the archive is the
    one its URI names (sha256), that it holds exactly the artifact's members, and that
    they pass `verify` (manifest, digest, trusted types). Nothing is written unless every
    check passes; the files are read-only."""
    found = sha256(archive)
    if found != check_sha256(expected_sha256):
        raise ArtifactError(f"{ARCHIVE_FILE} has sha256 {found}, but its URI names "
                            f"{expected_sha256}: it is not the artifact that was released")
    members = read_archive(archive)
    manifest = verify(members)
    into.mkdir(parents=True, exist_ok=True)
    present = [p.name for p in into.iterdir() if p.name in MEMBERS]
    if present:
        raise ArtifactError(f"{into} already holds {', '.join(present)}; unpack into an empty "
                            "model directory")
    for name in MEMBERS:
        path = into / name
        path.write_bytes(members[name])
        path.chmod(0o444)
    return manifest
