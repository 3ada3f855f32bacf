"""The project settings in mlops.yaml, validated. Pure: takes the YAML text or parsed data."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from mlops.core import envs as envs_
from mlops.core.envs import EnvSpec
from mlops.errors import MlopsError


@dataclass(frozen=True)
class ProjectConfig:
    project: str
    region: str  # the default region of every env, and the region of the state buckets
    owner: str
    github_repo: str
    specs: tuple[EnvSpec, ...]  # in promotion order
    state_bucket: str = "{project}-tfstate-{account_id}"
    mask_patterns: tuple[str, ...] = ()
    waves: tuple[tuple[str, ...], ...] = field(default=())

    @property
    def envs(self) -> tuple[str, ...]:
        """The env names, in promotion order."""
        return tuple(s.name for s in self.specs)

    def env(self, name: str) -> EnvSpec:
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise MlopsError(
            f"unknown env {name!r}",
            f"mlops.yaml lists the envs {', '.join(self.envs)}",
            f"use one of {', '.join(self.envs)}, or add it: "
            f"`mlops env add {name} --like {self.envs[0]}`",
        )

    def bucket_for(self, account_id: str) -> str:
        return self.state_bucket.format(project=self.project, account_id=account_id)

    def backend_config(self, account_id: str, *, local_cloud: bool) -> dict[str, str]:
        """`-backend-config` values for an env root. The key and locking are in each root's
        backend.tf; the bucket depends on the account, and its region is the region the
        account's bootstrap ran in (the top-level `region`), whatever the env's region."""
        config = {"bucket": self.bucket_for(account_id), "region": self.region}
        if local_cloud:
            # The embedded cloud answers on an IP address: S3 must be addressed by path.
            config["use_path_style"] = "true"
        return config

    def require_env(self, env: str) -> str:
        return self.env(env).name

    def envs_in_account(self, account_id: str) -> tuple[EnvSpec, ...]:
        """The envs that live in `account_id` when it is the account of the credentials:
        those naming it, and those naming no account unless another env names this one
        (see core.envs.account_problem and docs/adr/0006-environments-as-data.md)."""
        return tuple(s for s in self.specs
                     if envs_.account_problem(self.specs, s.name, account_id) is None)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping (PyYAML keeps the last one
    silently: a second `prod:` would replace the first without a word)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode,
                       deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            line = seen[key].start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"found the key {key!r} again (first on line {line})", key_node.start_mark)
        seen[key] = key_node
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=deep))


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _construct_mapping)


def load_yaml(text: str, source: str = "mlops.yaml") -> Any:
    """Parse mlops.yaml text; a repeated key in any mapping is an error naming both lines."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as err:
        fix = ("keep one entry per key (for envs: one per env name)"
               if "again (first on line" in str(err) else "fix the syntax")
        raise MlopsError(f"{source} is not valid YAML", str(err), fix) from err


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
    region = envs_.check_region(data["region"], "region", source)
    specs = envs_.parse_envs(data["envs"], region, source)
    waves = envs_.promotion_waves(specs, source)
    by_name = {s.name: s for s in specs}
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
        region=region,
        owner=str(data["owner"]),
        github_repo=str(data["github_repo"]),
        specs=tuple(by_name[n] for wave in waves for n in wave),
        state_bucket=str(state.get("bucket", "{project}-tfstate-{account_id}")),
        mask_patterns=tuple(masks),
        waves=tuple(tuple(wave) for wave in waves),
    )
