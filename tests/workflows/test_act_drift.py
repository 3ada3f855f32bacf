"""drift.yml run for real under act: a change made with boto3 behind Terraform's back opens
the env's drift issue on the embedded GitHub; after an apply from main, the next run closes
it. The drift job assumes the env's drift role through GitHub OIDC and plans against the
embedded AWS, with the provider cache restored by the second run.

The repository under test gets a small dev root (one bucket; its real backend and lock
file) so the apply in between takes seconds: the real roots are applied in
tests/terraform/test_envs_apply.py. The applies are what main.yml would do, run by the
test directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from actrunner import Act, ActRun, WorkflowCloud, repository_payload, run_mlops

from mlops.localcloud.github import FakeGitHub, FakeIssue

pytestmark = [pytest.mark.workflow, pytest.mark.cloud, pytest.mark.terraform]

BUCKET = "mlops-demo-dev-drift-probe"
SMALL_DEV_ROOT = {
    "envs/dev/main.tf": f"""
locals {{
  tags = {{ env = var.env, owner = var.owner, cost = var.cost, project = var.project }}
}}

resource "aws_s3_bucket" "probe" {{
  bucket        = "{BUCKET}"
  force_destroy = true
}}
""",
    "envs/dev/variables.tf": "".join(
        f'variable "{name}" {{\n  type = string\n}}\n\n'
        for name in ("env", "project", "region", "owner", "cost")),
    "envs/dev/outputs.tf": 'output "bucket" {\n  value = aws_s3_bucket.probe.bucket\n}\n',
    "envs/dev/terraform.tfvars": 'env     = "dev"\nproject = "mlops-demo"\n'
                                 'region  = "us-east-1"\nowner   = "ml-platform"\n'
                                 'cost    = "ml-experiments"\n',
}


def _run(act: Act, cloud: WorkflowCloud, github: FakeGitHub) -> ActRun:
    run = act.run("drift.yml", "workflow_dispatch", {
        "ref": "refs/heads/main", "inputs": {"env": "dev"},
        "repository": repository_payload()},
        github=github, env=cloud.job_env(),
        variables={**cloud.role_variables("drift"), "AWS_REGION": "us-east-1"})
    assert run.returncode == 0, f"{run.results()}\n{run.tail()}"
    assert {(j.id, j.matrix.get("env"), j.result) for j in run.jobs} == {
        ("envs", None, "success"), ("drift", "dev", "success")}, run.results()
    return run


def _issues(github: FakeGitHub) -> list[FakeIssue]:
    repo = act_repository()
    return [i for (r, _), i in sorted(github.issues.items()) if r == repo
            and {"drift", "env:dev"} <= set(github.issue_labels.get((r, i.number), []))]


def act_repository() -> str:
    return str(repository_payload()["full_name"])


def _mlops(act: Act, cloud: WorkflowCloud, state: Any, *argv: str) -> None:
    run_mlops({**cloud.env, "MLOPS_ROOT": str(act.repo.path), "MLOPS_STATE_DIR": str(state)},
              *argv)


@pytest.fixture(scope="module")
def small_dev(act: Act, workflow_cloud: WorkflowCloud,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The small dev root committed and applied; afterwards destroyed and the real root
    committed back, so the other workflow tests see the repository as it is."""
    original = {rel: (act.repo.path / rel).read_text() for rel in SMALL_DEV_ROOT}
    act.repo.commit("a small dev root for the drift workflow test", dict(SMALL_DEV_ROOT))
    state = tmp_path_factory.mktemp("drift-apply")
    # Set up by hand, no pull request: the unreviewed (dispatch) path of the apply guard.
    _mlops(act, workflow_cloud, state, "apply", "--env", "dev", "--allow-unreviewed")
    yield state
    _mlops(act, workflow_cloud, state, "destroy", "--env", "dev", "--confirm", "dev")
    act.repo.commit("the real dev root again", original)


def test_the_schedule_checks_every_env(act: Act, workflow_cloud: WorkflowCloud,
                                       github: FakeGitHub) -> None:
    """The daily run (no input) makes one drift job per env in mlops.yaml; only the envs
    job runs here (each drift job is a plan: the dispatch test below runs one)."""
    run = act.run("drift.yml", "schedule", {"schedule": "17 5 * * *",
                                            "repository": repository_payload()},
                  github=github, env=workflow_cloud.job_env(), jobs=["envs"])
    assert run.returncode == 0, f"{run.results()}\n{run.tail()}"
    envs = run.job("envs")
    assert json.loads(envs.outputs["matrix"]) == {"envs": ["dev", "staging", "prod"]}, envs


def test_drift_opens_the_issue_and_an_apply_closes_it(
        act: Act, workflow_cloud: WorkflowCloud, github: FakeGitHub, small_dev: Any) -> None:
    s3 = workflow_cloud.client("s3")
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [
        {"Key": "owner", "Value": "someone-by-hand"}]})

    first = _run(act, workflow_cloud, github)
    job = first.job("drift", env="dev")
    assert "Drift in `dev`" in job.summary and "aws_s3_bucket.probe" in job.summary, job.log
    [issue] = _issues(github)
    assert issue.state == "open" and "| `aws_s3_bucket.probe` | update in place |" in issue.body
    assert f"/actions/runs/{first.run_id}" in issue.body, issue.body
    assert "someone-by-hand" in issue.body  # the drift plan shows what a re-apply removes
    [token] = github.token_requests  # the drift job's, for the env's drift role
    assert token.audience == "sts.amazonaws.com"
    assert token.claims["sub"] == f"repo:{act_repository()}:ref:refs/heads/main", token.claims
    # the provider cache, keyed by the lock files: saved by the first act run of the
    # session that needed it, restored by exactly that key in later ones (test order is
    # random)
    assert ("Cache saved with key: terraform-providers-" in job.log or
            "Cache hit occurred on the primary key terraform-providers-" in job.log), job.log

    # re-apply dev from main (the remediation the issue names: a dispatch, so the guard's
    # unreviewed path; main.yml's reviewed path is test_act_apply.py's); the tag change
    # is undone
    _mlops(act, workflow_cloud, small_dev, "apply", "--env", "dev", "--allow-unreviewed")
    second = _run(act, workflow_cloud, github)
    job = second.job("drift", env="dev")
    assert "Drift in `dev`: none" in job.summary, job.log
    [closed] = _issues(github)
    assert (closed.number, closed.state) == (issue.number, "closed")
    assert f"/actions/runs/{second.run_id}" in github.comments_on(
        act_repository(), issue.number)[-1].body
    assert "Cache restored from key: terraform-providers-" in job.log, job.log
