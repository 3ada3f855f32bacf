"""Environments as data: what an env is, what its tier means, and the promotion order. Pure.

`mlops.yaml` lists the envs (see docs/adr/0006-environments-as-data.md):

    region: us-east-1
    envs:
      dev:     {tier: dev}
      staging: {tier: staging, after: [dev]}
      prod:    {tier: prod, after: [staging]}
      prod-eu: {tier: prod, after: [staging], region: eu-west-1, account: "222222222222"}

The tier (dev, staging, prod), not the name, drives policy: TIERS says what each means.
`after` orders promotion; `promotion_waves` turns it into waves that may run in parallel.
The shorthand `envs: [dev, staging, prod]` (names that are tier names; each promoted after
the one before it) keeps forks of the first layout working.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlops.errors import MlopsError

ENV_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MAX_ENV_NAME = 12  # {project}-{env}-{component} must fit IAM, S3 and SageMaker name limits
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")
ACCOUNT_RE = re.compile(r"^[0-9]{12}$")
ENV_KEYS = ("tier", "after", "region", "account", "protected")


@dataclass(frozen=True)
class TierPolicy:
    """What a tier means for the policy gate, the reaper and reviews.

    instance_allowlist   key of policies/data/instance_types.yaml the gate checks against
    protected_by_default an env of this tier is protected unless mlops.yaml says otherwise:
                         destroying its stateful resources needs the PR label
                         allow-destroy:<env>, its GitHub environment needs reviewers, and the
                         reaper deletes its endpoints only when they are named
    reapable             the reaper may sweep its endpoints by age (unless the env is protected)
    max_endpoint_hours   the age past which the reaper deletes an endpoint (None: never by age)
    endpoint_needs_ttl   every endpoint carries a TTL (the sagemaker_endpoint module refuses one
                         without); "an endpoint alive overnight is a failure" in dev
    """

    name: str
    instance_allowlist: str
    protected_by_default: bool
    reapable: bool
    max_endpoint_hours: int | None
    endpoint_needs_ttl: bool


TIERS: Mapping[str, TierPolicy] = {
    "dev": TierPolicy("dev", "dev", protected_by_default=False, reapable=True,
                      max_endpoint_hours=12, endpoint_needs_ttl=True),
    "staging": TierPolicy("staging", "staging", protected_by_default=False, reapable=True,
                          max_endpoint_hours=72, endpoint_needs_ttl=False),
    "prod": TierPolicy("prod", "prod", protected_by_default=True, reapable=False,
                       max_endpoint_hours=None, endpoint_needs_ttl=False),
}


@dataclass(frozen=True)
class EnvSpec:
    name: str
    tier: str
    region: str
    account: str | None = None  # None: the account the credentials are in (see ADR 0006)
    protected: bool = False
    after: tuple[str, ...] = ()

    @property
    def policy(self) -> TierPolicy:
        return TIERS[self.tier]

    @property
    def reaped_by_age(self) -> bool:
        """The reaper may delete this env's endpoints by age, without being named."""
        return self.policy.reapable and not self.protected

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tier": self.tier, "region": self.region,
                "account": self.account, "protected": self.protected,
                "after": list(self.after)}


# The roles bootstrap/ makes per env, by what the workflows use them for.
ROLE_KINDS = ("plan", "apply", "drift", "reaper")


def role_variable(kind: str, env: str) -> str:
    """The GitHub repository variable that holds bootstrap's `<kind>_role_arns[env]`.

    GitHub variable names take only letters, digits and `_` (and are case-insensitive),
    while env names may hold `-`: `prod-eu`'s apply role is APPLY_ROLE_ARN_PROD_EU. Env
    names never hold `_` (ENV_NAME_RE), so no two envs share a variable."""
    if kind not in ROLE_KINDS:
        raise ValueError(f"unknown role kind {kind!r} (one of {', '.join(ROLE_KINDS)})")
    return f"{kind.upper()}_ROLE_ARN_{env.upper().replace('-', '_')}"


def approval_environment(env: str) -> str:
    """The protected GitHub environment whose reviewers approve an apply that the stale-plan
    guard held (the plan changed since review). bootstrap/oidc.tf lets it assume the env's
    apply role too."""
    return f"{env}-approval"


def _error(source: str, what: str, fix: str) -> MlopsError:
    return MlopsError(f"{source}: {what}", "mlops reads the list of environments from it", fix)


def env_name_problem(name: object) -> str | None:
    """Why `name` cannot be an env name, or None when it can."""
    if not isinstance(name, str) or not name:
        return f"env name {name!r} is not a non-empty string"
    if len(name) > MAX_ENV_NAME:
        return f"env name {name!r} is longer than {MAX_ENV_NAME} characters"
    if not ENV_NAME_RE.fullmatch(name):  # fullmatch: `$` would let a trailing newline in
        return (f"env name {name!r} is not lowercase letters and digits, starting with a "
                "letter, in words joined by single hyphens")
    return None


