"""Terraform toolchain decisions: CLI config text and version checks. Pure."""

from __future__ import annotations

import json
import re
from pathlib import Path

# The env roots' `required_version` (versions.tf): S3 native state locking (`use_lockfile`)
# arrived in Terraform 1.10. tests/unit/test_toolchain.py keeps the two equal.
MIN_TERRAFORM = (1, 10, 0)

# The Go garbage collector target mlops runs Terraform and its providers with, unless GOGC
# is set already. Terraform and the AWS provider spend a fifth of a command's CPU
# collecting garbage while they build and decode the provider's schema (most of a plan);
# a larger target cuts that. Measured on `terraform validate` of an env root (provider
# 5.100.0, 3 runs each): CPU 3.1 s -> 2.5 s (-21 %), peak RSS 335 -> 383 MB. 200 saves
# about as much; 800 saves no more and peaks at 530 MB. Nothing Terraform computes
# depends on it (docs/benchmarks.md).
TERRAFORM_GOGC = "400"


def render_cli_config(mirror: Path | None, plugin_cache: Path) -> str:
    """The Terraform CLI config mlops runs with.

    With a filesystem mirror, providers found there come from it and everything else from
    the registry; without one, everything comes from the registry. Either way providers
    are cached once in a shared plugin cache for all roots.
    """
    lines = [
        "# Written by `mlops toolchain`. Do not edit: it is regenerated on every run.",
        f'plugin_cache_dir = "{plugin_cache}"',
        "plugin_cache_may_break_dependency_lock_file = false",
    ]
    if mirror is not None:
        providers = sorted(_mirror_providers(mirror))
        include = ", ".join(f'"{p}"' for p in providers) or '"registry.terraform.io/*/*"'
        lines += [
            "provider_installation {",
            "  filesystem_mirror {",
            f'    path    = "{mirror}"',
            f"    include = [{include}]",
            "  }",
            "  direct {",
            f"    exclude = [{include}]",
            "  }",
            "}",
        ]
    return "\n".join(lines) + "\n"


def _mirror_providers(mirror: Path) -> set[str]:
    """hostname/namespace/type entries present in an unpacked filesystem mirror."""
    found: set[str] = set()
    for host in mirror.iterdir() if mirror.is_dir() else []:
        for ns in host.iterdir() if host.is_dir() else []:
            for ptype in ns.iterdir() if ns.is_dir() else []:
                if ptype.is_dir():
                    found.add(f"{host.name}/{ns.name}/{ptype.name}")
    return found


def parse_version(version_json: str) -> tuple[int, int, int]:
    """Parse `terraform version -json` output into (major, minor, patch)."""
    data = json.loads(version_json)
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", str(data.get("terraform_version", "")))
    if not match:
        raise ValueError(f"unrecognised terraform version output: {version_json[:200]!r}")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def version_ok(version: tuple[int, int, int]) -> bool:
    return version >= MIN_TERRAFORM


def locked_providers(lock_text: str) -> dict[str, str]:
    """The providers a dependency lock file (.terraform.lock.hcl) pins: source address
    (`registry.terraform.io/hashicorp/aws`) -> version. Its blocks are
    `provider "<source>" { version = "<v>" ... }`."""
    from mlops.core import hcl

    found: dict[str, str] = {}
    depth = 0
    source: str | None = None
    pending: list[hcl.Token] = []  # the tokens of the current top-level block header
    expect_version = False
    for token in hcl.tokens(lock_text):
        if token.kind == "punct" and token.value == "{":
            depth += 1
            if depth == 1:
                header = [t.value for t in pending]
                source = header[1] if len(header) == 2 and header[0] == "provider" else None
                pending = []
            continue
        if token.kind == "punct" and token.value == "}":
            depth = max(0, depth - 1)
            if depth == 0:
                source = None
            continue
        if depth == 0:
            pending.append(token)
        elif depth == 1 and source is not None:
            if token.kind == "ident" and token.value == "version":
                expect_version = True
            elif expect_version and token.kind == "string":
                found[source] = token.value
                expect_version = False
            elif not (token.kind == "punct" and token.value == "="):
                expect_version = False
    return found


def cache_entries(plugin_cache: Path, lock_text: str, target: str) -> list[Path]:
    """Where the shared plugin cache keeps each provider the lock file pins, for one
    platform (`linux_amd64`): the unpacked layout HOSTNAME/NAMESPACE/TYPE/VERSION/TARGET of
    Terraform's provider installation docs ("Provider Plugin Cache")."""
    return [plugin_cache / source / version / target
            for source, version in sorted(locked_providers(lock_text).items())]
