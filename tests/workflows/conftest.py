"""Fixtures for running workflows under act (tests marked `workflow`).

- `act`: one act session per pytest session (per xdist worker; the workflow tests share
  the `act` xdist group, so they all run on one worker): the repository under test (a
  commit of this checkout), the runner's tool cache, the actions/cache store.
- `workflow_cloud`: an embedded AWS of its own, bootstrapped once, so what a workflow
  reaps or finds drifted is only what these tests made (the other tests' cloud is not
  touched).
- `github`: a fresh embedded GitHub per test (REST API + Actions OIDC token endpoint),
  serving the repository under test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from actrunner import REPOSITORY, Act, Repo, WorkflowCloud

from mlops.adapters.terraform import prepare
from mlops.cli import main
from mlops.errors import MlopsError
from mlops.localcloud import control
from mlops.localcloud.github import FakeGitHub, OidcSettings
from mlops.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
_SCRUBBED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
             "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
             "TF_CLI_CONFIG_FILE", "TF_LOG")


@pytest.fixture(scope="session")
def act(tmp_path_factory: pytest.TempPathFactory) -> Act:
    home = tmp_path_factory.mktemp("act")
    return Act(home=home, repo=Repo.from_checkout(home / "repo"))


@pytest.fixture(scope="session")
def workflow_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkflowCloud]:
    state_dir = tmp_path_factory.mktemp("workflow-cloud")
    base = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    base.update({"MLOPS_ROOT": str(ROOT), "MLOPS_STATE_DIR": str(state_dir)})
    paths = control.CloudPaths.under(state_dir)
    info = control.start(paths, control.free_port(), base)
    try:
        env = {**base, **control.client_env(info)}
        try:
            env = prepare(Settings.from_env(env), env)
        except MlopsError as err:
            pytest.fail(f"terraform is not usable: {err.render()}")
        if main(["bootstrap"], env) != 0:
            pytest.fail("mlops bootstrap failed on the workflow tests' embedded AWS")
        from mlops import context

        ctx = context.load(env)
        tf = ctx.terraform(ROOT / "bootstrap", "bootstrap")
        outputs = {name: out["value"] for name, out in tf.outputs().items()}
        yield WorkflowCloud(info.endpoint, env, outputs)
    finally:
        control.stop(paths)


@pytest.fixture
def github(act: Act) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(repos={REPOSITORY}, pulls=set(),
                      oidc=OidcSettings(repository=REPOSITORY)).start()
    fake.seed(REPOSITORY, act.repo.path)
    try:
        yield fake
    finally:
        fake.stop()
