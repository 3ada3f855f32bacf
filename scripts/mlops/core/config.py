"""The project settings in mlops.yaml, validated. Pure: takes the parsed YAML."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlops.errors import MlopsError

KNOWN_ENVS = ("dev", "staging", "prod")


@dataclass(frozen=True)
class ProjectConfig:
    project: str
    region: str
    owner: str
    github_repo: str
    envs: tuple[str, ...]
    state_bucket: str = "{project}-tfstate-{account_id}"
    mask_patterns: tuple[str, ...] = ()

    def bucket_for(self, account_id: str) -> str:
        return self.state_bucket.format(project=self.project, account_id=account_id)

    def backend_config(self, account_id: str, *, local_cloud: bool) -> dict[str, str]:
        """`-backend-config` values for an env root. The key, region and locking are in
        each root's backend.tf; only the account-dependent bucket is passed."""
        config = {"bucket": self.bucket_for(account_id)}
        if local_cloud:
            # The embedded cloud answers on an IP address: S3 must be addressed by path.
            config["use_path_style"] = "true"
        return config

    def require_env(self, env: str) -> str:
        if env not in self.envs:
            raise MlopsError(
                f"unknown env {env!r}",
                f"mlops.yaml lists the envs {', '.join(self.envs)}",
                f"use one of {', '.join(self.envs)}, or add an envs/{env}/ root and list it",
            )
        return env


def parse_config(data: Any, source: str = "mlops.yaml") -> ProjectConfig:
    def bad(what: str, fix: str) -> MlopsError:
        return MlopsError(f"{source}: {what}", "mlops cannot work out the project settings",
                          fix)

    if not isinstance(data, dict):
        raise bad("expected a mapping at the top level", "see the mlops.yaml in the repository")
    for key in ("project", "region", "owner", "github_repo", "envs"):
        if key not in data:
            raise bad(f"missing key {key!r}", f"add `{key}:` to {source}")
    project = str(data["project"])
    if not re.fullmatch(r"[a-z][a-z0-9-]{1,28}[a-z0-9]", project):
        raise bad(f"project {project!r} is not 3-30 lowercase letters, digits and hyphens",
                  "rename it: it prefixes bucket and role names")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", str(data["github_repo"])):
        raise bad("github_repo must look like owner/name", "set it to your repository")
    envs = data["envs"]
    if not isinstance(envs, list) or not envs or not all(isinstance(e, str) for e in envs):
        raise bad("envs must be a non-empty list of names", "e.g. envs: [dev, staging, prod]")
    unknown = [e for e in envs if e not in KNOWN_ENVS]
    if unknown:
        raise bad(f"unknown env(s) {', '.join(unknown)}",
                  f"envs must be among {', '.join(KNOWN_ENVS)}")
    state = data.get("state") or {}
    if not isinstance(state, dict):
        raise bad("state must be a mapping", "see the mlops.yaml in the repository")
    masks = data.get("mask_patterns") or []
    for pattern in masks:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as err:
            raise bad(f"mask pattern {pattern!r} is not a valid regular expression ({err})",
                      "fix or remove it under mask_patterns") from err
    return ProjectConfig(
        project=project,
        region=str(data["region"]),
        owner=str(data["owner"]),
        github_repo=str(data["github_repo"]),
        envs=tuple(envs),
        state_bucket=str(state.get("bucket", "{project}-tfstate-{account_id}")),
        mask_patterns=tuple(masks),
    )
