"""The project settings in mlops.yaml, validated. Pure: takes the YAML text or parsed data."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any

import yaml

from mlops.core import envs as envs_
from mlops.core.envs import EnvSpec
from mlops.core.masking import compile_patterns
from mlops.errors import MlopsError

DEFAULT_STATE_BUCKET = "{project}-tfstate-{account_id}"
BUCKET_PLACEHOLDERS = ("project", "account_id")
# S3 bucket naming rules: 3-63 characters, lowercase letters, digits, dots and hyphens,
# beginning and ending with a letter or digit, no two adjacent dots.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class ProjectConfig:
    project: str
    region: str  # the default region of every env, and the region of the state buckets
    owner: str
    github_repo: str
    specs: tuple[EnvSpec, ...]  # in promotion order
    state_bucket: str = DEFAULT_STATE_BUCKET
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
    except RecursionError as err:
        raise MlopsError(f"{source} is not valid YAML", "it is nested too deeply",
                         "fix the syntax") from err
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
        region=region,
        owner=str(data["owner"]),
        github_repo=str(data["github_repo"]),
        specs=tuple(by_name[n] for wave in waves for n in wave),
        state_bucket=bucket,
        mask_patterns=tuple(masks),
        waves=tuple(tuple(wave) for wave in waves),
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
