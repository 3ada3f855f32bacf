"""`mlops toolchain`: check terraform and write mlops' own Terraform CLI config."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from mlops.adapters.terraform import prepare
from mlops.settings import Settings


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "toolchain", help="check terraform and write the Terraform CLI config mlops uses")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = Settings.from_env(env)
    tf_env = prepare(settings, env)
    source = f"filesystem mirror {settings.mirror}" if settings.mirror else "the registry"
    print(f"terraform: {tf_env['TERRAFORM']}")
    print(f"cli config: {tf_env['TF_CLI_CONFIG_FILE']} (providers from {source})")
    print(f"plugin cache: {settings.plugin_cache}")
    return 0
