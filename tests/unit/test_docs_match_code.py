"""The docs name only what exists: every `mlops` command, sub-command and flag that README.md
and docs/ show in code exists in the CLI's own parser (read from `mlops.cli.build_parser`,
so commands other changes add are checked the day they land), every verb of the CLI is in
README.md, and every Make target the docs or `make help` name is a rule of the Makefile.

Only code is read (inline `code` spans and fenced blocks): prose says "mlops reads ..."
without naming a command. A reference is `mlops VERB [SUB] [--flag ...]`; `a\\|b` (a table
cell's escaped pipe) lists alternatives, and a shell operator, `#` comment or `--` ends it.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])

_FENCE = re.compile(r"^\s*(```+|~~~+)")
_INLINE = re.compile(r"(`+)(.+?)\1")
_MLOPS = re.compile(r"(?<![\w.$-])(?:[\w./-]*/)?mlops(?=\s)")
_WORD = re.compile(r"^[a-z][a-z0-9-]*$")
# Commands the docs announce for an open issue before they land. Each must not exist yet
# (test_planned_commands_are_still_planned): when it lands, its entry goes.
PLANNED: dict[str, str] = {}  # none open today
_STOPS = frozenset({"|", "||", "&&", ";", ">", ">>", "<", "2>", "--", "#", "mlops"})


@dataclass(frozen=True)
class Ref:
    where: str  # file:line
    words: tuple[str, ...]  # the tokens after `mlops`


def code_snippets(text: str) -> list[tuple[int, str]]:
    """(line number, code) for every fenced-block line and every inline code span."""
    out: list[tuple[int, str]] = []
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        match = _FENCE.match(line)
        if match:
            marker = match.group(1)
            if fence is None:
                fence = marker[0] * 3
            elif marker.startswith(fence):
                fence = None
            continue
        if fence is not None:
            out.append((number, re.sub(r"(^|\s)#.*$", "", line)))  # drop shell comments
        else:
            out += [(number, m.group(2)) for m in _INLINE.finditer(line)]
    return out


def references(text: str, source: str = "text") -> list[Ref]:
    refs = []
    for number, code in code_snippets(text):
        for match in _MLOPS.finditer(code):
            tokens = []
            for token in code[match.end():].split():
                if token in _STOPS or token.startswith(("#", ")", "|")):
                    break
                tokens.append(token.strip("[]\"'(){}"))
            refs.append(Ref(f"{source}:{number}", tuple(t for t in tokens if t)))
    return refs


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def problems(parser: argparse.ArgumentParser, ref: Ref) -> list[str]:
    """What in `ref` the parser does not have ([] when it all exists)."""
    current = [parser]
    path = ["mlops"]
    expect_sub = True
    found: list[str] = []
    for token in ref.words:
        if token.startswith("--"):
            flag = token.split("=", 1)[0]
            if not re.fullmatch(r"--[a-z][a-z0-9-]*", flag):
                continue
            for p in current:
                if flag not in p._option_string_actions:
                    found.append(f"{ref.where}: `{' '.join(path)}` has no option {flag}")
            expect_sub = False
            continue
        subs = [_subcommands(p) for p in current]
        names = token.replace("\\|", "|").split("|")
        if expect_sub and all(subs) and all(_WORD.match(n) for n in names):
            if current == [parser] and all(n in PLANNED for n in names):
                return found  # announced for an open issue (PLANNED)
            missing = [n for n in names if not all(n in s for s in subs)]
            if missing:
                found.append(f"{ref.where}: `{' '.join(path)}` has no sub-command "
                             f"{', '.join(missing)} (it has {', '.join(sorted(subs[0]))})")
                return found
            current = [s[n] for s in subs for n in names]
            path.append(token.replace("\\|", "|"))
            continue
        expect_sub = False  # a positional argument or an option's value
    return found


# ---------------------------------------------------------------- the checker checks


def test_the_scanner_finds_bad_verbs_subcommands_and_flags() -> None:
    parser = build_parser()
    text = "\n".join([
        "Run `mlops plan --env dev --nope` and `mlops planx`.",
        "```sh",
        'eval "$(mlops cloud up --port 1)"  # mlops then prints exports',
        "mlops cloud upp",
        "mlops comment render\\|post --repo x DIR",
        "```",
        "Prose: mlops reads plan.json; `mlops.yaml` and `mlops-gitops` are not commands.",
        "`mlops localcloud: <service>.<Operation> is not implemented` is a message.",
    ])
    refs = references(text, "sample.md")
    assert [r.words[:2] for r in refs] == [
        ("plan", "--env"), ("planx",), ("cloud", "up"), ("cloud", "upp"),
        ("comment", "render\\|post"), ("localcloud:", "<service>.<Operation>")]
    found = [p for r in refs for p in problems(parser, r)]
    assert any("no option --nope" in p and "sample.md:1" in p for p in found), found
    assert any("no sub-command planx" in p for p in found), found
    assert any("no sub-command upp" in p and "sample.md:4" in p for p in found), found
    # --repo belongs to `comment post` only: the alternatives must all have it.
    assert any("`mlops comment render|post` has no option --repo" in p for p in found), found
    assert not any("localcloud" in p or "--port" in p for p in found), found
    assert len(found) == 4, found


def test_planned_commands_are_still_planned() -> None:
    landed = sorted(set(PLANNED) & set(_subcommands(build_parser())))
    assert not landed, f"`mlops {landed}` exists now: remove it from PLANNED"


def test_the_docs_reference_the_cli_broadly() -> None:
    """Guards the scanner against silently finding nothing in the real docs."""
    refs = [r for doc in DOCS for r in references(doc.read_text(), doc.name)]
    verbs = {r.words[0] for r in refs if r.words}
    assert len(refs) >= 40, f"only {len(refs)} `mlops ...` references found in the docs"
    assert {"plan", "apply", "comment", "policy", "cloud", "changed", "demo"} <= verbs, verbs


# ---------------------------------------------------------------- the real docs


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_every_mlops_command_in_the_docs_exists(doc: Path) -> None:
    parser = build_parser()
    found = [p for r in references(doc.read_text(), str(doc.relative_to(ROOT)))
             for p in problems(parser, r)]
    assert not found, "the docs name commands or flags the CLI does not have:\n" + "\n".join(
        found)


def test_every_mlops_verb_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    named = {r.words[0] for r in references(readme) if r.words}
    missing = sorted(set(_subcommands(build_parser())) - named)
    assert not missing, f"README.md never shows `mlops {'`, `mlops '.join(missing)}`"


# ---------------------------------------------------------------- make targets


def _make(*args: str) -> str:
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args],
                          capture_output=True, text=True, check=False).stdout


@pytest.fixture(scope="module")
def make_rules() -> set[str]:
    """Targets the Makefile defines, from make's own database (no recipe runs)."""
    database = _make("-pRrq", "-f", "Makefile", "__no_such_target__")
    rules: set[str] = set()
    not_a_target = False
    for line in database.splitlines():
        if line.startswith("# Not a target"):
            not_a_target = True
            continue
        match = re.match(r"^([A-Za-z0-9_.-]+):(?!=)", line)
        if match and not not_a_target and not match.group(1).startswith("."):
            rules.add(match.group(1))
        not_a_target = False
    assert {"help", "test", "setup"} <= rules, f"could not read make's database: {rules}"
    return rules


