"""Environment names. Pure.

An env name becomes a directory (`envs/<env>/`, `.mlops/plans/<env>/`), a state key
(`envs/<env>/terraform.tfstate`) and part of every resource name (`{project}-{env}-...`),
so it is checked once, where it enters: `mlops.yaml` and the `--env` option.
"""

from __future__ import annotations

import re

from mlops.errors import MlopsError

ENV_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MAX_ENV_NAME = 12  # {project}-{env}-{component} must fit IAM, S3 and SageMaker name limits


def env_name_problem(name: object) -> str | None:
    """Why `name` cannot be an env name, or None when it can."""
    if not isinstance(name, str) or not name:
        return f"env name {name!r} is not a non-empty string"
    if len(name) > MAX_ENV_NAME:
        return f"env name {name!r} is longer than {MAX_ENV_NAME} characters"
    if not ENV_NAME_RE.fullmatch(name):  # fullmatch: `$` would let a trailing newline in
        return (f"env name {name!r} is not lowercase letters and digits, starting with a "
                "letter, in words joined by single hyphens")
    return None


def check_env_name(name: str, source: str = "mlops.yaml") -> str:
    """`name` if it is a valid env name, else an MlopsError saying why (`source` names where
    the name came from: mlops.yaml, --env, a summary.json...)."""
    problem = env_name_problem(name)
    if problem:
        raise MlopsError(
            f"{source}: {problem}",
            "an env name becomes a directory, a state key and part of every resource name",
            f"use a name like dev, qa or prod-eu (at most {MAX_ENV_NAME} characters)",
        )
    return name
