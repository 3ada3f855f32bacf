"""What every command that drives Terraform needs: settings, project config, the prepared
Terraform environment, and one Terraform working directory per root."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from mlops.adapters import aws
from mlops.adapters.terraform import Terraform, prepare
from mlops.core.config import ProjectConfig, parse_config
from mlops.core.masking import Masker, compile_patterns
from mlops.errors import MlopsError
from mlops.settings import CONFIG_FILE, Settings


@dataclass(frozen=True)
class Context:
    settings: Settings
    config: ProjectConfig
    env: Mapping[str, str]

    @property
    def local_cloud(self) -> bool:
        return aws.is_local_endpoint(self.env)

    def env_root(self, env_name: str) -> Path:
        self.config.require_env(env_name)
        root = self.settings.root / "envs" / env_name
        if not root.is_dir():
            raise MlopsError(f"no Terraform root at {root}",
                             f"mlops.yaml lists {env_name} but envs/{env_name}/ is missing",
                             f"create envs/{env_name}/ or remove it from mlops.yaml")
        return root

    def masker(self) -> Masker:
        """Redacts the project's mask_patterns (mlops.yaml) from anything shown."""
        return Masker(patterns=compile_patterns(self.config.mask_patterns))

    def terraform(self, root: Path, label: str) -> Terraform:
        """A Terraform for `root` with its own data dir under the state dir, so parallel
        runs never share a .terraform folder and the source tree stays clean."""
        data_dir = self.settings.state_dir / "tfdata" / label
        data_dir.mkdir(parents=True, exist_ok=True)
        return Terraform(workdir=root, env={**self.env, "TF_DATA_DIR": str(data_dir)},
                         label=label, mask=self.masker().mask)

    def backend_config(self) -> dict[str, str]:
        """Backend settings for an env root, after checking the state bucket exists."""
        config = self.config.backend_config(aws.account_id(self.env),
                                            local_cloud=self.local_cloud)
        if not aws.bucket_exists(self.env, config["bucket"]):
            raise MlopsError(
                f"the state bucket {config['bucket']} does not exist",
                "env roots keep their state in the bucket that bootstrap/ creates",
                "apply bootstrap/ first: `mlops bootstrap` (once per account, by a human)",
            )
        return config


def load_config(settings: Settings) -> ProjectConfig:
    path = settings.root / CONFIG_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise MlopsError(f"cannot read {path}", str(err),
                         "mlops.yaml must be a readable UTF-8 text file") from err
    except (yaml.YAMLError, RecursionError) as err:
        raise MlopsError(f"{path} is not valid YAML", str(err)[:500], "fix the syntax") from err
    return parse_config(data, str(path))


def load(env: Mapping[str, str]) -> Context:
    settings = Settings.from_env(env)
    config = load_config(settings)
    tf_env = prepare(settings, env)
    tf_env.setdefault("AWS_REGION", config.region)
    return Context(settings=settings, config=config, env=tf_env)
