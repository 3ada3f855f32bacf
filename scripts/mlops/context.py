"""What every command that drives Terraform needs: settings, project config, the prepared
Terraform environment, and one Terraform working directory per root.

The state backend is checked lazily: `init_backend` runs `terraform init` straight away (or
skips it, when nothing it depends on changed), and only when init fails works out why
(no credentials, the state bucket missing: "apply bootstrap/ first"). The state bucket's
name holds the account id; it is known without an AWS call whenever the credentials pin
the account (an access key id belongs to one account for life, so its account is cached
in the state dir; web identity credentials name it in AWS_ROLE_ARN), and it is still
checked against the env's account in mlops.yaml. So the happy path of a plan makes no AWS
call of mlops' own (ADR 9).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.adapters import aws
from mlops.adapters.terraform import Terraform, TerraformError, prepare
from mlops.core import envs, hcl
from mlops.core.config import ProjectConfig, load_yaml, parse_config
from mlops.core.masking import Masker, compile_patterns
from mlops.errors import MlopsError
from mlops.settings import CONFIG_FILE, Settings

if TYPE_CHECKING:
    from mlops.adapters.statelock import StateLock

_BACKEND_KEY = re.compile(r'^\s*key\s*=\s*"([^"]+)"', re.MULTILINE)
ACCOUNT_CACHE = "account-ids.json"  # sha256(endpoint, access key id) -> account id


@dataclass(frozen=True)
class Context:
    settings: Settings
    config: ProjectConfig
    env: Mapping[str, str]
    # Answers of the cloud that cannot change during one command: the account of the
    # credentials, and the state buckets already found.
    _seen: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def local_cloud(self) -> bool:
        return aws.is_local_endpoint(self.env)

    def env_root(self, env_name: str) -> Path:
        """envs/<env>/, after checking its terraform.tfvars agrees with mlops.yaml."""
        spec = self.config.env(env_name)
        root = self.settings.root / "envs" / env_name
        if not root.is_dir():
            raise MlopsError(f"no Terraform root at {root}",
                             f"mlops.yaml lists {env_name} but envs/{env_name}/ is missing",
                             f"create envs/{env_name}/ or remove it from mlops.yaml")
        tfvars = root / "terraform.tfvars"
        if tfvars.is_file():
            values = {k: t.value for k, t in hcl.string_attributes(tfvars.read_text()).items()}
            wrong = envs.tfvars_mismatches(spec, values)
            if wrong:
                found = ", ".join(f'{k} = "{v}"' for k, v, _ in wrong)
                want = ", ".join(f'{k} = "{w}"' for k, _, w in wrong)
                raise MlopsError(
                    f"envs/{env_name}/terraform.tfvars sets {found}, but mlops.yaml says "
                    f"{want} for env {env_name}",
                    "the tfvars decide what Terraform builds and mlops.yaml decides the "
                    "state bucket, the roles and the policy; they must describe the same env",
                    f"make them agree: edit envs/{env_name}/terraform.tfvars or the "
                    f"{env_name} entry of mlops.yaml",
                )
        return root

    def masker(self) -> Masker:
        """Redacts the project's mask_patterns (mlops.yaml) from anything shown."""
        return Masker(patterns=compile_patterns(self.config.mask_patterns))

    def terraform(self, root: Path, label: str) -> Terraform:
        """A Terraform for `root` with its own data dir under the state dir, so parallel
        runs never share a .terraform folder and the source tree stays clean."""
        data_dir = self.settings.state_dir / "tfdata" / label
        data_dir.mkdir(parents=True, exist_ok=True)
        # With OIDC-refreshable sessions, each Terraform starts with current credentials.
        fresh = aws.fresh_credentials_env(self.env)
        return Terraform(workdir=root, env={**self.env, **fresh, "TF_DATA_DIR": str(data_dir)},
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

    def caller_account(self, *, fresh: bool = False) -> str:
        """The account of the credentials in use: for an access key, from the cache (keyed
        by endpoint and access key id); for web identity credentials (AWS_ROLE_ARN with
        AWS_WEB_IDENTITY_TOKEN_FILE, used only when no access key is set, as the SDKs'
        credential chains do), from the role ARN; else sts:GetCallerIdentity (an access
        key's answer is cached). `fresh` always asks STS (and corrects the cache)."""
        if not fresh and "account" in self._seen:
            return self._seen["account"]
        key = self._identity_key()
        role = re.match(r"^arn:aws[\w-]*:iam::(\d{12}):role/", self.env.get("AWS_ROLE_ARN", ""))
        if role and not key and self.env.get("AWS_WEB_IDENTITY_TOKEN_FILE") and not fresh:
            return role.group(1)
        cached = self._cached_accounts()
        if key and not fresh and key in cached:
            self._seen["account"] = cached[key]
            return cached[key]
        account = aws.account_id(self.env)
        self._seen["account"] = account
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

    def account_of(self, env_name: str, *, fresh: bool = False) -> str:
        """The account env_name lives in, which must be the credentials' account: an env
        is planned and applied with credentials of its own account only."""
        self.config.env(env_name)
        account = self.caller_account(fresh=fresh)
        problem = envs.account_problem(self.config.specs, env_name, account)
        if problem:
            spec = self.config.env(env_name)
            wanted = (f"account {spec.account}" if spec.account else
                      "the default account (one that no env in mlops.yaml names)")
            raise MlopsError(
                problem,
                "every account keeps its envs' state in its own bucket and only its own "
                "roles may change them, so nothing was read or changed",
                f"use credentials of {wanted}: in CI, assume the {env_name} plan or apply "
                f"role that `mlops bootstrap` created in that account; locally, e.g. "
                f"AWS_PROFILE=<a profile of that account> mlops ...",
            )
        return account

    def state_bucket(self, env_name: str, *, fresh: bool = False) -> str:
        """The state bucket of env_name: the one of its account (one per account)."""
        return self.config.bucket_for(self.account_of(env_name, fresh=fresh))

    def backend_config(self, env_name: str, *, fresh: bool = False) -> dict[str, str]:
        """`-backend-config` values for an env root; no AWS call on the happy path (the
        bucket is checked only when init fails: init_backend)."""
        return self.config.backend_config(self.account_of(env_name, fresh=fresh),
                                          local_cloud=self.local_cloud)

    def checked_state_bucket(self, env_name: str) -> str:
        """The env's state bucket, after checking it exists (once per command): for the
        commands that call S3 on it themselves rather than through terraform init."""
        bucket = self.state_bucket(env_name)
        if self._seen.get(f"bucket:{bucket}") != "yes":
            problem = self.backend_problem(bucket)
            if problem:
                raise problem
            self._seen[f"bucket:{bucket}"] = "yes"
        return bucket

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
            "env roots keep their state in the bucket that bootstrap/ creates in their "
            "account",
            "apply bootstrap/ first: `mlops bootstrap` (once per account, by a human)",
        )

    def state_key(self, env_name: str) -> str:
        """The env's state key, as its backend.tf sets it (envs/<env>/terraform.tfstate)."""
        backend = self.env_root(env_name) / "backend.tf"
        match = _BACKEND_KEY.search(backend.read_text()) if backend.is_file() else None
        if match is None:
            raise MlopsError(f"no state key in {backend}",
                             "env roots keep their state under the key their backend.tf sets",
                             f'add key = "envs/{env_name}/terraform.tfstate" to its backend "s3"')
        return match.group(1)

    def state_lock(self, env_name: str, bucket: str | None = None) -> StateLock:
        """The env's state lock (Terraform's `<key>.tflock` in its account's state bucket)."""
        from mlops.adapters.statelock import StateLock

        bucket = bucket or self.checked_state_bucket(env_name)
        return StateLock(aws.client(self.env, "s3"), bucket, self.state_key(env_name), env_name)


def load_config(settings: Settings) -> ProjectConfig:
    """mlops.yaml, parsed and checked (the envs and their promotion order included)."""
    path = settings.root / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise MlopsError(f"cannot read {path}", str(err),
                         "mlops.yaml must be a readable UTF-8 text file") from err
    return parse_config(load_yaml(text, str(path)), str(path))


def env_folders(settings: Settings) -> list[str]:
    """The root folders under envs/ (hidden ones aside)."""
    base = settings.root / "envs"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def load_project(settings: Settings) -> ProjectConfig:
    """load_config, and every env listed has its envs/<name>/ root and every root is
    listed: for the commands that work on the roots (plan, apply, changed, env, ...)."""
    config = load_config(settings)
    envs.check_env_folders(config.envs, env_folders(settings))
    return config


def load(env: Mapping[str, str]) -> Context:
    settings = Settings.from_env(env)
    config = load_project(settings)
    tf_env = prepare(settings, env)
    # boto3's region (STS, the state bucket check): the state buckets' region. Terraform's
    # provider region comes from each root's tfvars, the backend's from -backend-config.
    tf_env.setdefault("AWS_REGION", config.region)
    return Context(settings=settings, config=config, env=tf_env)
