"""`mlops release` with a token: the release pull request through the GitHub API (the
embedded GitHub, real HTTP), seeded from a real git repository holding the project's env
roots. The tfvars are read from and committed to the repository, the checkout is never
touched; a re-run finds the same pull request; once merged, there is nothing to release."""

from __future__ import annotations

import io
import shutil
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from fakegithub import FakeGitHub

from mlops.cli import main
from mlops.core import release

pytestmark = pytest.mark.terraform  # `terraform fmt` formats the edited file

ROOT = Path(__file__).resolve().parents[2]
REPO = "acme/ml-infra"
TFVARS = "envs/dev/terraform.tfvars"
SHA = "ab" * 32
URI = f"s3://mlops-demo-dev-artifacts/models/{SHA}/model.tar.gz"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-demo-dev-model-server:0.1.0"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), "-c", "user.email=t@example.com", "-c",
                           "user.name=t", *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def run(env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv), env)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "envs", repo / "envs", ignore=shutil.ignore_patterns(".terraform"))
    shutil.copy(ROOT / "mlops.yaml", repo / "mlops.yaml")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "project")
    return repo


def test_release_opens_one_pull_request_and_leaves_the_checkout_alone(
        project: Path, tmp_path: Path) -> None:
    with FakeGitHub(pulls=set()) as hub:
        hub.seed(REPO, project)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "MLOPS_ROOT": str(project),
               "MLOPS_STATE_DIR": str(tmp_path / "state"), "GITHUB_TOKEN": hub.token,
               "GITHUB_API_URL": hub.url, "GITHUB_REPOSITORY": REPO}
        before = (project / TFVARS).read_text()
        code, out, err = run(env, "release", "--env", "dev", "--model", URI, "--image", IMAGE)
        assert code == 0, err
        key = release.default_key(SHA)
        [pull] = hub.pull_requests.values()
        url = f"https://github.example/{REPO}/pull/{pull.number}"
        assert out.strip() == url, out
        assert pull.head_ref == f"mlops/release-dev-{key}", pull
        assert pull.title == f"First release of dev: model {SHA[:12]} (release {key})", pull
        assert "serving is enabled" in pull.body and "Proposed by `mlops release" in pull.body
        proposed = hub.file_at(REPO, pull.head_ref, TFVARS)
        assert proposed is not None
        serving = release.read_serving(proposed, TFVARS)
        assert (serving.enabled, serving.active, serving.releases) == (
            True, key, {key: {"stable": {"image": IMAGE, "model_data_url": URI}}})
        assert (project / TFVARS).read_text() == before, "the checkout must not be edited"
        assert hub.file_at(REPO, "main", TFVARS) == before, "main changes only by merging"

        again = run(env, "release", "--env", "dev", "--model", URI, "--image", IMAGE)
        assert again[0] == 0 and again[1].strip() == url, again
        assert len(hub.pull_requests) == 1 and "already open" in again[2], again[2]

        # Merged: main has the release, and releasing the same model changes nothing.
        (project / TFVARS).write_text(proposed)
        git(project, "commit", "-q", "-am", "merge")
        hub.set_branch(REPO, "main", git(project, "rev-parse", "HEAD"))
        done = run(env, "release", "--env", "dev", "--model", URI)
        assert done[0] == 0 and not done[1].strip(), done
        assert f"model {SHA[:12]} is already what dev serves" in done[2], done[2]
        assert len(hub.pull_requests) == 1
