"""Where things are. Every machine path is a default that an environment variable overrides.

  MLOPS_ROOT           the repository root (default: nearest parent with mlops.yaml)
  MLOPS_STATE_DIR      runtime files, gitignored (default: <root>/.mlops)
  TERRAFORM            the terraform binary (default: `terraform` on PATH)
  TF_PROVIDER_MIRROR   filesystem mirror of providers (default: /opt/tf-plugins if it
                       exists; empty: the registry only)
  TF_PLUGIN_CACHE_DIR  shared provider cache (default: <state dir>/plugin-cache)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops.errors import MlopsError

DEFAULT_MIRROR = "/opt/tf-plugins"
CONFIG_FILE = "mlops.yaml"


def find_root(start: Path) -> Path | None:
    for candidate in (start, *start.parents):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    return None


@dataclass(frozen=True)
class Settings:
    root: Path
    state_dir: Path
    terraform: str
    mirror: Path | None
    plugin_cache: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str], cwd: Path | None = None) -> Settings:
        if env.get("MLOPS_ROOT"):
            root = Path(env["MLOPS_ROOT"]).resolve()
            if not (root / CONFIG_FILE).is_file():
                raise MlopsError(
                    f"MLOPS_ROOT={root} has no {CONFIG_FILE}",
                    "mlops reads the project settings from mlops.yaml at the repository root",
                    "point MLOPS_ROOT at the repository checkout, or unset it",
                )
        else:
            found = find_root((cwd or Path.cwd()).resolve())
            if found is None:
                raise MlopsError(
                    f"no {CONFIG_FILE} in {cwd or Path.cwd()} or any parent",
                    "mlops must run inside the repository checkout",
                    "cd into the repository, or set MLOPS_ROOT",
                )
            root = found
        state_dir = Path(env.get("MLOPS_STATE_DIR") or root / ".mlops")
        mirror_env = env.get("TF_PROVIDER_MIRROR")
        mirror: Path | None
        if mirror_env is not None:
            mirror = Path(mirror_env) if mirror_env else None  # empty string: registry only
            if mirror is not None and not mirror.is_dir():
                raise MlopsError(
                    f"TF_PROVIDER_MIRROR={mirror_env} is not a directory",
                    "the Terraform CLI config would point providers at a mirror that is not there",
                    "fix the path, or set TF_PROVIDER_MIRROR= (empty) to use the registry",
                )
        else:
            mirror = Path(DEFAULT_MIRROR) if Path(DEFAULT_MIRROR).is_dir() else None
        cache = Path(env.get("TF_PLUGIN_CACHE_DIR") or state_dir / "plugin-cache")
        return cls(
            root=root,
            state_dir=state_dir,
            terraform=env.get("TERRAFORM") or "terraform",
            mirror=mirror,
            plugin_cache=cache,
        )
