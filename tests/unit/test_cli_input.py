"""Bad input never ends in a traceback: every command, through the real entry point
(`mlops.cli.main`), on bad arguments, a bad mlops.yaml, bad plan directories and bad
environment variables, exits non-zero with `error:` (what, why, fix) and nothing else.

The commands are read from the CLI's own parser, so a command added later is covered the
day it lands. Property tests (hypothesis) generate only input that must be refused before
any work starts, so they never start a cloud, run Terraform or call GitHub. A crash that is
not an MlopsError would show as "internal error" (cli.internal_error): that fails too.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlops import cli
from mlops.core import envs

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "plans"
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def refused(self, *expected: str) -> Run:
        """Exited non-zero with a clean `error:` and no traceback or internal error."""
        shown = f"`mlops {' '.join(self.argv)}` -> {self.code}\n{self.stdout}\n{self.stderr}"
        assert self.code != 0, f"expected a refusal: {shown}"
        assert "Traceback" not in self.stdout + self.stderr, shown
        assert "internal error" not in self.stderr, shown
        assert "error:" in self.stderr, shown
        flat = " ".join(self.stderr.split())
        for text in expected:
            assert text in flat, f"{text!r} not in the error: {shown}"
        return self


def run(env: dict[str, str], *argv: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(argv), env)
    return Run(tuple(argv), code, out.getvalue(), err.getvalue())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project root: the repository's mlops.yaml, and a plan directory to read."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(ROOT / "mlops.yaml", root / "mlops.yaml")
    shutil.copytree(ROOT / "policies", root / "policies")
    shutil.copytree(ROOT / "envs", root / "envs",
                    ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan"))
    plan = root / "plans" / "dev"
    plan.mkdir(parents=True)
    shutil.copy(FIXTURES / "creation" / "plan.json", plan / "plan.json")
    return root


@pytest.fixture
def env(project: Path, tmp_path: Path) -> dict[str, str]:
    return {"MLOPS_ROOT": str(project), "MLOPS_STATE_DIR": str(tmp_path / "state"),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            # Never contacted: every input here is refused before anything is called.
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test", "GITHUB_TOKEN": "t"}


def _tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


# ---------------------------------------------------------------- the parser, walked


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def leaves() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    out = []

    def walk(path: tuple[str, ...], parser: argparse.ArgumentParser) -> None:
        subs = _subparsers(parser)
        if not subs:
            out.append((path, parser))
        for name, sub in subs.items():
            walk((*path, name), sub)

    walk((), cli.build_parser())
    return out


LEAVES = leaves()
LEAF_IDS = [" ".join(p) for p, _ in LEAVES]


def _remainder(parser: argparse.ArgumentParser) -> bool:
    return any(a.nargs == argparse.REMAINDER for a in parser._actions)


def test_every_command_is_walked() -> None:
    names = {path[0] for path, _ in LEAVES}
    assert set(cli.COMMANDS) <= names, names
    assert len(LEAVES) >= len(cli.COMMANDS) + 5  # cloud, comment, policy, docs have actions


TOKENS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                 max_size=12)


@SETTINGS
@given(flag=st.from_regex(r"\A--[a-z][a-z0-9-]{2,14}\Z"), extra=st.lists(TOKENS, max_size=3),
       leaf=st.sampled_from([leaf for leaf in LEAVES if not _remainder(leaf[1])]))
def test_an_unknown_option_is_refused_by_every_command(
        env: dict[str, str], flag: str,
        leaf: tuple[tuple[str, ...], argparse.ArgumentParser], extra: list[str]) -> None:
    path, parser = leaf
    assume(flag not in parser._option_string_actions and not "--help".startswith(flag)
           and not "--version".startswith(flag))
    assume(not any(o.startswith(flag) for o in parser._option_string_actions))
    result = run(env, *path, flag, *extra)
    assert result.code == 2, result
    result.refused()


ENV_OPTIONS = [(path, parser) for path, parser in LEAVES
               if "--env" in parser._option_string_actions]


def test_env_options_are_found() -> None:
    assert {" ".join(p) for p, _ in ENV_OPTIONS} >= {"plan", "apply", "destroy",
                                                      "policy check"}


BAD_ENV_NAMES = st.one_of(
    st.sampled_from(["a b", "dev/../../x", "..", "../outside", "/etc", "DEV", "dev_1", "-dev",
                     "dev-", "de--v", "x" * 13, "", " dev", "dev\n", "dév", "1dev"]),
    TOKENS.filter(lambda s: envs.env_name_problem(s) is not None))


@SETTINGS
@given(name=BAD_ENV_NAMES, leaf=st.sampled_from(ENV_OPTIONS))
def test_a_bad_env_name_is_refused_at_the_edge(
        env: dict[str, str], project: Path, name: str,
        leaf: tuple[tuple[str, ...], argparse.ArgumentParser]) -> None:
    path, _ = leaf
    before = _tree(project.parent)
    extra = [str(project / "plans" / "dev")] if path == ("policy", "check") else []
    result = run(env, *path, f"--env={name}", *extra)
    assert result.code == 2
    result.refused("--env:", "env name")
    assert _tree(project.parent) == before, "nothing may be written for a refused command"


INT_OPTIONS = [(path, opt) for path, parser in LEAVES for opt, action in
               parser._option_string_actions.items()
               if opt.startswith("--") and action.type not in (None, str)
               and getattr(action.type, "__name__", "") in ("int", "positive_int",
                                                            "non_negative_int")]


def test_int_options_are_found() -> None:
    assert {(" ".join(p), o) for p, o in INT_OPTIONS} >= {
        ("plan", "--jobs"), ("comment post", "--pr"), ("cloud up", "--port")}


@SETTINGS
@given(value=TOKENS.filter(lambda s: not s.strip().lstrip("+-").isdigit()),
       leaf=st.sampled_from(INT_OPTIONS))
def test_a_number_option_refuses_what_is_not_a_number(
        env: dict[str, str], value: str, leaf: tuple[tuple[str, ...], str]) -> None:
    path, option = leaf
    result = run(env, *path, f"{option}={value}")
    assert result.code == 2
    result.refused()


@pytest.mark.parametrize(("argv", "message"), [
    (["plan", "--changed", "--base", "main", "--jobs", "-1"], "argument --jobs: '-1' is negative"),
    (["comment", "post", "--repo", "a/b", "--pr", "0", "x"], "not a positive whole number"),
    (["cloud", "up", "--port", "80"], "--port 80 is out of range"),
    (["cloud", "up", "--port", "70000"], "--port 70000 is out of range"),
    (["docs", "check", "../.."], "is not a module name"),
    (["docs", "generate", "ml_bucket/../.."], "is not a module name"),
    (["plan", "--env", "dev", "--out", "{project}/mlops.yaml"], "is not a directory"),
    (["canary", "promote", "--env", "dev", "--bake", "a minute"], "is not a number of seconds"),
    (["canary", "promote", "--env", "dev", "--poll", "1s"], "is not a number of seconds"),
])
def test_bad_values_are_refused_before_any_work(env: dict[str, str], project: Path,
                                                argv: list[str], message: str) -> None:
    before = _tree(project.parent)
    run(env, *[a.replace("{project}", str(project)) for a in argv]).refused(message)
    assert _tree(project.parent) == before


@pytest.mark.parametrize(("given", "bake"), [("", None), (" ", None), ("1", 1.0),
                                             ("0.5", 0.5)])
def test_an_empty_canary_timing_is_the_default(given: str, bake: float | None) -> None:
    """_apply.yml passes `--bake "$CANARY_BAKE"`: an unset repository variable is empty,
    and means the default (derived from the alarms), not an error."""
    args = cli.build_parser().parse_args(["canary", "promote", "--env", "dev",
                                          "--bake", given, "--poll", given])
    assert (args.bake, args.poll) == (bake, bake)


# ---------------------------------------------------------------- plan directories


def test_non_utf8_plan_files_are_refused(env: dict[str, str], project: Path) -> None:
    plan_dir = project / "plans" / "dev"
    (plan_dir / "plan.json").write_bytes(b'{"format_version": "1.2", "x": "\xff\xfe"}')
    run(env, "comment", "render", str(plan_dir)).refused("plan.json is not a readable UTF-8",
                                                         "re-run `mlops plan`")
    (plan_dir / "plan.json").unlink()
    (plan_dir / "summary.json").write_bytes(b"\xff\xfe\x00{")
    run(env, "comment", "render", str(plan_dir)).refused("summary.json is not a readable UTF-8")
    (plan_dir / "summary.json").unlink()
    (plan_dir / "plan.json").write_bytes(b"\xc3\x28")
    run(env, "policy", "check", "--env", "dev", str(plan_dir)).refused("cannot read")


PLAN_FILES = ("plan.json", "summary.json", "policy.json", "error.txt", "plan.txt")
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8),
              st.sampled_from(["1.2", "ok", "failed", "dev", "create"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(
                                ["version", "env", "status", "format_version",
                                 "resource_changes", "change", "actions", "counts",
                                 "violations", "outputs", "x"]), inner, max_size=4)),
    max_leaves=12)
CONTENT = st.one_of(st.binary(max_size=60), JSON.map(lambda v: json.dumps(v).encode()))


@SETTINGS
@given(files=st.dictionaries(st.sampled_from(PLAN_FILES), CONTENT, min_size=1, max_size=3))
def test_any_plan_directory_is_read_or_refused(env: dict[str, str], project: Path,
                                               files: dict[str, bytes]) -> None:
    plan_dir = project / "plans" / "fuzz"
    shutil.rmtree(plan_dir, ignore_errors=True)
    plan_dir.mkdir()
    for name, content in files.items():
        (plan_dir / name).write_bytes(content)
    result = run(env, "comment", "render", str(plan_dir))
    if result.code != 0:
        result.refused()
    else:
        assert "Traceback" not in result.stderr and result.stdout.startswith("<!--")


@SETTINGS
@given(content=CONTENT)
def test_any_plan_json_is_checked_or_refused_by_the_policy_gate(
        env: dict[str, str], project: Path, content: bytes) -> None:
    plan = project / "plans" / "gate.json"
    plan.write_bytes(content)
    result = run(env, "policy", "check", "--env", "dev", str(plan))
    if result.code == 2:
        result.refused()
    else:
        assert result.code in (0, 1) and "Traceback" not in result.stderr, result


# ---------------------------------------------------------------- mlops.yaml


@pytest.mark.parametrize(("yaml_tail", "message"), [
    ("mask_patterns: 5\n", "mask_patterns must be a list of regular expressions, not int"),
    ("mask_patterns: token\n", "mask_patterns must be a list of regular expressions, not str"),
    ("mask_patterns:\n  - '('\n", "mask pattern '(' is not a valid regular expression"),
    ("state:\n  bucket: '{project}-{acount}'\n", "unknown placeholder {acount}"),
    ("state:\n  bucket: '{project'\n", "not a valid template"),
])
@pytest.mark.parametrize("argv", [["comment", "render", "{plan}"], ["changed", "--base", "x"],
                                  ["plan", "--env", "dev"]])
def test_bad_mlops_yaml_is_explained(env: dict[str, str], project: Path, yaml_tail: str,
                                     message: str, argv: list[str]) -> None:
    text = (project / "mlops.yaml").read_text()
    text = text.replace('  bucket: "{project}-tfstate-{account_id}"\n', "") \
        if "state:" in yaml_tail else text
    if "state:" in yaml_tail:
        text = text.replace("state:\n", "")
    (project / "mlops.yaml").write_text(text + yaml_tail)
    plan = str(project / "plans" / "dev")
    run(env, *[a.replace("{plan}", plan) for a in argv]).refused(message, "fix:")


@SETTINGS
@given(content=st.one_of(st.binary(max_size=80),
                         JSON.map(lambda v: json.dumps(v).encode()),
                         st.text(max_size=80).map(str.encode)))
def test_any_mlops_yaml_is_read_or_refused(env: dict[str, str], project: Path,
                                           content: bytes) -> None:
    (project / "mlops.yaml").write_bytes(content)
    result = run(env, "comment", "render", str(project / "plans" / "dev"))
    if result.code != 0:
        result.refused()


def test_deep_nesting_is_refused_not_crashed(env: dict[str, str], project: Path) -> None:
    (project / "mlops.yaml").write_text("[" * 5000 + "]" * 5000)
    run(env, "comment", "render", str(project / "plans" / "dev")).refused("mlops.yaml")
    shutil.copy(ROOT / "mlops.yaml", project / "mlops.yaml")
    (project / "plans" / "dev" / "plan.json").write_text("[" * 100_000 + "]" * 100_000)
    run(env, "comment", "render", str(project / "plans" / "dev")).refused("plan.json")


# ---------------------------------------------------------------- environment variables


@SETTINGS
@given(url=st.one_of(
    st.sampled_from(["api.github.com", "github.com/api/v3", "ftp://api.github.com",
                     "https://", "http://:80", "https://api.github.com:port",
                     "https://api.github.com/?x=1", "//api.github.com", " "]),
    TOKENS.filter(lambda s: "://" not in s)))
def test_github_api_url_must_be_a_url(env: dict[str, str], project: Path, url: str) -> None:
    assume(url.strip())  # unset or empty means the default
    result = run({**env, "GITHUB_API_URL": url}, "comment", "post", "--repo", "acme/x",
                 "--pr", "1", str(project / "plans" / "dev"))
    result.refused("GITHUB_API_URL=", "is not a URL mlops can call")


@SETTINGS
@given(port=st.one_of(st.integers(max_value=1023), st.integers(min_value=65536),
                      TOKENS.filter(lambda s: not s.strip().isdigit() and s.strip())))
def test_cloud_port_variable_is_checked(env: dict[str, str], port: int | str) -> None:
    result = run({**env, "MLOPS_CLOUD_PORT": str(port)}, "cloud", "up")
    result.refused("MLOPS_CLOUD_PORT")


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("MLOPS_ROOT", "/nonexistent/h1", "has no mlops.yaml"),
    ("TF_PROVIDER_MIRROR", "/nonexistent/mirror", "is not a directory"),
])
def test_bad_paths_in_the_environment(env: dict[str, str], variable: str, value: str,
                                      message: str) -> None:
    run({**env, variable: value}, "plan", "--env", "dev").refused(message)


# ---------------------------------------------------------------- the last resort


def test_an_internal_error_is_reported_without_a_traceback(
        env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """Not a substitute for the checks above: what a bug looks like to the user."""
    try:
        {}["missing"]
    except KeyError as err:
        code = cli.internal_error(err, env)
    shown = capsys.readouterr().err
    assert code == cli.EXIT_INTERNAL
    assert shown.startswith("error: internal error in mlops (KeyError)")
    assert "please report it" in shown and "Traceback" not in shown
    log = Path(shown.split("the traceback is in ")[1].split()[0])
    assert log.is_relative_to(Path(env["MLOPS_STATE_DIR"]))
    assert "Traceback" in log.read_text() and "KeyError" in log.read_text()


def test_help_and_version_exit_zero(env: dict[str, str]) -> None:
    assert run(env, "--version").code == 0
    assert run(env, "plan", "--help").code == 0
    assert run(env).code == 2  # no command: usage, non-zero


@pytest.mark.terraform  # context.load checks `terraform version`; nothing else runs
@pytest.mark.parametrize("endpoint", [None, "https://s3.us-east-1.amazonaws.com"])
def test_bootstrap_destroy_is_refused_outside_the_embedded_aws(
        env: dict[str, str], project: Path, endpoint: str | None) -> None:
    real = {k: v for k, v in env.items() if k != "AWS_ENDPOINT_URL"}
    if endpoint:
        real["AWS_ENDPOINT_URL"] = endpoint
    before = _tree(project.parent)
    run(real, "bootstrap", "--destroy").refused(
        "refusing to destroy bootstrap/", "for the embedded AWS only", "nothing was changed")
    assert not any("bootstrap" in p for p in _tree(project.parent) - before)
