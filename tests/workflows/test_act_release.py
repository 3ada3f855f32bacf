"""A model's way through the workflows, run for real under act against the embedded AWS
(whose SageMaker serves the pushed artifacts) and the embedded GitHub (REST and OIDC):
retrain.yml opens the release pull request, its merge makes main.yml apply dev and promote
the canary, and rollback.yml rolls the endpoint back with a reason, or refuses.

One story, in file order, each step starting from what the previous one left (module
fixtures, so dev is applied as few times as possible):

0. `served`: the real dev root (its GPU trainer disabled: no EC2 needed here) is applied
   and serves a first release, model v1, applied with `--allow-unreviewed` as the canary
   tests do (tests/terraform/canary/conftest.py): the merge later only adds a canary.
1. retrain.yml, scheduled (seed: the run number) and dispatched (seed input): each trains,
   pushes the artifact to dev's bucket under dev's apply role and opens the release pull
   request; the PR's tfvars name the artifact's sha256 and the artifact is in S3.
2. The dispatched run's pull request is reviewed (its plan comment, as pr.yml posts it)
   and merged: main.yml applies dev under the guard, then its canary job promotes the
   candidate to 100 % (short bake through the repository variables CANARY_BAKE and
   CANARY_POLL) and opens the follow-up pull request that makes it stable in Git.
3. rollback.yml kind `endpoint` takes the endpoint back to the retained release; the pull
   request recording the swap carries the reason. An unknown release is refused with a
   clear error in the job log, and nothing changes.

About 4 minutes alone: most of it is the real dev root's first apply (the provider waits
for the artifact bucket's lifecycle configuration to settle), the endpoint's creation and
main.yml's run; the `act` session and the embedded AWS are shared with the other act
tests.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from actrunner import REPOSITORY, Act, ActRun, ActStory, WorkflowCloud

from mlops.core import release
from mlops.localcloud.github import FakeGitHub, FakePull, OidcSettings

pytestmark = [pytest.mark.workflow, pytest.mark.cloud, pytest.mark.terraform]

ENV = "dev"
TFVARS = f"envs/{ENV}/terraform.tfvars"
ENDPOINT = f"mlops-demo-{ENV}-churn"
BUCKET = f"mlops-demo-{ENV}-artifacts"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-demo-dev-model-server:0.1.0"
# Short canary steps for the tests (repository variables; production keeps the defaults).
CANARY_VARS = {"CANARY_BAKE": "1", "CANARY_POLL": "0.5"}
SEED = "7"  # the dispatch's seed input
FIRST_SEED = 5  # model v1's: not 1, the scheduled run's seed (retrain.yml's first run number)
REASON = "the retrained model answers worse on the support tickets"


@dataclass
class Story(ActStory):
    first_uri: str = ""
    retrain_runs: dict[str, ActRun] = field(default_factory=dict)  # event -> run
    release_pulls: dict[str, FakePull] = field(default_factory=dict)  # event -> its PR
    release_diffs: dict[str, str] = field(default_factory=dict)  # event -> its tfvars diff
    release_texts: dict[str, str] = field(default_factory=dict)  # event -> its tfvars
    merge: str = ""
    main_run: ActRun | None = None

    def endpoint(self) -> dict[str, Any]:
        found: dict[str, Any] = self.cloud.client("sagemaker").describe_endpoint(
            EndpointName=ENDPOINT)
        return found

    def serving_on_main(self) -> release.Serving:
        return release.read_serving((self.act.repo.path / TFVARS).read_text(), TFVARS)

    def pulls(self) -> list[FakePull]:
        return [p for (r, _), p in sorted(self.github.pull_requests.items()) if r == REPOSITORY]


def tfvars_diff(story: Story, pull: FakePull) -> str:
    """The pull request's change to dev's tfvars, as `git diff` would show it."""
    before = story.github.file_at(REPOSITORY, pull.base_sha, TFVARS) or ""
    after = story.github.file_at(REPOSITORY, pull.head_sha, TFVARS) or ""
    return "".join(difflib.unified_diff(before.splitlines(keepends=True),
                                        after.splitlines(keepends=True), TFVARS, TFVARS))


def added(diff: str) -> str:
    return "".join(line[1:] for line in diff.splitlines(keepends=True)
                   if line.startswith("+") and not line.startswith("+++"))


@pytest.fixture(scope="module")
def served(act: Act, workflow_cloud: WorkflowCloud, train_model: Any,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    """Dev applied from the repository under test, serving model v1 (two applies: the
    artifact bucket must exist before the model is pushed, and SageMaker needs the
    artifact before CreateEndpoint)."""
    github = FakeGitHub(repos={REPOSITORY}, pulls=set(),
                        oidc=OidcSettings(repository=REPOSITORY)).start()
    story = Story(act, workflow_cloud, github, tmp_path_factory.mktemp("release-story"))
    path = act.repo.path / TFVARS
    original = path.read_text()
    marker = "trainer = {\n  enabled       = true"
    assert marker in original, "dev's trainer block changed shape"
    try:
        act.repo.commit("dev without its GPU trainer (the release workflow tests)",
                        {TFVARS: original.replace(marker, marker.replace("true", "false"))})
        story.mlops("apply", "--env", ENV, "--allow-unreviewed")
        story.first_uri = story.mlops("artifact", "push", "--env", ENV,
                                      str(train_model(FIRST_SEED).dir)).strip()
        story.mlops("release", "--env", ENV, "--model", story.first_uri, "--image", IMAGE)
        act.repo.commit("dev: first release (model v1)")
        story.mlops("apply", "--env", ENV, "--allow-unreviewed")
        github.seed(REPOSITORY, act.repo.path)
        yield story
    finally:
        try:
            story.mlops("destroy", "--env", ENV, "--confirm", ENV)
        finally:
            act.repo.git("checkout", "-q", "main")
            act.repo.commit("dev's tfvars again", {TFVARS: original})
            github.stop()


@pytest.fixture(scope="module")
def retrained(served: Story) -> Story:
    """Step 1: retrain.yml on its schedule, then dispatched with a seed."""
    story = served
    for event, payload in (
            ("schedule", {"schedule": "41 3 * * 1"}),
            ("workflow_dispatch", {"ref": "refs/heads/main", "inputs": {"seed": SEED}})):
        before = {p.number for p in story.pulls()}
        story.github.token_requests.clear()
        story.retrain_runs[event] = run = story.run("retrain.yml", event, payload)
        assert run.returncode == 0, f"{event}: {run.results()}\n{run.tail()}"
        [pull] = [p for p in story.pulls() if p.number not in before]
        story.release_pulls[event] = pull
        # read now: the pull request's commit lives in the embedded GitHub only
        story.release_diffs[event] = tfvars_diff(story, pull)
        story.release_texts[event] = story.github.file_at(REPOSITORY, pull.head_sha,
                                                          TFVARS) or ""
    return story


def test_retrain_pushes_the_model_and_opens_the_release_pull_request(retrained: Story) -> None:
    s3 = retrained.cloud.client("s3")
    seeds = {"schedule": "1", "workflow_dispatch": SEED}  # the run number; the input
    uris = set()
    for event, run in retrained.retrain_runs.items():
        job = run.job("retrain")
        assert f"train: seed {seeds[event]}," in job.log, job.log
        pull = retrained.release_pulls[event]
        uri = job.outputs["uri"]
        match = re.fullmatch(rf"s3://{BUCKET}/models/([0-9a-f]{{64}})/model\.tar\.gz", uri)
        assert match, (event, uri)
        sha256 = match.group(1)
        uris.add(uri)
        # the artifact is in dev's bucket, and its bytes hash to the sha256 it is named by
        body = s3.get_object(Bucket=BUCKET, Key=f"models/{sha256}/model.tar.gz")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == sha256
        # the release pull request: dev's tfvars, the new model as a canary of v1
        assert (pull.state, pull.base_ref) == ("open", "main"), pull
        assert pull.head_ref == f"mlops/release-{ENV}-{release.default_key(sha256)}", pull
        diff = retrained.release_diffs[event]
        assert sha256 in added(diff), diff
        after = release.read_serving(retrained.release_texts[event], TFVARS)
        active = after.active_release()
        assert after.active == release.default_key(sha256), after
        assert active is not None and active["canary"]["model_data_url"] == uri, after
        assert active["stable"]["model_data_url"] == retrained.first_uri, after
        assert uri in retrained.github.issue(REPOSITORY, pull.number).body
        # train, push and release ran under dev's apply role, from the dev environment
        assert [name for name, result in job.steps if result == "success"
                and name.startswith("mlops ")] == [
            "mlops oidc assume", "mlops train", "mlops artifact push", "mlops release"], job.steps
    assert len(uris) == 2, uris  # the two seeds made two models
    assert [str(t.claims.get("sub")) for t in retrained.github.token_requests] == [
        f"repo:{REPOSITORY}:environment:dev"]  # (the dispatched run's; cleared before it)


@pytest.fixture(scope="module")
def promoted(retrained: Story) -> Story:
    """Step 2: the dispatched run's release pull request, reviewed and merged; main.yml."""
    story, repo = retrained, retrained.act.repo
    pull = story.release_pulls["workflow_dispatch"]
    before = repo.head()
    # The pull request's branch, in the repository the runner checks out (its commit in
    # the embedded GitHub was made through the API and is not a git commit).
    repo.git("checkout", "-q", "-b", pull.head_ref)
    head = repo.commit(pull.title, {TFVARS: story.release_texts["workflow_dispatch"]})
    with story.github.lock:
        pull.head_sha = head
    plans = story.state / f"pr-{pull.number}"
    story.mlops("plan", "--env", ENV, "--out", str(plans), "--commit", head)
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "-m", f"Merge pull request #{pull.number}", pull.head_ref)
    story.merge = repo.head()
    story.github.merge_pull(REPOSITORY, pull.number, story.merge)  # main moves there
    story.mlops("comment", "post", "--repo", REPOSITORY, "--pr", str(pull.number), str(plans),
                github=True)
    story.github.token_requests.clear()
    story.main_run = story.run("main.yml", "push", {
        "ref": "refs/heads/main", "before": before, "after": story.merge},
        variables=CANARY_VARS)
    return story


