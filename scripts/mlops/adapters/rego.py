"""Rego in-process through regopy (the rego-cpp bindings). The only place that imports it.

Policies are the `.rego` files of a directory (conftest/OPA layout); data documents are
the `.yaml`/`.json` files of its `data/` subdirectory, merged at the root of `data`, as
`conftest --data policies/data` and `opa eval -d policies/data` load them.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regopy
import yaml

from mlops.errors import MlopsError


class RegoError(MlopsError):
    """The policies could not be loaded or evaluated."""


@dataclass(frozen=True)
class PolicySet:
    modules: Mapping[str, str]  # file name -> Rego source
    data: Mapping[str, Any]  # merged data documents

    @classmethod
    def from_dir(cls, directory: Path) -> PolicySet:
        if not directory.is_dir():
            raise RegoError(
                f"policy directory {directory} does not exist",
                "the policy gate evaluates the .rego files found there",
                "run from the repository checkout, or pass --policy-dir",
            )
        modules = {
            str(path.relative_to(directory)): path.read_text()
            for path in sorted(directory.glob("*.rego"))
            if not path.name.endswith("_test.rego")
        }
        if not modules:
            raise RegoError(
                f"no .rego files in {directory}",
                "an empty policy set would pass every plan",
                "point --policy-dir at the policies/ directory",
            )
        documents: list[tuple[str, Any]] = []
        data_dir = directory / "data"
        if data_dir.is_dir():
            for path in sorted(data_dir.iterdir()):
                if path.suffix not in (".yaml", ".yml", ".json"):
                    continue
                try:
                    documents.append((path.name, yaml.safe_load(path.read_text())))
                except yaml.YAMLError as err:
                    raise RegoError(
                        f"cannot parse policy data {path}", str(err), "fix the YAML/JSON syntax"
                    ) from err
        return cls(modules, merge_documents(documents))


def merge_documents(documents: list[tuple[str, Any]]) -> dict[str, Any]:
    """Merge top-level objects; two files defining the same top-level key is an error."""
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, document in documents:
        if document is None:
            continue
        if not isinstance(document, dict):
            raise RegoError(
                f"policy data {name} is not a mapping",
                "data files are merged at the root of `data`",
                "make the file's top level a mapping, e.g. `instance_types: {...}`",
            )
        for key, value in document.items():
            if key in merged:
                raise RegoError(
                    f"policy data key {key!r} is defined in {origin[key]} and {name}",
                    "data documents are merged at the root and must not overlap",
                    "keep each top-level key in one file",
                )
            merged[key] = value
            origin[key] = name
    return merged


def evaluate(
    policies: PolicySet, data: Mapping[str, Any], document: Any, query: str = "data.main.deny"
) -> Any:
    """Evaluate `query` with `document` as input and `data` as the base document.

    Returns the query's value (JSON-decoded), or None when it is undefined.
    """
    return evaluate_each(policies, data, [document], query)[0]


def evaluate_each(
    policies: PolicySet, data: Mapping[str, Any], documents: Sequence[Any],
    query: str = "data.main.deny",
) -> list[Any]:
    """`evaluate` for each document in turn, with one interpreter (the policies and data
    are loaded once): conftest's per-document convention, for many rendered objects."""
    interpreter = regopy.Interpreter()
    printed: list[str] = []
    results: list[Any] = []
    try:
        with _stdout_to(printed):  # rego-cpp prints its diagnostics on fd 1
            for name, source in policies.modules.items():
                interpreter.add_module(name, source)
            interpreter.add_data_json(json.dumps(dict(data)))
            for document in documents:
                interpreter.set_input_term(json.dumps(document))
                output = interpreter.query(f"result := {query}")
                if not output.ok():
                    raise RegoError(
                        "the Rego policies could not be evaluated",
                        _summary("".join(printed) or str(output)),
                        "fix the .rego file named above (see docs/policy.md)",
                    )
                results.append(_result(str(output)))
    except (regopy.RegoError, ValueError) as err:
        raise RegoError(
            "the Rego policies could not be evaluated",
            _summary("".join(printed) or str(err)),
            "fix the .rego file named above (rego.v1 syntax, package main; "
            "see docs/policy.md for rego-cpp limits)",
        ) from err
    return results


def _result(text: str) -> Any:
    """The `result` binding of a query's output, or None when it is undefined."""
    if text in ("", "undefined"):
        return None
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError as err:
        raise RegoError(
            "the policy result is not valid JSON",
            f"{err}: {text[:200]}",
            "build messages with concat(), not sprintf() (see docs/policy.md)",
        ) from err
    results = decoded if isinstance(decoded, list) else [decoded]
    if not results:
        return None
    return results[0].get("bindings", {}).get("result")


def _summary(text: str) -> str:
    """The first diagnostic of rego-cpp's report: message and location."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if line not in ("Errors:",) and not line.startswith("~")]
    return " / ".join(lines[:2]) if lines else "unknown error"


@contextlib.contextmanager
def _stdout_to(sink: list[str]) -> Iterator[None]:
    """Capture what native code writes to file descriptor 1."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            sink.append(tmp.read().decode(errors="replace"))
