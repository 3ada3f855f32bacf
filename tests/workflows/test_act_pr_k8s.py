"""pr.yml run for real under act, on a pull request that changes only Kubernetes manifests
(the dev canary's weights): `changed` lists dev under `k8s` and no env to plan, the k8s
job renders dev at the base and at the head (`mlops k8s diff`), validates it (`mlops k8s
check`: kubectl, kubernetes-validate, the npm validators, Rego) and uploads k8s.json, and
the comment job posts one sticky comment whose Kubernetes section shows the rendered
diff. No AWS role is assumed: rendering reads only the repository."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from actrunner import Act, WorkflowCloud, repository_payload

from mlops.core import comment
from mlops.localcloud.github import FakeGitHub

pytestmark = [pytest.mark.workflow, pytest.mark.cloud, pytest.mark.terraform]

PR = 43
TRAFFIC = "k8s/overlays/dev/traffic.yaml"


@pytest.fixture
def manifests_only(act: Act, github: FakeGitHub) -> Iterator[dict[str, Any]]:
    """A branch moving the dev canary to 50 %, and GitHub's merge commit of it checked out."""
    repo = act.repo
    base = repo.head()
    repo.git("checkout", "-q", "-b", "canary-50")
    traffic = (repo.path / TRAFFIC).read_text()
    assert "value: 90" in traffic and "value: 10" in traffic, "update this test's edit"
    head = repo.commit("dev: half the requests to the canary", {
        TRAFFIC: traffic.replace("value: 90", "value: 50").replace("value: 10", "value: 50")})
    repo.git("checkout", "-q", "main")
    repo.git("checkout", "-q", "-b", f"pull-{PR}-merge")
    repo.git("merge", "-q", "--no-ff", "-m", f"Merge {head[:7]} into {base[:7]}", "canary-50")
    github.seed(repo.repository, repo.path, branches={"main": "main", "canary-50": "canary-50"})
    github.add_pull(repo.repository, head_ref="canary-50", head_sha=head, base_ref="main",
                    number=PR, title="dev: half the requests to the canary")
    try:
        yield {
            "action": "opened", "number": PR,
            "pull_request": {"number": PR, "title": "dev: half the requests to the canary",
                             "labels": [], "head": {"ref": "canary-50", "sha": head},
                             "base": {"ref": "main", "sha": base}},
            "repository": repository_payload(repo.repository),
        }
    finally:
        repo.git("checkout", "-q", "main")
        repo.git("branch", "-q", "-D", f"pull-{PR}-merge", "canary-50")


def test_a_manifests_only_pull_request_gets_the_rendered_diff_in_the_comment(
        act: Act, workflow_cloud: WorkflowCloud, github: FakeGitHub,
        manifests_only: dict[str, Any]) -> None:
    run = act.run("pr.yml", "pull_request", manifests_only, github=github,
                  env=workflow_cloud.job_env(), jobs=["comment"],
                  variables={**workflow_cloud.role_variables("plan"), "AWS_REGION": "us-east-1"})
    assert run.returncode == 0, f"{run.results()}\n{run.tail()}"
    assert {(j.id, j.matrix.get("env"), j.result) for j in run.jobs} == {
        ("changed", None, "success"), ("k8s", "dev", "success"),
        ("comment", None, "success")}, run.results()
    assert f"{TRAFFIC}: Kubernetes manifests of dev" in run.job("changed").log
    assert "k8s check: passed" in run.job("k8s", env="dev").log
    assert github.token_requests == [], "rendering manifests assumes no AWS role"

    ours = [c for c in github.comments_on(act.repo.repository, PR)
            if comment.is_plan_comment(c.body)]
    assert len(ours) == 1, [c.body[:200] for c in github.comments_on(act.repo.repository, PR)]
    body = ours[0].body
    assert comment.parse_comment_plans(body) == {}, "no Terraform plan in this PR"
    assert "## ☸️ Kubernetes manifests · `dev`" in body, body[:3000]
    assert "### ☸️ dev · 🟡 1 changed" in body
    assert "HTTPRoute/mlops-demo-dev/model-server" in body
    assert "-      weight: 90\n+      weight: 50" in body or (
        "-      weight: 90" in body and "+      weight: 50" in body), body
