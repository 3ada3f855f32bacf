"""What `mlops bootstrap` decides, pure: the envs an account gets roles for, and the local
state file of each account's bootstrap."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlops.core.config import ProjectConfig
from mlops.errors import MlopsError

LEGACY_STATE = "terraform.tfstate"


def variables(config: ProjectConfig, account_id: str, *, local_cloud: bool) -> dict[str, str]:
    """The -var values of bootstrap/ for the account of the credentials: only the envs
    that live there get roles (each with its own region, and its protection, which decides
    whom its apply role trusts)."""
    envs = config.envs_in_account(account_id)
    if not envs:
        accounts = sorted({s.account for s in config.specs if s.account})
        raise MlopsError(
            f"no env of mlops.yaml lives in account {account_id} (the credentials' account)",
            f"envs name the accounts {', '.join(accounts)}; envs without `account` live in "
            "any other account, and there are none",
            "use credentials of one of those accounts, or set `account` on the envs that "
            "live here",
        )
    return {
        "project": config.project,
        "region": config.region,
        "owner": config.owner,
        "github_repo": config.github_repo,
        # A protected env's apply role trusts only its GitHub environment (bootstrap/oidc.tf).
        "envs": json.dumps({s.name: {"region": s.region, "protected": s.protected}
                            for s in envs}),
        # Only a throwaway embedded cloud may delete a state bucket that holds state.
        "state_bucket_force_destroy": "true" if local_cloud else "false",
    }


def state_account(state: Any) -> str | None:
    """The account a bootstrap state file was applied in (its aws_caller_identity), or None."""
    if not isinstance(state, Mapping):
        return None
    for resource in state.get("resources") or []:
        if not isinstance(resource, Mapping) or resource.get("type") != "aws_caller_identity":
            continue
        for instance in resource.get("instances") or []:
            account = ((instance or {}).get("attributes") or {}).get("account_id")
            if isinstance(account, str):
                return account
    return None


def state_file(account_id: str, *, per_account_exists: bool, legacy_account: str | None,
               legacy_exists: bool) -> str:
    """bootstrap/'s local state file for `account_id` on real AWS: one per account,
    `terraform-<account>.tfstate`. A repository bootstrapped before there were several
    accounts has `terraform.tfstate`: it stays in use for the account it belongs to."""
    if not per_account_exists and legacy_exists and legacy_account in (account_id, None):
        return LEGACY_STATE
    return f"terraform-{account_id}.tfstate"