def variant_models(story: Story, config: str) -> dict[str, str]:
    """variant -> the ModelDataUrl it serves, as SageMaker describes the config."""
    sm = story.cloud.client("sagemaker")
    variants = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    return {v["VariantName"]: sm.describe_model(ModelName=v["ModelName"])[
        "PrimaryContainer"]["ModelDataUrl"] for v in variants}


def test_merging_the_release_applies_dev_and_promotes_the_canary(promoted: Story) -> None:
    run = promoted.main_run
    assert run is not None
    assert run.returncode == 0, f"{run.results()}\n{run.tail()}"
    matrix = json.loads(run.job("changed").outputs["matrix"])
    assert (matrix["waves"], matrix["releases"]) == ([[ENV]], [ENV]), matrix
    [apply] = run.called("wave 1", "apply")
    [canary] = run.called("wave 1", "canary")
    assert (apply.result, canary.result) == ("success", "success"), run.results()
    assert run.called("wave 1", "approve") == []
    # both in the dev environment, under dev's apply role
    assert [str(t.claims.get("sub")) for t in promoted.github.token_requests] == [
        f"repo:{REPOSITORY}:environment:{ENV}"] * 2

    # the guard applied the reviewed plan of the merged release PR, and recorded it
    pull = promoted.release_pulls["workflow_dispatch"]
    s3 = promoted.cloud.client("s3")
    state_bucket = str(promoted.cloud.outputs["state_bucket"])
    listed = s3.list_objects_v2(Bucket=state_bucket, Prefix=f"deployments/{ENV}/records/")
    newest = json.loads(s3.get_object(Bucket=state_bucket, Key=listed["Contents"][0]["Key"])[
        "Body"].read())
    assert (newest["kind"], newest["outcome"], newest["commit"], newest["reviewed"],
            newest["pr"]) == ("apply", "applied", promoted.merge, True, pull.number), newest

    # SageMaker: the endpoint serves the release's config, the candidate at 100 %
    candidate = promoted.retrain_runs["workflow_dispatch"].job("retrain").outputs["uri"]
    found = promoted.endpoint()
    assert found["EndpointStatus"] == "InService", found
    assert variant_models(promoted, found["EndpointConfigName"]) == {
        "stable": promoted.first_uri, "canary": candidate}
    weights = {v["VariantName"]: v["CurrentWeight"] for v in found["ProductionVariants"]}
    assert weights["canary"] > 0 and weights["stable"] == 0, weights
    assert "bake 1s per step, poll every 0.5s" in canary.log, canary.log  # the variables
    assert "promoted" in canary.summary, canary.summary

    # the follow-up pull request makes the candidate the release's only (stable) variant
    key = release.default_key(candidate.split("/")[-2])
    [follow] = [p for p in promoted.pulls() if p.head_ref == f"mlops/promote-{ENV}-{key}"]
    assert follow.state == "open", follow
    after = release.read_serving(
        promoted.github.file_at(REPOSITORY, follow.head_sha, TFVARS) or "", TFVARS)
    active = after.active_release()
    assert after.active == key and active is not None, after
    assert (list(active), active["stable"]["model_data_url"]) == (["stable"], candidate), after


