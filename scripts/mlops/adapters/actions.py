"""The GitHub Actions runner's files: $GITHUB_STEP_SUMMARY, $GITHUB_ENV and $GITHUB_OUTPUT
(formats in core/actions.py). Outside Actions (the variables unset) these are no-ops."""

from __future__ import annotations

from collections.abc import Mapping

from mlops.core import actions
from mlops.errors import MlopsError


def step_summary(env: Mapping[str, str], markdown: str) -> bool:
    """Append to the job summary; False when not in Actions."""
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown.rstrip("\n") + "\n\n")
    except OSError as err:
        raise MlopsError(f"could not append to GITHUB_STEP_SUMMARY ({path})", str(err),
                         "this runs inside a GitHub Actions step; check the runner") from err
    return True


def export(env: Mapping[str, str], values: Mapping[str, str]) -> bool:
    """Append `values` to $GITHUB_ENV (later steps of the job see them); False when not in
    Actions."""
    return _append(env, "GITHUB_ENV", values)


def outputs(env: Mapping[str, str], values: Mapping[str, str]) -> bool:
    """Append `values` to $GITHUB_OUTPUT (the step's outputs, which a job can pass on);
    False when not in Actions. Same file format as $GITHUB_ENV."""
    return _append(env, "GITHUB_OUTPUT", values)


def _append(env: Mapping[str, str], name: str, values: Mapping[str, str]) -> bool:
    path = env.get(name)
    if not path:
        return False
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(actions.env_file_text(values))
    except OSError as err:
        raise MlopsError(f"could not append to {name} ({path})", str(err),
                         "this runs inside a GitHub Actions step; check the runner") from err
    return True
