"""main.yml, rollback.yml and destroy.yml run for real under act, against the embedded AWS
and the embedded GitHub (REST and the OIDC token endpoint, which gives each job in a
GitHub environment its own subject, repo:OWNER/REPO:environment:NAME).

One story, shared by the tests through module fixtures so the roots are applied as few
times as possible:

1. `merged`: a pull request changes dev and staging; its plans are reviewed (the plan
   comment, posted as pr.yml's comment job does: test_act_pr.py runs pr.yml itself) and
   it is merged. main.yml applies dev (wave 1), then staging (wave 2), each in its
   environment under its apply role and the stale-plan guard, and records both.
2. `held`: a second pull request changes dev; after its review someone changes the dev
   bucket by hand, so the plan at merge is not the reviewed one. The guard applies
   nothing (exit 3) and the `approve` job, in the dev-approval environment, re-plans and
   applies. act has no reviewers, so it runs at once: the test checks the job graph, its
   environment and that the guard job applied nothing.
3. rollback.yml (infra) takes dev back to the first merge, with the reason recorded.
4. destroy.yml refuses a wrong confirmation and a protected env without its input, then
   destroys staging with the reason recorded.

The env roots are small (one bucket each, with their real backend, providers and lock
file), so an apply takes seconds: the real roots are applied in
tests/terraform/test_envs_apply.py. The repository is put back afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from actrunner import REPOSITORY, Act, ActRun, ActStory, Job, WorkflowCloud

from mlops.core import comment
from mlops.localcloud.github import FakeGitHub, OidcSettings

pytestmark = [pytest.mark.workflow, pytest.mark.cloud, pytest.mark.terraform]

ENVS = ("dev", "staging")


def bucket(env: str) -> str:
    return f"mlops-demo-{env}-apply-probe"


def small_root(env: str, cost: str) -> dict[str, str]:
    return {
        f"envs/{env}/main.tf": "locals {\n  tags = { env = var.env, owner = var.owner, "
                               "cost = var.cost, project = var.project }\n}\n\n"
                               f'resource "aws_s3_bucket" "probe" {{\n'
                               f'  bucket        = "{bucket(env)}"\n'
                               f'  force_destroy = true\n}}\n',
        f"envs/{env}/variables.tf": "".join(
            f'variable "{name}" {{\n  type = string\n}}\n\n'
            for name in ("env", "project", "region", "owner", "cost")),
        f"envs/{env}/outputs.tf": 'output "bucket" {\n  value = aws_s3_bucket.probe.bucket\n}\n',
        f"envs/{env}/terraform.tfvars": f'env     = "{env}"\nproject = "mlops-demo"\n'
                                        f'region  = "us-east-1"\nowner   = "ml-platform"\n'
                                        f'cost    = "{cost}"\n',
    }


def tfvars(env: str, cost: str) -> dict[str, str]:
    path = f"envs/{env}/terraform.tfvars"
    return {path: small_root(env, cost)[path]}


@dataclass
class Story(ActStory):
    MLOPS_WITH_GITHUB = True  # its mlops calls plan and comment as pr.yml does

    base: str = ""  # main before the first merge (small roots, nothing applied)
    first_merge: str = ""
    second_merge: str = ""
    main_run: ActRun | None = None
    held_run: ActRun | None = None
    next_pr: int = 70

    def merge_reviewed(self, title: str, files: Mapping[str, str], envs: tuple[str, ...]) -> str:
        """A pull request with `files`, planned and commented on as pr.yml does, then
        merged into main; returns the merge commit (main's head, which act runs)."""
        repo, number = self.act.repo, self.next_pr
        self.next_pr += 1
        branch = f"change-{number}"
        repo.git("checkout", "-q", "-b", branch)
        head = repo.commit(title, dict(files))
        plans = self.state / f"pr-{number}"
        for env in envs:
            self.mlops("plan", "--env", env, "--out", str(plans / env), "--commit", head)
        repo.git("checkout", "-q", "main")
        repo.git("merge", "-q", "--no-ff", "-m", f"Merge pull request #{number}", branch)
        merge = repo.head()
        self.github.seed(REPOSITORY, repo.path)
        self.github.add_pull(REPOSITORY, head_ref=branch, head_sha=head, number=number,
                             title=title, merged=True, merge_commit_sha=merge, state="closed")
        self.mlops("comment", "post", "--repo", REPOSITORY, "--pr", str(number),
                   *(str(plans / env) for env in envs))
        return merge

    def run_main(self, before: str) -> ActRun:
        return self.run("main.yml", "push", {"ref": "refs/heads/main", "before": before,
                                             "after": self.act.repo.head()})

    def records(self, env: str) -> list[dict[str, Any]]:
        """The env's deployment records, newest first (S3's ascending listing)."""
        s3 = self.cloud.client("s3")
        state_bucket = str(self.cloud.outputs["state_bucket"])
        listed = s3.list_objects_v2(Bucket=state_bucket, Prefix=f"deployments/{env}/records/")
        return [json.loads(s3.get_object(Bucket=state_bucket, Key=o["Key"])["Body"].read())
                for o in listed.get("Contents", [])]


def subjects(github: FakeGitHub) -> list[str]:
    return [str(t.claims.get("sub")) for t in github.token_requests]


def first_line(run: ActRun, job: Job) -> int:
    """Where the job's first message is in act's log (jobs log in the order they run)."""
    return next(i for i, line in enumerate(run.text.splitlines())
                if line.startswith(f"[{job.name}]"))


@pytest.fixture(scope="module")
def story(act: Act, workflow_cloud: WorkflowCloud,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    github = FakeGitHub(repos={REPOSITORY}, pulls=set(),
                        oidc=OidcSettings(repository=REPOSITORY)).start()
    files = {rel for env in ENVS for rel in small_root(env, "x")}
    original = {rel: (act.repo.path / rel).read_text() for rel in files}
    story = Story(act, workflow_cloud, github, tmp_path_factory.mktemp("apply-story"))
    small = {k: v for env in ENVS for k, v in small_root(env, "ml-experiments").items()}
    story.base = act.repo.commit("small dev and staging roots for the apply workflow tests",
                                 small)
    try:
        yield story
    finally:
        for env in ENVS:
            if story.records(env) or _exists(workflow_cloud, bucket(env)):
                story.mlops("destroy", "--env", env, "--confirm", env)
        act.repo.commit("the real roots again", original)
        github.stop()


def _exists(cloud: WorkflowCloud, name: str) -> bool:
    return name in [b["Name"] for b in cloud.client("s3").list_buckets()["Buckets"]]


@pytest.fixture(scope="module")
def merged(story: Story) -> Story:
    """Step 1: a reviewed change to dev and staging merged; main.yml applies both."""
    story.first_merge = story.merge_reviewed(
        "dev and staging: a cost centre", {**tfvars("dev", "ml-platform"),
                                           **tfvars("staging", "ml-platform")}, ENVS)
    story.github.token_requests.clear()
    story.main_run = story.run_main(before=story.base)
    return story


@pytest.fixture(scope="module")
def held(merged: Story) -> Story:
    """Step 2: a reviewed change to dev whose plan changes before the merge is applied."""
    story = merged
    before = story.act.repo.head()
    story.second_merge = story.merge_reviewed("dev: another cost centre",
                                              tfvars("dev", "ml-research"), ("dev",))
    # Behind Terraform's back, after the review: the plan at merge now also removes this.
    story.cloud.client("s3").put_bucket_tagging(Bucket=bucket("dev"), Tagging={"TagSet": [
        {"Key": "owner", "Value": "someone-by-hand"}]})
    story.github.token_requests.clear()
    story.held_run = story.run_main(before=before)
    return story


def test_a_merge_applies_the_affected_envs_in_promotion_order(merged: Story) -> None:
    run = merged.main_run
    assert run is not None
    assert run.returncode == 0, f"{run.results()}\n{run.tail()}"
    changed = run.job("changed")
    matrix = json.loads(changed.outputs["matrix"])
    assert matrix["waves"] == [["dev"], ["staging"]], matrix  # from mlops.yaml's `after`
    [dev] = run.called("wave 1", "apply")
    [staging] = run.called("wave 2", "apply")
    assert (dev.result, staging.result) == ("success", "success"), run.results()
    assert run.called("wave 3", "apply") == [] and run.called("wave 1", "approve") == []
    assert "applying the plan reviewed on" in dev.log.lower() or "applied" in dev.log, dev.log
    # dev's apply finished before staging's started: the waves are ordered
    assert first_line(run, staging) > max(
        i for i, line in enumerate(run.text.splitlines()) if line.startswith(f"[{dev.name}]"))

    # each job in its GitHub environment: the apply roles trust exactly that subject
    assert subjects(merged.github) == [f"repo:{REPOSITORY}:environment:dev",
                                       f"repo:{REPOSITORY}:environment:staging"]
    records = {env: merged.records(env) for env in ENVS}
    for env in ENVS:
        [record] = records[env]
        assert (record["kind"], record["outcome"], record["commit"], record["reviewed"],
                record["pr"]) == ("apply", "applied", merged.first_merge, True, 70), record
        assert f"/actions/runs/{run.run_id}" in record["run_url"], record
    assert records["dev"][0]["time"] < records["staging"][0]["time"]
    assert _exists(merged.cloud, bucket("dev")) and _exists(merged.cloud, bucket("staging"))


def test_a_plan_changed_since_review_is_held_for_approval(held: Story) -> None:
    run = held.held_run
    assert run is not None
    assert run.returncode == 0, f"{run.results()}\n{run.tail()}"
    assert json.loads(run.job("changed").outputs["matrix"])["waves"] == [["dev"]]
    [apply] = run.called("wave 1", "apply")
    [approve] = run.called("wave 1", "approve")
    assert apply.result == "success" and apply.outputs.get("held") == "true", apply.log
    assert "changed since" in apply.log, apply.log
    # the approval job comes after the guard job, in the protected <env>-approval
    # environment (on GitHub it waits there for a reviewer; act has none)
    assert first_line(run, approve) > first_line(run, apply)
    assert subjects(held.github) == [f"repo:{REPOSITORY}:environment:dev",
                                     f"repo:{REPOSITORY}:environment:dev-approval"]
    # the guard job applied nothing: the only new record is the approved apply's, and it
    # applied exactly the held plan (the fingerprint the guard job put in its outputs)
    newest, previous = held.records("dev")[:2]
    assert previous["commit"] == held.first_merge
    assert (newest["kind"], newest["outcome"], newest["commit"], newest["reviewed"],
            newest["review"], newest["reason"]) == (
        "apply", "applied", held.second_merge, True, "approved",
        "approved in the dev-approval environment"), newest
    assert len(apply.outputs["fingerprint"]) == 64, apply.outputs
    assert newest["fingerprint"] == apply.outputs["fingerprint"], (newest, apply.outputs)
    tags = held.cloud.client("s3").get_bucket_tagging(Bucket=bucket("dev"))["TagSet"]
    assert {"Key": "owner", "Value": "someone-by-hand"} not in tags, tags
    # the merged PR's comment says the change was not applied at merge
    [ours] = [c for c in held.github.comments_on(REPOSITORY, 71)
              if comment.is_plan_comment(c.body)]
    assert "Not applied at merge" in ours.body, ours.body[-2000:]


def test_rollback_dispatch_rolls_dev_back_with_its_reason(held: Story) -> None:
    held.github.token_requests.clear()
    run = held.dispatch("rollback.yml", {"env": "dev", "kind": "infra", "target": "",
                                         "reason": "the research cost centre was a mistake"})
    assert run.returncode == 0, f"{run.results()}\n{run.tail()}"
    job = run.job("rollback")
    assert [name for name, result in job.steps if result == "success"
            and name.startswith("mlops ")][-1] == "mlops rollback", job.steps
    assert subjects(held.github) == [f"repo:{REPOSITORY}:environment:dev"]
    newest = held.records("dev")[0]
    assert (newest["kind"], newest["outcome"], newest["commit"], newest["reason"],
            newest["rolled_back_from"]) == ("rollback", "applied", held.first_merge,
                                            "the research cost centre was a mistake",
                                            held.second_merge), newest
    assert "| reason | the research cost centre was a mistake |" in job.summary, job.summary


def test_destroy_dispatch_refuses_then_destroys_with_its_reason(merged: Story) -> None:
    wrong = merged.dispatch("destroy.yml", {"env": "staging", "confirmation": "dev",
                                            "reason": "tidy up"})
    assert wrong.returncode != 0
    job = wrong.job("destroy")
    assert job.result == "failure"
    assert "refusing to destroy staging: --confirm must repeat the env name" in job.log, job.log
    assert _exists(merged.cloud, bucket("staging"))

    protected = merged.dispatch("destroy.yml", {"env": "prod", "confirmation": "prod",
                                                "reason": "tidy up"})
    job = protected.job("destroy")
    assert job.result == "failure" and "protected" in job.log, job.log
    assert dict(job.steps).get("mlops destroy --allow-protected") != "success", job.steps

    merged.github.token_requests.clear()
    done = merged.dispatch("destroy.yml", {"env": "staging", "confirmation": "staging",
                                           "reason": "staging is rebuilt next week"})
    assert done.returncode == 0, f"{done.results()}\n{done.tail()}"
    assert subjects(merged.github) == [f"repo:{REPOSITORY}:environment:staging"]
    assert not _exists(merged.cloud, bucket("staging"))
    newest = merged.records("staging")[0]
    assert (newest["kind"], newest["outcome"], newest["reason"]) == (
        "destroy", "applied", "staging is rebuilt next week"), newest
    assert newest["destroyed"] == ["aws_s3_bucket.probe"], newest