def check_env_name(name: str, source: str = "mlops.yaml") -> str:
    problem = env_name_problem(name)
    if problem:
        raise _error(source, problem,
                     f"rename it, e.g. qa or prod-eu: it becomes part of every resource name "
                     f"({{project}}-{{env}}-...), so at most {MAX_ENV_NAME} characters")
    return name


def check_tier(tier: object, where: str, source: str = "mlops.yaml") -> str:
    if not isinstance(tier, str) or tier not in TIERS:
        raise _error(source, f"{where}: unknown tier {tier!r}",
                     f"set tier to one of {', '.join(TIERS)}")
    return tier


def check_region(region: object, where: str, source: str = "mlops.yaml") -> str:
    if not isinstance(region, str) or not REGION_RE.match(region):
        raise _error(source, f"{where}: region {region!r} is not an AWS region name",
                     "use a region code such as us-east-1 or eu-west-1")
    return region


def check_account(account: object, where: str, source: str = "mlops.yaml") -> str:
    if isinstance(account, int) and not isinstance(account, bool):
        raise _error(source, f"{where}: account {account} is a number",
                     f'quote it: account: "{account:012d}" (YAML drops leading zeros of '
                     "numbers, and account ids can start with 0)")
    if not isinstance(account, str) or not ACCOUNT_RE.match(account):
        raise _error(source, f"{where}: account {account!r} is not a 12-digit AWS account id",
                     'set account: "123456789012" (quoted), or leave it out for the '
                     "account of the credentials")
    return account


def parse_envs(raw: Any, default_region: str, source: str = "mlops.yaml") -> tuple[EnvSpec, ...]:
    """The `envs:` value of mlops.yaml -> specs, in the file's order. Checks each entry;
    `promotion_order` checks the graph."""
    if isinstance(raw, list):
        return _parse_list(raw, default_region, source)
    if not isinstance(raw, dict) or not raw:
        raise _error(source, "envs must be a mapping of env name to settings",
                     "e.g. envs: {dev: {tier: dev}, prod: {tier: prod, after: [dev]}}")
    specs = []
    for name, value in raw.items():
        check_env_name(name, source)
        where = f"envs.{name}"
        if not isinstance(value, dict):
            raise _error(source, f"{where} must be a mapping with at least a tier",
                         f"e.g. {name}: {{tier: dev}}")
        unknown = sorted(str(k) for k in value if k not in ENV_KEYS)
        if unknown:
            raise _error(source, f"{where}: unknown key(s) {', '.join(unknown)}",
                         f"an env takes {', '.join(ENV_KEYS)}")
        if "tier" not in value:
            raise _error(source, f"{where} has no tier",
                         f"add tier: one of {', '.join(TIERS)}")
        tier = check_tier(value["tier"], where, source)
        region = check_region(value.get("region", default_region), where, source)
        account = value.get("account")
        if account is not None:
            account = check_account(account, where, source)
        protected = value.get("protected", TIERS[tier].protected_by_default)
        if not isinstance(protected, bool):
            raise _error(source, f"{where}: protected must be true or false",
                         f"remove it (default for tier {tier}: "
                         f"{str(TIERS[tier].protected_by_default).lower()}) or set true/false")
        after = value.get("after", [])
        if isinstance(after, str):
            after = [after]
        if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
            raise _error(source, f"{where}: after must be a list of env names",
                         "e.g. after: [staging]")
        specs.append(EnvSpec(name=name, tier=tier, region=region, account=account,
                             protected=protected, after=tuple(dict.fromkeys(after))))
    return tuple(specs)


def _parse_list(raw: list[Any], default_region: str, source: str) -> tuple[EnvSpec, ...]:
    """The shorthand `envs: [dev, staging, prod]`: tier = name, each after the previous."""
    if not raw:
        raise _error(source, "envs is empty", "list at least one env: envs: {dev: {tier: dev}}")
    specs: list[EnvSpec] = []
    for name in raw:
        check_env_name(name, source)
        if name not in TIERS:
            raise _error(source, f"envs: {name!r} is not a tier name, so the list form cannot "
                         "say its tier",
                         f"use the mapping form: envs: {{..., {name}: {{tier: dev, after: "
                         "[...]}} (see docs/adr/0006-environments-as-data.md)")
        if any(s.name == name for s in specs):
            raise _error(source, f"env {name!r} is listed twice", "list each env once")
        specs.append(EnvSpec(name=name, tier=name, region=default_region,
                             protected=TIERS[name].protected_by_default,
                             after=(specs[-1].name,) if specs else ()))
    return tuple(specs)


