"""What every command that drives Terraform needs: settings, project config, the prepared
Terraform environment, and one Terraform working directory per root.

The state backend is checked lazily: `init_backend` runs `terraform init` straight away (or
skips it, when nothing it depends on changed), and only when init fails works out why
(no credentials, the state bucket missing: "apply bootstrap/ first"). The state bucket's
name holds the account id; it is known without an AWS call whenever the credentials pin
the account (AWS_ROLE_ARN names it; an access key id belongs to one account for life, so
its account is cached in the state dir). So the happy path of a plan makes no AWS call of
mlops' own.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from mlops.adapters import aws
from mlops.adapters.terraform import Terraform, TerraformError, prepare
from mlops.core.config import ProjectConfig, parse_config
from mlops.core.masking import Masker, compile_patterns
from mlops.errors import MlopsError
from mlops.settings import CONFIG_FILE, Settings

ACCOUNT_CACHE = "account-ids.json"  # sha256(endpoint, access key id) -> account id


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

    # ------------------------------------------------------------ state backend

    def _identity_key(self) -> str | None:
        """What pins the account of the credentials in use, hashed with the endpoint; None
        when nothing does (a profile or the default chain can change accounts)."""
        key_id = self.env.get("AWS_ACCESS_KEY_ID")
        if not key_id:
            return None
        raw = f"{self.env.get('AWS_ENDPOINT_URL', '')}\0{key_id}"
        return hashlib.sha256(raw.encode()).hexdigest()

    def _account_cache(self) -> Path:
        return self.settings.state_dir / ACCOUNT_CACHE

    def _cached_accounts(self) -> dict[str, str]:
        try:
            data = json.loads(self._account_cache().read_text())
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, str)} \
            if isinstance(data, dict) else {}

    def account_id(self, *, fresh: bool = False) -> str:
        """The account of the credentials in use: for an access key, from the cache (keyed
        by endpoint and access key id); for web identity credentials (AWS_ROLE_ARN with
        AWS_WEB_IDENTITY_TOKEN_FILE, used only when no access key is set, as the SDKs'
        credential chains do), from the role ARN; else sts:GetCallerIdentity (an access
        key's answer is cached). `fresh` always asks STS (and corrects the cache)."""
        key = self._identity_key()
        role = re.match(r"^arn:aws[\w-]*:iam::(\d{12}):role/", self.env.get("AWS_ROLE_ARN", ""))
        if role and not key and self.env.get("AWS_WEB_IDENTITY_TOKEN_FILE") and not fresh:
            return role.group(1)
        cached = self._cached_accounts()
        if key and not fresh and key in cached:
            return cached[key]
        account = aws.account_id(self.env)
        if key and cached.get(key) != account:
            cached[key] = account
            path = self._account_cache()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{key[:8]}.tmp")
                tmp.write_text(json.dumps(cached, indent=1, sort_keys=True))
                tmp.replace(path)
            except OSError:
                pass  # a cache: the next run asks STS again
        return account

    def state_bucket(self, env_name: str, *, fresh: bool = False) -> str:
        """The state bucket of `env_name`: the bucket bootstrap/ made in its account.
        (Per-env accounts in mlops.yaml route through here.)"""
        self.config.require_env(env_name)
        return self.config.bucket_for(self.account_id(fresh=fresh))

    def backend_config(self, env_name: str, *, fresh: bool = False) -> dict[str, str]:
        """`-backend-config` values for an env root; no AWS call on the happy path."""
        self.config.require_env(env_name)
        return self.config.backend_config(self.account_id(fresh=fresh),
                                          local_cloud=self.local_cloud)

    def init_backend(self, tf: Terraform, env_name: str) -> bool:
        """terraform init of an env root against its state bucket. Only when it fails is
        the cause worked out: the credentials (STS), a stale cached account (init again
        with the right bucket), or a missing bucket (apply bootstrap/ first). Returns
        whether init ran (False: skipped, nothing it depends on changed)."""
        config = self.backend_config(env_name)
        try:
            return tf.init(config) is not None
        except TerraformError as failure:
            cause = failure
        actual = self.backend_config(env_name, fresh=True)  # raises on bad credentials
        if actual != config:
            return tf.init(actual) is not None  # the cached account was wrong; now right
        raise self.backend_problem(actual["bucket"]) or cause

    def backend_problem(self, bucket: str) -> MlopsError | None:
        """Why an env root cannot use `bucket`, if the cause is the bucket itself."""
        if aws.bucket_exists(self.env, bucket):
            return None
        return MlopsError(
            f"the state bucket {bucket} does not exist",
            "env roots keep their state in the bucket that bootstrap/ creates",
            "apply bootstrap/ first: `mlops bootstrap` (once per account, by a human)",
        )


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
