"""README.md keeps up with the CLI: every `mlops` verb is mentioned."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.cli import COMMANDS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize("verb", COMMANDS)
def test_every_verb_is_in_the_readme(verb: str) -> None:
    assert f"`mlops {verb}" in README, (
        f"README.md does not mention `mlops {verb}`: add it to the CLI table")
