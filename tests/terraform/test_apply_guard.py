"""The stale-plan guard end to end: `mlops plan` + `mlops comment post` on a pull request
of the embedded GitHub, the PR merged, then `mlops apply` at the merge commit, with real
Terraform and the embedded AWS. Every case of the guard gives its own outcome and exit
code (core/guard.py), and applies only a plan whose fingerprint reviewers saw."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.core import comment, plansummary
from mlops.core.comment import PlanInput
from mlops.localcloud.github import FakeGitHub

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]

REPO = "example-org/mlops-gitops"
ROOT = {"main.tf": '''
variable "generation" {
  type = string
}

resource "terraform_data" "model" {
  input = var.generation
}

resource "terraform_data" "keep" {
  input = "constant"
}

output "generation" {
  value = terraform_data.model.output
}

output "requested" {
  value = var.generation
}
''', "terraform.tfvars": 'generation = "a"\n'}


def sha(n: int) -> str:
    return f"{n:040x}"


@pytest.fixture
def hub() -> Iterator[FakeGitHub]:
    with FakeGitHub(repos={REPO}, pulls=set()) as fake:
        yield fake


@pytest.fixture
def proj(bootstrapped: Any, project_env: Any, small_project: Any, hub: FakeGitHub,
         tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = small_project(tmp_path / "proj", {"dev": dict(ROOT), "staging": dict(ROOT)})
    env = {**project_env(root), **hub.actions_env(REPO),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    return root, env


def tfvars(root: Path, env_name: str, generation: str) -> None:
    (root / "envs" / env_name / "terraform.tfvars").write_text(f'generation = "{generation}"\n')


def review(run_mlops: Any, env: dict[str, str], hub: FakeGitHub, tmp_path: Path, *, pr: int,
           head: str, envs: tuple[str, ...] = ("dev",)) -> dict[str, comment.ReviewedPlan]:
    """What the PR workflow does: plan at the PR head, post the sticky comment."""
    hub.add_pull(REPO, head_ref=f"change-{pr}", head_sha=head, number=pr)
    dirs = []
    for env_name in envs:
        out = tmp_path / f"pr{pr}" / env_name
        run_mlops(env, "plan", "--env", env_name, "--out", str(out), "--commit", head).check(0)
        dirs.append(str(out))
    run_mlops(env, "comment", "post", "--repo", REPO, "--pr", str(pr), "--no-labels",
              *dirs).check(0)
    [body] = [c.body for c in hub.comments_on(REPO, pr)]
    return comment.reviewed_plans(body)


def s3_json(cloud: Any, bucket: str, key: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    return data


def records(cloud: Any, bucket: str, env_name: str) -> list[str]:
    listed = cloud.client("s3").list_objects_v2(Bucket=bucket,
                                                Prefix=f"deployments/{env_name}/records/")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_applies_only_the_reviewed_plan_and_refuses_a_changed_one(
        proj: tuple[Path, dict[str, str]], hub: FakeGitHub, run_mlops: Any, cloud: Any,
        bootstrapped: Any, tmp_path: Path) -> None:
    root, env = proj
    bucket = bootstrapped.state_bucket
    earlier = set(records(cloud, bucket, "dev"))  # other tests on this worker deploy "dev" too
    run_mlops(env, "apply", "--env", "dev", "--allow-unreviewed", "--commit", sha(1)).check(0)
    first = s3_json(cloud, bucket, "deployments/dev/latest.json")
    assert (first["reviewed"], first["review"], first["outcome"]) == (
        False, "unreviewed (no-pull-request)", "applied"), first

    # PR 5 changes the generation; reviewed, merged, applied on merge.
    tfvars(root, "dev", "b")
    reviewed = review(run_mlops, env, hub, tmp_path, pr=5, head=sha(50))["dev"]
    assert reviewed.commit == sha(50) and len(reviewed.fingerprint) == 64
    hub.merge_pull(REPO, 5, sha(51))
    applied = run_mlops(env, "apply", "--env", "dev", "--commit", sha(51)).check(0)
    assert "is the plan reviewed on PR #5" in applied.stderr, applied.describe()
    latest = s3_json(cloud, bucket, "deployments/dev/latest.json")
    expected = {"env": "dev", "kind": "apply", "outcome": "applied", "commit": sha(51), "pr": 5,
                "fingerprint": reviewed.fingerprint, "reviewed": True, "review": "apply"}
    assert {k: latest[k] for k in expected} == expected, latest
    assert latest["state_serial_after"] == latest["state_serial_before"] + 1, latest
    assert latest["outputs"] == {"generation": "b", "requested": "b"}, latest["outputs"]
    assert len(set(records(cloud, bucket, "dev")) - earlier) == 2, "one record per apply"
    summary = (tmp_path / "summary.md").read_text()
    assert "apply of `dev`: applied" in summary and sha(51)[:12] in summary, summary

    # PR 6 is reviewed with "c", but what is merged asks for "d": never applied silently.
    tfvars(root, "dev", "c")
    reviewed6 = review(run_mlops, env, hub, tmp_path, pr=6, head=sha(60))["dev"]
    hub.merge_pull(REPO, 6, sha(61))
    tfvars(root, "dev", "d")
    before = run_mlops(env, "apply", "--env", "dev", "--commit", sha(61))
    assert before.code == 3, f"expected exit 3 (plan changed):\n{before.describe()}"
    err = " ".join(before.stderr.split())
    for wanted in ("the plan changed since it was reviewed on PR #6",
                   f"{reviewed6.fingerprint[:12]} reviewed",
                   "changed since review: terraform_data.model",
                   "changed since review: output.requested"):
        assert wanted in err, f"{wanted!r} not in stderr:\n{before.stderr}"
    assert "terraform_data.keep" not in err, "an unchanged resource is not reported"
    assert "output.generation" not in err, "unknown until apply in both plans: the same"
    [body] = [c.body for c in hub.comments_on(REPO, 6)]
    assert comment.reviewed_plans(body)["dev"] == reviewed6, (
        "the notice must leave what the comment records as reviewed untouched")
    assert "Not applied at merge: the plan of dev changed" in body, body[:3000]
    assert '"d"' in body, "the comment shows the new plan"
    latest_after = s3_json(cloud, bucket, "deployments/dev/latest.json")
    assert latest_after["commit"] == sha(51), "a refused apply changes nothing, records nothing"
    assert "Not applied at merge" in (tmp_path / "summary.md").read_text()

    # The dispatch path may apply it anyway; the record says it was unreviewed.
    run_mlops(env, "apply", "--env", "dev", "--commit", sha(61), "--allow-unreviewed").check(0)
    forced = s3_json(cloud, bucket, "deployments/dev/latest.json")
    assert (forced["reviewed"], forced["review"], forced["pr"], forced["outputs"]) == (
        False, "unreviewed (plan-changed)", 6, {"generation": "d", "requested": "d"}), forced


def test_every_other_case_has_its_own_outcome(
        proj: tuple[Path, dict[str, str]], hub: FakeGitHub, run_mlops: Any,
        bootstrapped: Any, tmp_path: Path) -> None:
    root, env = proj
    run_mlops(env, "apply", "--env", "dev", "--allow-unreviewed").check(0)
    tfvars(root, "dev", "b")

    def apply(commit: str) -> Any:
        return run_mlops(env, "apply", "--env", "dev", "--commit", commit)

    def expect(run: Any, code: int, *phrases: str) -> None:
        assert run.code == code, f"expected exit {code}:\n{run.describe()}"
        for phrase in phrases:
            assert phrase in " ".join(run.stderr.split()), f"{phrase!r}:\n{run.describe()}"

    expect(apply(sha(100)), 4, "has no pull request (a direct push)", "--allow-unreviewed")

    hub.add_pull(REPO, head_ref="no-comment", head_sha=sha(110), number=11, merged=True,
                 merge_commit_sha=sha(111))
    expect(apply(sha(111)), 5, "PR #11 has no mlops plan comment")

    review(run_mlops, env, hub, tmp_path, pr=12, head=sha(120), envs=("staging",))
    hub.merge_pull(REPO, 12, sha(121))
    expect(apply(sha(121)), 5, "PR #12's plan comment has no plan for dev")

    hub.add_pull(REPO, head_ref="failed", head_sha=sha(130), number=13, merged=True,
                 merge_commit_sha=sha(131))
    failed = comment.render([PlanInput(plansummary.failed("dev", "Error: boom",
                                                          commit=sha(130)))])
    hub.add_comment(REPO, 13, failed, user="github-actions[bot]")
    expect(apply(sha(131)), 6, "the plan of dev on PR #13 failed")

    review(run_mlops, env, hub, tmp_path, pr=14, head=sha(140))
    hub.merge_pull(REPO, 14, sha(141))
    hub.pull(REPO, 14).head_sha = sha(142)  # a commit pushed after the plan, merged unplanned
    expect(apply(sha(141)), 7, f"was made at {sha(140)[:12]}, before the PR's last commit "
                               f"{sha(142)[:12]}")

    hub.add_pull(REPO, head_ref="old", head_sha=sha(150), number=15, merged=True,
                 merge_commit_sha=sha(151))
    hub.add_comment(REPO, 15, comment.MARKER + '\n<!-- mlops:plans {"plans":{"dev":{"hash":"'
                    + "a" * 64 + '","status":"ok"}},"v":1} -->\nan old comment')
    expect(apply(sha(151)), 7, "records no fingerprint")

    # --plan DIR: what is applied is judged from its plan.tfplan, never from a summary.json
    # beside it that could be another plan's.
    mixed, other = tmp_path / "mixed", tmp_path / "other"
    run_mlops(env, "plan", "--env", "dev", "--out", str(mixed)).check(0)  # generation "b"
    tfvars(root, "dev", "c")
    run_mlops(env, "plan", "--env", "dev", "--out", str(other)).check(0)
    shutil.copy(other / "summary.json", mixed / "summary.json")
    expect(run_mlops(env, "apply", "--env", "dev", "--plan", str(mixed), "--allow-unreviewed"),
           2, "summary.json is not the summary of", "their fingerprints differ",
           "nothing was applied")

    tfvars(root, "dev", "a")  # back to what is applied: nothing to do, whatever the review
    expect(apply(sha(160)), 0, "changes nothing; nothing to apply")
