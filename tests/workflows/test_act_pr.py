"""pr.yml run for real under act, on a pull request that changes dev's tfvars: `changed`
finds dev, the plan job assumes dev's plan role through GitHub OIDC (a pull_request
token), plans against the embedded AWS and uploads the plan directory, and the comment job
posts one sticky comment with dev's plan and sets the plan label on the embedded GitHub.

The checkov `scan` job is left out (`-j comment` runs the comment job and the jobs it
needs): it installs checkov into its own virtualenv, minutes of pip, and the same scan
runs in `make lint` (`mlops policy scan`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from actrunner import Act, WorkflowCloud, repository_payload

from mlops.core import comment
from mlops.localcloud.github import FakeGitHub

pytestmark = [pytest.mark.workflow, pytest.mark.cloud, pytest.mark.terraform,
              pytest.mark.xdist_group("act")]

PR = 42


@pytest.fixture
def pull_request(act: Act, github: FakeGitHub) -> Iterator[dict[str, Any]]:
    """A branch changing envs/dev/terraform.tfvars, and GitHub's merge commit of it into
    main checked out (act takes github.sha from HEAD, as GitHub runs a PR on its merge
    commit); main is checked out again afterwards."""
    repo = act.repo
    base = repo.head()
    repo.git("checkout", "-q", "-b", "feature")
    tfvars = (repo.path / "envs" / "dev" / "terraform.tfvars").read_text()
    head = repo.commit("dev: a bigger budget", {
        "envs/dev/terraform.tfvars": tfvars.replace("monthly_limit_usd = 200",
                                                    "monthly_limit_usd = 300")
        if "monthly_limit_usd = 200" in tfvars else tfvars + "\n# a change\n"})
    repo.git("checkout", "-q", "main")
    repo.git("checkout", "-q", "-b", f"pull-{PR}-merge")
    repo.git("merge", "-q", "--no-ff", "-m", f"Merge {head[:7]} into {base[:7]}", "feature")
    github.seed(repo.repository, repo.path, branches={"main": "main", "feature": "feature"})
    github.add_pull(repo.repository, head_ref="feature", head_sha=head, base_ref="main",
                    number=PR, title="dev: a bigger budget")
    try:
        yield {
            "action": "opened", "number": PR,
            "pull_request": {"number": PR, "title": "dev: a bigger budget", "labels": [],
                             "head": {"ref": "feature", "sha": head},
                             "base": {"ref": "main", "sha": base}},
            "repository": repository_payload(repo.repository),
        }
    finally:
        repo.git("checkout", "-q", "main")
        repo.git("branch", "-q", "-D", f"pull-{PR}-merge", "feature")


def test_a_pull_request_gets_its_plan_as_one_sticky_comment(
        act: Act, workflow_cloud: WorkflowCloud, github: FakeGitHub,
        pull_request: dict[str, Any]) -> None:
    run = act.run("pr.yml", "pull_request", pull_request, github=github,
                  env=workflow_cloud.job_env(), jobs=["comment"],
                  variables={**workflow_cloud.role_variables("plan"), "AWS_REGION": "us-east-1"})
    assert run.returncode == 0, f"{run.results()}\n{run.tail()}"
    assert {(j.id, j.matrix.get("env"), j.result) for j in run.jobs} == {
        ("changed", None, "success"), ("plan", "dev", "success"),
        ("comment", None, "success")}, run.results()
    assert "envs/dev/terraform.tfvars: dev" in run.job("changed").log

    [token] = github.token_requests  # the plan job's, for dev's plan role
    assert token.audience == "sts.amazonaws.com"
    assert token.claims["sub"] == f"repo:{act.repo.repository}:pull_request", token.claims

    ours = [c for c in github.comments_on(act.repo.repository, PR)
            if comment.is_plan_comment(c.body)]
    assert len(ours) == 1, [c.body[:200] for c in github.comments_on(act.repo.repository, PR)]
    body = ours[0].body
    plans = comment.parse_comment_plans(body)
    assert list(plans) == ["dev"] and plans["dev"]["status"] == "ok", plans
    assert "dev" in body and f"/actions/runs/{run.run_id}" in body, body[:3000]
    labels = github.issue_labels.get((act.repo.repository, PR), [])
    assert labels == [comment.LABEL_CHANGES] or labels == [comment.LABEL_DESTROY], labels
