"""The project settings in mlops.yaml, validated. Pure: takes the parsed YAML."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

from mlops.core.masking import compile_patterns
from mlops.errors import MlopsError

KNOWN_ENVS = ("dev", "staging", "prod")
DEFAULT_STATE_BUCKET = "{project}-tfstate-{account_id}"
BUCKET_PLACEHOLDERS = ("project", "account_id")
# S3 bucket naming rules: 3-63 characters, lowercase letters, digits, dots and hyphens,
# beginning and ending with a letter or digit, no two adjacent dots.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class ProjectConfig:
    project: str
    region: str
    owner: str
    github_repo: str
    envs: tuple[str, ...]
    state_bucket: str = DEFAULT_STATE_BUCKET
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
    bucket = state.get("bucket", DEFAULT_STATE_BUCKET)
    problem = state_bucket_problem(bucket, project)
    if problem:
        raise bad(f"state.bucket {bucket!r}: {problem}",
                  f"use a bucket name, optionally with {{project}} and {{account_id}}, "
                  f"e.g. {DEFAULT_STATE_BUCKET!r}")
    masks = data.get("mask_patterns")
    if masks is None:
        masks = []
    if not isinstance(masks, list):
        # A string would be read as a list of its characters: a mask per character.
        raise bad(f"mask_patterns must be a list of regular expressions, not "
                  f"{type(masks).__name__} {masks!r:.60}",
                  "write one pattern per line: mask_patterns:\n  - 'ghp_[A-Za-z0-9]{36}'")
    compile_patterns(masks)  # names the bad pattern, with why and how to fix it
    return ProjectConfig(
        project=project,
        region=str(data["region"]),
        owner=str(data["owner"]),
        github_repo=str(data["github_repo"]),
        envs=tuple(envs),
        state_bucket=bucket,
        mask_patterns=tuple(masks),
    )


def state_bucket_problem(template: object, project: str) -> str | None:
    """Why `template` cannot name the state bucket, or None. Placeholders are {project}
    and {account_id}; the result must be a valid S3 bucket name for any account id."""
    if not isinstance(template, str):
        return f"is a {type(template).__name__}, not a string"
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as err:  # a lone { or }
        return f"is not a valid template ({err})"
    for name, spec, conv in fields:
        if name not in BUCKET_PLACEHOLDERS:
            return (f"has an unknown placeholder {{{name}}} (known: "
                    f"{', '.join('{' + p + '}' for p in BUCKET_PLACEHOLDERS)})")
        if spec or conv:
            return f"placeholder {{{name}}} takes no format spec or conversion"
    example = template.format(project=project, account_id="123456789012")
    if not _BUCKET_RE.match(example) or ".." in example:
        return (f"gives {example!r}, which is not a valid S3 bucket name (3-63 lowercase "
                "letters, digits, dots and hyphens, starting and ending with a letter or digit)")
    return None