def test_every_target_make_help_lists_is_a_rule(make_rules: set[str]) -> None:
    listed = re.findall(r"^\s+make (\S+)", _make("help"), re.MULTILINE)
    assert len(listed) >= 10, f"`make help` listed {listed}"
    assert not set(listed) - make_rules, f"make help lists {set(listed) - make_rules}"


def test_every_phony_target_is_a_rule_and_in_make_help(make_rules: set[str]) -> None:
    text = (ROOT / "Makefile").read_text()
    phony = {t for line in re.findall(r"^\.PHONY:(.*)$", text, re.MULTILINE)
             for t in line.split()}
    listed = set(re.findall(r"^\s+make (\S+)", _make("help"), re.MULTILINE))
    assert not phony - make_rules, f".PHONY declares targets with no rule: {phony - make_rules}"
    assert not phony - listed, f".PHONY targets missing from make help: {phony - listed}"


def test_every_make_target_in_the_docs_is_a_rule(make_rules: set[str]) -> None:
    named = {(f"{doc.relative_to(ROOT)}:{n}", m.group(1))
             for doc in DOCS for n, code in code_snippets(doc.read_text())
             for m in re.finditer(r"(?<![\w-])make ([a-z][a-z0-9-]*)", code)}
    assert len(named) >= 10, named
    unknown = sorted(f"{where}: make {target}" for where, target in named
                     if target not in make_rules)
    assert not unknown, "the docs name Make targets that do not exist:\n" + "\n".join(unknown)
