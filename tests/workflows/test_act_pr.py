"""pr.yml run for real under act, on a pull request that changes a module
(modules/ecr_repository), which every env root calls: `changed` finds dev, staging and
prod and the module; each plan job assumes its env's plan role through GitHub OIDC (a
pull_request token, `mlops oidc assume`), plans against the embedded AWS and uploads only
the masked files of its plan directory; the comment job posts one sticky comment with the
three plans and sets the plan label on the embedded GitHub; the modules job runs the
module's plan and apply tests.

The checkov `scan` job is left out (`-j comment` runs the comment job and the jobs it
needs): it installs checkov into its own virtualenv, minutes of pip, and the same scan
runs in `make lint` (`mlops policy scan`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from actrunner import Act, WorkflowCloud, repository_payload

from mlops.core import comment
from mlops.localcloud.github import FakeGitHub

pytestmark = [pytest.mark.workflow, pytest.mark.cloud, pytest.mark.terraform]

PR = 42


@pytest.fixture
def pull_request(act: Act, github: FakeGitHub) -> Iterator[dict[str, Any]]:
    """A branch changing modules/ecr_repository, and GitHub's merge commit of it into
    main checked out (act takes github.sha from HEAD, as GitHub runs a PR on its merge
    commit); main is checked out again afterwards."""
    repo = act.repo
    base = repo.head()
    repo.git("checkout", "-q", "-b", "feature")
    module = (repo.path / "modules" / "ecr_repository" / "main.tf").read_text()
    head = repo.commit("ecr_repository: a note for readers", {
        "modules/ecr_repository/main.tf": module + "\n# Repositories are per env.\n"})
    repo.git("checkout", "-q", "main")
    repo.git("checkout", "-q", "-b", f"pull-{PR}-merge")
    repo.git("merge", "-q", "--no-ff", "-m", f"Merge {head[:7]} into {base[:7]}", "feature")
    github.seed(repo.repository, repo.path, branches={"main": "main", "feature": "feature"})
    github.add_pull(repo.repository, head_ref="feature", head_sha=head, base_ref="main",
                    number=PR, title="ecr_repository: a note for readers")
    try:
        yield {
            "action": "opened", "number": PR,
            "pull_request": {"number": PR, "title": "ecr_repository: a note for readers",
                             "labels": [],
                             "head": {"ref": "feature", "sha": head},
                             "base": {"ref": "main", "sha": base}},
            "repository": repository_payload(repo.repository),
        }
    finally:
        repo.git("checkout", "-q", "main")
        repo.git("branch", "-q", "-D", f"pull-{PR}-merge", "feature")


def test_a_module_change_gets_every_env_planned_in_one_sticky_comment(
        act: Act, workflow_cloud: WorkflowCloud, github: FakeGitHub,
        pull_request: dict[str, Any]) -> None:
    run = act.run("pr.yml", "pull_request", pull_request, github=github,
                  env=workflow_cloud.job_env(), jobs=["comment"],
                  variables=workflow_cloud.role_variables("plan"))
    assert run.returncode == 0, f"{run.results()}\n{run.tail()}"
    assert {(j.id, j.matrix.get("env"), j.result) for j in run.jobs} == {
        ("changed", None, "success"), ("plan", "dev", "success"),
        ("plan", "staging", "success"), ("plan", "prod", "success"),
        ("comment", None, "success")}, run.results()
    changed = run.job("changed")
    assert json.loads(changed.outputs["matrix"])["modules"] == ["ecr_repository"], changed.log
    assert "modules/ecr_repository/main.tf: dev, staging, prod" in changed.log

    # one token per plan job, each a pull_request subject for the plan roles
    assert len(github.token_requests) == 3
    for token in github.token_requests:
        assert token.audience == "sts.amazonaws.com"
        assert token.claims["sub"] == f"repo:{act.repo.repository}:pull_request", token.claims

    # the artifacts hold the masked files only, never plan.json or plan.tfplan
    store = act.home / "runs" / run.run_id / "artifacts"
    for env in ("dev", "staging", "prod"):
        files = sorted(p.name for p in (store / f"plan-{env}").rglob("*") if p.is_file())
        assert files == ["plan.txt", "policy.json", "summary.json"], (env, files)

    ours = [c for c in github.comments_on(act.repo.repository, PR)
            if comment.is_plan_comment(c.body)]
    assert len(ours) == 1, [c.body[:200] for c in github.comments_on(act.repo.repository, PR)]
    body = ours[0].body
    plans = comment.parse_comment_plans(body)
    assert sorted(plans) == ["dev", "prod", "staging"], plans
    assert all(plan["status"] == "ok" for plan in plans.values()), plans
    assert f"/actions/runs/{run.run_id}" in body, body[:3000]
    labels = github.issue_labels.get((act.repo.repository, PR), [])
    assert labels == [comment.LABEL_CHANGES] or labels == [comment.LABEL_DESTROY], labels


def test_the_modules_job_runs_the_changed_modules_tests(
        act: Act, github: FakeGitHub, pull_request: dict[str, Any]) -> None:
    """No AWS role: the module tests bring their own embedded AWS on the runner."""
    run = act.run("pr.yml", "pull_request", pull_request, github=github, jobs=["modules"])
    assert run.returncode == 0, f"{run.results()}\n{run.tail()}"
    job = run.job("modules")
    assert job.result == "success", job.log[-4000:]
    assert "plan and apply tests of ecr_repository" in job.log, job.log[-4000:]
    assert re.search(r"\d+ passed", job.log), job.log[-4000:]
    assert github.token_requests == []
