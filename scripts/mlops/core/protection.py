"""Which envs are protected (destroy needs --allow-protected; the apply role trusts only
the env's GitHub environment). Pure.

One function, so the rule lives in one place: with environments as data (mlops.yaml
`envs:` as a mapping, issue 7) it is the env's `protected` flag (default: tier == prod);
with the older list of names, the env named prod.
"""

from __future__ import annotations

from typing import Any

PROTECTED_NAMES = frozenset({"prod"})


def is_protected(config: Any, env: str) -> bool:
    spec_of = getattr(config, "env", None)
    if callable(spec_of):  # ProjectConfig.env(name) -> EnvSpec, when envs are data
        spec = spec_of(env)
        protected = getattr(spec, "protected", None)
        if isinstance(protected, bool):
            return protected
        return getattr(spec, "tier", None) == "prod"
    return env in PROTECTED_NAMES