def test_endpoint_rollback_dispatch_goes_back_to_the_retained_release(promoted: Story) -> None:
    promoted.github.token_requests.clear()
    before = {p.number for p in promoted.pulls()}
    run = promoted.dispatch("rollback.yml", {"env": ENV, "kind": "endpoint", "target": "",
                                             "reason": REASON})
    assert run.returncode == 0, f"{run.results()}\n{run.tail()}"
    job = run.job("rollback")
    ran = {name: result for name, result in job.steps if name.startswith("mlops ")}
    # only the kind's step ran (act reports no result for a step whose `if:` is false)
    assert ran.get("mlops endpoint rollback") == "success", job.steps
    assert "success" not in (ran.get("mlops rollback"), ran.get("mlops canary abort")), job.steps
    assert [str(t.claims.get("sub")) for t in promoted.github.token_requests] == [
        f"repo:{REPOSITORY}:environment:{ENV}"]
    # SageMaker: back on v1 alone, the first release's config
    found = promoted.endpoint()
    assert found["EndpointStatus"] == "InService", found
    assert variant_models(promoted, found["EndpointConfigName"]) == {
        "stable": promoted.first_uri}
    # the pull request that records the swap, with the reason
    first_key = release.default_key(promoted.first_uri.split("/")[-2])
    [pull] = [p for p in promoted.pulls() if p.number not in before]
    assert pull.head_ref == f"mlops/rollback-{ENV}-{first_key}", pull
    assert REASON in promoted.github.issue(REPOSITORY, pull.number).body
    after = release.read_serving(
        promoted.github.file_at(REPOSITORY, pull.head_sha, TFVARS) or "", TFVARS)
    assert after.active == first_key, after


