"""`mlops env add`, the pure part: the new mlops.yaml entry and the new root's files, as
text from text. Nothing is read or written here; the command does that.

Adding an env is one entry in mlops.yaml and one folder envs/<name>/ (ADR 0006):
- mlops.yaml keeps its comments and layout (ruamel.yaml round trip); the entry lists only
  what differs from the defaults;
- the root's shared files are copies; backend.tf gets its own state key;
- terraform.tfvars is the `--like` env's with env, tier and region set, its own resource
  names ({project}-{like}- becomes {project}-{name}-), and serving disabled until the new
  env's first model is released (SageMaker refuses an endpoint whose artifact is missing).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from mlops.core import hcl
from mlops.core.envs import TIERS, EnvSpec
from mlops.errors import MlopsError

SHARED_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf", ".terraform.lock.hcl")


def entry(spec: EnvSpec, default_region: str) -> dict[str, Any]:
    """The mlops.yaml entry of `spec`: its tier, and what differs from the defaults."""
    out: dict[str, Any] = {"tier": spec.tier}
    if spec.after:
        out["after"] = list(spec.after)
    if spec.region != default_region:
        out["region"] = spec.region
    if spec.account is not None:
        out["account"] = spec.account
    if spec.protected != TIERS[spec.tier].protected_by_default:
        out["protected"] = spec.protected
    return out


def add_env_entry(text: str, spec: EnvSpec, default_region: str) -> str:
    """mlops.yaml text with `spec` added at the end of `envs`, everything else kept. The
    old list form (`envs: [dev, staging, prod]`) is rewritten to the mapping it means."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    yaml = YAML()  # round trip: comments, order, quotes and flow style are kept
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line
    data = yaml.load(text)

    def flow(mapping: dict[str, Any]) -> CommentedMap:
        node = CommentedMap()
        for key, value in mapping.items():
            if isinstance(value, list):
                value = CommentedSeq(value)
                value.fa.set_flow_style()
            elif key == "account":  # quoted: YAML would read digits as a number
                value = DoubleQuotedScalarString(value)
            node[key] = value
        node.fa.set_flow_style()
        return node

    envs = data["envs"]
    if isinstance(envs, list):
        mapping = CommentedMap()
        for index, name in enumerate(envs):
            old: dict[str, Any] = {"tier": str(name)}
            if index:
                old["after"] = [str(envs[index - 1])]
            mapping[str(name)] = flow(old)
        data["envs"] = envs = mapping
    envs[spec.name] = flow(entry(spec, default_region))
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def backend(text: str, like: str, name: str) -> str:
    """The `like` env's backend.tf with its own state key envs/<name>/terraform.tfstate."""
    old, new = f'"envs/{like}/terraform.tfstate"', f'"envs/{name}/terraform.tfstate"'
    if text.count(old) != 1:
        raise MlopsError(
            f"envs/{like}/backend.tf does not hold the state key {old} exactly once",
            "the new env's backend.tf is the --like env's with its own key",
            f"set key = {old} in envs/{like}/backend.tf, or pick another --like env")
    return text.replace(old, new)


@dataclass(frozen=True)
class Tfvars:
    text: str
    notes: tuple[str, ...]  # what the user should review


def tfvars(text: str, like: EnvSpec, new: EnvSpec, project: str) -> Tfvars:
    """The `like` env's terraform.tfvars made the new env's."""
    out = text.replace(f"{project}-{like.name}-", f"{project}-{new.name}-")
    out = hcl.set_string_attribute(out, "env", new.name)
    out = hcl.set_string_attribute(out, "tier", new.tier, after="env")
    out = hcl.set_string_attribute(out, "region", new.region, after="tier")
    notes: list[str] = []
    enabled = hcl.nested_value(out, ("serving", "enabled"))
    if enabled is not None and enabled.value == "true":
        out = out[:enabled.start] + "false" + out[enabled.end:]
        notes.append("serving is disabled until the env's first model is released: set "
                     "serving.enabled = true in the release PR (SageMaker refuses an "
                     f"endpoint whose model artifact is missing, and {new.name}'s "
                     "artifact bucket is empty)")
    if new.tier != like.tier:
        notes.append(f"the tier is {new.tier}, {like.name}'s is {like.tier}: review instance "
                     f"types (the policy gate checks the {new.tier} allowlist), sizes, TTLs "
                     "and force_destroy/force_delete (refused in the prod tier)")
    if new.region != like.region:
        for number, line in enumerate(out.splitlines(), 1):
            if like.region in line or re.search(r'"ami-[0-9a-f]+"', line):
                notes.append(f"line {number} looks specific to {like.region} (AMI ids and "
                             f"registry hosts differ per region): {line.strip()}")
    return Tfvars(out, tuple(notes))
