"""`mlops comment render|post` end to end: plan directories on disk, the fake GitHub API."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
from fakegithub import FakeGitHub

from mlops.commands import comment as command
from mlops.core import comment, plansummary
from mlops.core.comment import LABEL_DESTROY, MARKER
from mlops.errors import MlopsError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "plans"
REPO, PR = "acme/ml-infra", 7
SECRETS = ("ghp_abcdefSECRET123", "ghp_FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE1234",
           "s3cr3t-token-1", "s3cr3t-token-2")

MLOPS_YAML = """\
project: mlops-demo
region: us-east-1
owner: ml-platform
github_repo: acme/ml-infra
envs: [dev, staging, prod]
mask_patterns:
  - 'ghp_[A-Za-z0-9]+'
"""


def run(argv: list[str], env: dict[str, str]) -> int:
    parser = argparse.ArgumentParser(prog="mlops")
    command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    result: int = args.func(args, env)
    return result


@pytest.fixture
def root(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "mlops.yaml").write_text(MLOPS_YAML)
    return repo


@pytest.fixture
def plan_dirs(tmp_path: Path) -> list[Path]:
    """dev: creation (a token in a SageMaker env var), staging: failed (a token in the
    error), prod: destroys a bucket; plus the sensitive-values plan as env `ml`."""
    dirs = []
    for env, fixture in (("dev", "creation"), ("staging", "failed"), ("prod", "prod_destroy"),
                         ("ml", "sensitive")):
        d = tmp_path / "plans" / env
        shutil.copytree(FIXTURES / fixture, d)
        dirs.append(d)
    return dirs


@pytest.fixture
def env(root: Path, tmp_path: Path, fake_github: FakeGitHub) -> dict[str, str]:
    return {
        "MLOPS_ROOT": str(root),
        "GITHUB_API_URL": fake_github.url,
        "GITHUB_TOKEN": fake_github.token,
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md"),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_RUN_ID": "4242",
    }


def test_post_creates_comment_summary_and_label(
        fake_github: FakeGitHub, plan_dirs: list[Path], env: dict[str, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["comment", "post", "--repo", REPO, "--pr", str(PR), *map(str, plan_dirs)],
               env) == 0
    [posted] = fake_github.comments_on(REPO, PR)
    assert posted.body.startswith(MARKER)
    step_summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert step_summary == posted.body + "\n"
    out = capsys.readouterr()
    for text in (posted.body, step_summary, out.out, out.err):
        for secret in SECRETS:
            assert secret not in text
    # Sections in dev, staging, prod order, then the others alphabetically.
    positions = [posted.body.index(f"### {e} ") for e in ("dev", "staging", "prod", "ml")]
    assert positions == sorted(positions)
    assert "https://github.com/acme/ml-infra/actions/runs/4242" in posted.body
    # The hashes in the header are those of the plan.json files.
    hashes = comment.parse_comment(posted.body)
    for d in plan_dirs:
        if (d / "plan.json").is_file():
            assert hashes[d.name] == plansummary.plan_hash(json.loads(
                (d / "plan.json").read_text()))
    assert "staging" not in hashes
    # A failed plan: no truthful label, so none of ours.
    assert fake_github.issue_labels[(REPO, PR)] == []
    assert f"created plan comment {posted.id}" in out.out


def test_post_twice_updates_the_one_comment_and_label(
        fake_github: FakeGitHub, plan_dirs: list[Path], env: dict[str, str]) -> None:
    dirs = [str(d) for d in plan_dirs if d.name in ("dev", "prod")]
    del env["GITHUB_STEP_SUMMARY"]
    run(["comment", "post", "--repo", REPO, "--pr", str(PR), *dirs], env)
    run(["comment", "post", "--repo", REPO, "--pr", str(PR), *dirs], env)
    assert len(fake_github.comments_on(REPO, PR)) == 1
    assert len(fake_github.calls("PATCH")) == 1
    assert fake_github.issue_labels[(REPO, PR)] == [LABEL_DESTROY]


def test_render_prints_the_same_body(plan_dirs: list[Path], env: dict[str, str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["comment", "render", *map(str, plan_dirs)], env) == 0
    out = capsys.readouterr().out
    assert out.startswith(MARKER)
    assert not any(secret in out for secret in SECRETS)
    assert "🛑" in out and "`module.storage.aws_s3_bucket.this`" in out


def test_plan_dir_without_summary_is_summarised(tmp_path: Path, env: dict[str, str],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "dev"
    shutil.copytree(FIXTURES / "replacement", d)
    run(["comment", "render", str(d)], env)
    out = capsys.readouterr().out
    assert "### dev · ⚠️ 1 to change, 2 to replace" in out


def test_summary_json_is_read_and_checked_against_plan_json(
        tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "prod"
    shutil.copytree(FIXTURES / "prod_destroy", d)
    summary = plansummary.summarize(json.loads((d / "plan.json").read_text()), "prod")
    (d / "summary.json").write_text(json.dumps(summary.to_dict()))
    run(["comment", "render", str(d)], env)
    assert comment.parse_comment(capsys.readouterr().out) == {"prod": summary.plan_hash}
    stale = {**summary.to_dict(), "plan_hash": "0" * 64}
    (d / "summary.json").write_text(json.dumps(stale))
    with pytest.raises(MlopsError, match="does not match"):
        run(["comment", "render", str(d)], env)


@pytest.mark.parametrize(("drop", "match"), [
    ("GITHUB_TOKEN", "GITHUB_TOKEN is not set"),
    ("MLOPS_ROOT", "MLOPS_ROOT"),
])
def test_post_needs_token_and_root(plan_dirs: list[Path], env: dict[str, str], drop: str,
                                   match: str, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no mlops.yaml above: MLOPS_ROOT is the only way in
    env = {k: v for k, v in env.items() if k != drop}
    with pytest.raises(MlopsError) as err:
        run(["comment", "post", "--repo", REPO, "--pr", str(PR), str(plan_dirs[0])], env)
    assert match in err.value.render()
    assert err.value.fix


def test_post_rejects_bad_arguments(plan_dirs: list[Path], env: dict[str, str],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(MlopsError, match="not OWNER/NAME"):
        run(["comment", "post", "--repo", "not-a-repo", "--pr", "7", str(plan_dirs[0])], env)
    # --pr is checked where it is parsed (argparse's usage error, exit 2), before any work.
    with pytest.raises(SystemExit) as exit_:
        run(["comment", "post", "--repo", REPO, "--pr", "0", str(plan_dirs[0])], env)
    assert exit_.value.code == 2
    assert "argument --pr: '0' is not a positive whole number" in capsys.readouterr().err


def test_bad_mask_pattern_is_a_config_error(root: Path, plan_dirs: list[Path],
                                            env: dict[str, str]) -> None:
    (root / "mlops.yaml").write_text(MLOPS_YAML + "  - '('\n")
    with pytest.raises(MlopsError, match="mask pattern"):
        run(["comment", "render", str(plan_dirs[0])], env)


def test_missing_and_duplicate_plan_dirs(tmp_path: Path, plan_dirs: list[Path],
                                         env: dict[str, str]) -> None:
    with pytest.raises(MlopsError, match="does not exist"):
        run(["comment", "render", str(tmp_path / "nope")], env)
    twin = tmp_path / "other" / "dev"
    shutil.copytree(plan_dirs[0], twin)
    with pytest.raises(MlopsError, match="more than one plan directory for env dev"):
        run(["comment", "render", str(plan_dirs[0]), str(twin)], env)


def test_permission_error_surfaces_after_step_summary(
        fake_github: FakeGitHub, plan_dirs: list[Path], env: dict[str, str]) -> None:
    fake_github.inject("POST", r"/comments$", 403, "Resource not accessible by integration",
                       times=None)
    with pytest.raises(MlopsError) as err:
        run(["comment", "post", "--repo", REPO, "--pr", str(PR), str(plan_dirs[0])], env)
    assert "pull-requests: write" in err.value.render()
    assert Path(env["GITHUB_STEP_SUMMARY"]).read_text().startswith(MARKER)


def test_render_shows_the_policy_gate_result_of_the_plan_dir(
        tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """`mlops policy check` writes policy.json into the plan dir; the comment shows it."""
    from mlops import cli

    repo_root = Path(__file__).resolve().parents[2]
    d = tmp_path / "plans" / "dev"
    d.mkdir(parents=True)
    shutil.copy(repo_root / "tests" / "policy" / "fixtures" / "network_fail.json",
                d / "plan.json")
    code = cli.main(["policy", "check", "--env", "dev", "--policy-dir",
                     str(repo_root / "policies"), str(d)], env)
    assert code == 1 and (d / "policy.json").is_file()
    capsys.readouterr()
    assert run(["comment", "render", str(d)], env) == 0
    out = capsys.readouterr().out
    violations = json.loads((d / "policy.json").read_text())["violations"]
    assert violations, "the fixture should violate the network policy"
    head = out.split("### dev")[0]
    assert f"fails the policy gate: {len(violations)} violation" in head, head
    for violation in violations:
        assert violation["message"] in head


def test_post_through_the_cli_when_the_api_url_answers_html(
        fake_github: FakeGitHub, plan_dirs: list[Path], env: dict[str, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    """GITHUB_API_URL pointing at a web page (200, HTML): an error, never a traceback."""
    from mlops.cli import main

    fake_github.inject("GET", r"/comments$", 200, raw=b"<!DOCTYPE html><title>GitHub</title>",
                       times=None)
    code = main(["comment", "post", "--repo", REPO, "--pr", str(PR), str(plan_dirs[0])], env)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "internal error" not in err
    assert "but not JSON (text/html" in err and "fix: check GITHUB_API_URL" in err