def test_rollback_dispatch_to_an_unknown_release_fails_the_job_clearly(promoted: Story) -> None:
    config = promoted.endpoint()["EndpointConfigName"]
    unknown = promoted.dispatch("rollback.yml", {"env": ENV, "kind": "endpoint",
                                                 "target": "m-0000000000", "reason": REASON})
    assert unknown.returncode != 0
    job = unknown.job("rollback")
    assert job.result == "failure", job.steps
    assert "error: dev has no retained release 'm-0000000000'" in job.log, job.log
    assert "fix: pass one of them with --to" in job.log, job.log
    assert "Traceback" not in job.log
    assert promoted.endpoint()["EndpointConfigName"] == config  # nothing changed


def test_canary_abort_dispatch_without_a_canary_refuses_and_changes_nothing(
        promoted: Story) -> None:
    # The endpoint serves one release alone by now (the rollback above): the abort kind
    # runs its own step, which refuses clearly, and leaves the endpoint as it was.
    config = promoted.endpoint()["EndpointConfigName"]
    run = promoted.dispatch("rollback.yml", {"env": ENV, "kind": "canary-abort", "target": "",
                                             "reason": REASON})
    assert run.returncode != 0
    job = run.job("rollback")
    ran = {name: result for name, result in job.steps if name.startswith("mlops ")}
    assert ran.get("mlops canary abort") == "failure", job.steps
    assert "success" not in (ran.get("mlops rollback"), ran.get("mlops endpoint rollback")), (
        job.steps)
    assert f"release {release.default_key(promoted.first_uri.split('/')[-2])} of {ENV} has " \
           "no canary: nothing to abort" in job.log, job.log
    assert "Traceback" not in job.log
    assert promoted.endpoint()["EndpointConfigName"] == config  # nothing changed