def promotion_waves(envs: Sequence[EnvSpec], source: str = "mlops.yaml") -> list[list[str]]:
    """The promotion order as waves: each env comes in the first wave after every env it
    is `after`. Within a wave, envs keep the file's order. Unknown `after` targets and
    cycles are errors (the cycle is named)."""
    names = [e.name for e in envs]
    known = set(names)
    for env in envs:
        missing = [a for a in env.after if a not in known]
        if missing:
            raise _error(source, f"envs.{env.name}: after names unknown env(s) "
                         f"{', '.join(missing)}",
                         f"use env names listed under envs ({', '.join(names)})")
    placed: dict[str, int] = {}
    waves: list[list[str]] = []
    while len(placed) < len(envs):
        wave = [e.name for e in envs
                if e.name not in placed and all(a in placed for a in e.after)]
        if not wave:
            cycle = find_cycle({e.name: e.after for e in envs if e.name not in placed})
            raise _error(source, "the promotion order has a cycle: " + " after ".join(cycle),
                         "remove one of these `after` entries so that the order has a start")
        for name in wave:
            placed[name] = len(waves)
        waves.append(wave)
    return waves


def find_cycle(after: Mapping[str, Sequence[str]]) -> list[str]:
    """One cycle of the graph env -> the envs it comes after, as [a, b, ..., a] where each
    comes after the next. Every env in `after` must be on or lead to a cycle."""
    start = next(iter(after))
    path: list[str] = []
    seen: dict[str, int] = {}
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(a for a in after[node] if a in after)
    return [*path[seen[node]:], node]


def promotion_order(envs: Sequence[EnvSpec], source: str = "mlops.yaml") -> tuple[EnvSpec, ...]:
    """The envs in promotion order (the waves flattened)."""
    by_name = {e.name: e for e in envs}
    return tuple(by_name[n] for wave in promotion_waves(envs, source) for n in wave)


def check_env_folders(listed: Iterable[str], folders: Iterable[str],
                      source: str = "mlops.yaml") -> None:
    """Every listed env has its envs/<name>/ root, and every root is listed."""
    listed, found = list(listed), set(folders)
    missing = [n for n in listed if n not in found]
    if missing:
        raise MlopsError(
            f"{source} lists env(s) {', '.join(missing)} but envs/{missing[0]}/ is missing",
            "each env is one entry in mlops.yaml and one root folder envs/<name>/",
            f"create envs/{missing[0]}/ as a copy of another env's root, or remove "
            f"{missing[0]} from {source} and scaffold both with `mlops env add {missing[0]} "
            f"--like {_like(listed, missing)}`")
    unlisted = sorted(found - set(listed))
    if unlisted:
        raise MlopsError(
            f"envs/{unlisted[0]}/ is not an env listed in {source}"
            + (f" (nor are {', '.join(unlisted[1:])})" if len(unlisted) > 1 else ""),
            "mlops plans, applies and bootstraps only the envs mlops.yaml lists, so this "
            "root would silently be left out",
            f"add it under envs in {source} (e.g. {unlisted[0]}: {{tier: dev}}), or delete "
            f"envs/{unlisted[0]}/")


def _like(listed: Sequence[str], missing: Sequence[str]) -> str:
    present = [n for n in listed if n not in missing]
    return present[0] if present else "ENV"


def tfvars_mismatches(spec: EnvSpec, values: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(key, tfvars value, mlops.yaml value) for each of env, tier and region that the
    root's terraform.tfvars sets to something else than mlops.yaml says. A key the tfvars
    does not set is not compared (Terraform itself refuses a missing required variable)."""
    expected = {"env": spec.name, "tier": spec.tier, "region": spec.region}
    return [(key, values[key], want) for key, want in expected.items()
            if key in values and values[key] != want]


def account_problem(specs: Sequence[EnvSpec], name: str, caller_account: str) -> str | None:
    """Why credentials in `caller_account` must not plan or apply env `name`, or None.
    An env with `account` lives there; one without lives in the account of the credentials,
    unless another env names that account as its own (ADR 0006)."""
    spec = next(s for s in specs if s.name == name)
    if spec.account is not None:
        if spec.account == caller_account:
            return None
        return (f"env {name} lives in AWS account {spec.account} (mlops.yaml), but the "
                f"credentials are for account {caller_account}")
    owners = [s.name for s in specs if s.account == caller_account]
    if owners:
        return (f"env {name} lives in the default account (no `account` in mlops.yaml), but "
                f"the credentials are for account {caller_account}, which mlops.yaml names "
                f"as the account of {', '.join(owners)}")
    return None
