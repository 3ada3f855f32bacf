"""`mlops k8s render|check|diff|promote|rollback` with their real peers: `kubectl
kustomize`, kubernetes-validate, the npm Gateway API / Flux validators under Node.js,
the Rego policies in-process, git, and the embedded GitHub for pull requests. Nothing
stands in for a cluster: there is none, and nothing here needs one.

Tests that edit manifests work on a scratch repository (`repo`): a git repository
holding copies of mlops.yaml, k8s/, policies/ and the validator script, with
node_modules/ linked in."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops.cli import main
from mlops.core import k8s
from mlops.localcloud.github import FakeGitHub

ROOT = Path(__file__).resolve().parents[2]
GITHUB_REPO = "example-org/mlops-gitops"  # github_repo in mlops.yaml


@dataclass
class Result:
    code: int
    out: str
    err: str


def mlops(root: Path, *argv: str, **env: str) -> Result:
    environ = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(root),
               "MLOPS_ROOT": str(root), "MLOPS_STATE_DIR": str(root / ".mlops"), **env}
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv), environ)
    return Result(code, out.getvalue(), err.getvalue())


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(ROOT / "mlops.yaml", root / "mlops.yaml")
    shutil.copytree(ROOT / "k8s", root / "k8s")
    shutil.copytree(ROOT / "policies", root / "policies")
    (root / "scripts" / "tools").mkdir(parents=True)
    shutil.copy(ROOT / "scripts/tools/k8s-validate.mjs", root / "scripts/tools")
    (root / "node_modules").symlink_to(ROOT / "node_modules")
    (root / ".gitignore").write_text("node_modules\n.mlops/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "k8s")
    return root


def rendered(root: Path, env: str) -> list[dict[str, Any]]:
    text = subprocess.run(["kubectl", "kustomize", str(root / "k8s" / "overlays" / env)],
                          check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(text) if d]


def weights(root: Path, env: str) -> tuple[int, int]:
    state = k8s.release_state(rendered(root, env))
    return state.stable_weight, state.canary_weight


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


# ---------------------------------------------------------------- check


def test_every_overlay_of_the_repository_builds_and_validates() -> None:
    result = mlops(ROOT, "k8s", "check")
    assert result.code == 0, result.out + result.err
    envs = yaml.safe_load((ROOT / "mlops.yaml").read_text())["envs"]
    for env in envs:
        assert f"PASS {env}: 12 objects" in result.out
        assert f"PASS clusters/{env}: 2 objects" in result.out
    assert "k8s check: passed" in result.out
    assert "kubernetes schemas 1.35" in result.err and "@kubernetes-models/flux-cd" in result.err


def test_check_names_overlay_kind_object_and_field(repo: Path) -> None:
    k = repo / "k8s"
    # dev: a misspelt field (schema of the built-in kind, strict)
    edit(k / "overlays/dev/sizing.yaml", "spec:\n  replicas: 1", "spec:\n  replicaz: 1")
    # staging: a hostname Gateway API refuses (npm gateway-api schema), weights 130 (policy)
    edit(k / "overlays/staging/settings.yaml", "model-server.staging.example.com",
         "Not A Hostname!")
    edit(k / "overlays/staging/traffic.yaml", "value: 0\n", "value: 30\n")
    # prod: a :latest canary (policy); its Flux Kustomization applies staging's overlay
    # and lacks the required `prune` (npm flux-cd schema)
    edit(k / "overlays/prod/release.yaml", "image: &canary 123456789012.dkr.ecr.us-east-1."
         "amazonaws.com/mlops-demo-prod-model-server:0.1.0",
         "image: &canary 123456789012.dkr.ecr.us-east-1.amazonaws.com/"
         "mlops-demo-prod-model-server:latest")
    edit(k / "clusters/prod/model-server.yaml", "path: ./k8s/overlays/prod",
         "path: ./k8s/overlays/staging")
    edit(k / "clusters/prod/model-server.yaml", "  prune: true\n", "")

    result = mlops(repo, "k8s", "check")
    assert result.code == 1
    lines = result.out.splitlines()

    def has(*parts: str) -> None:
        assert any(all(p in line for p in parts) for line in lines), (parts, result.out)

    has("dev: Deployment/model-server-canary: spec: unknown field(s)", "'replicaz'", "[schema]")
    has("staging: HTTPRoute/model-server: spec.hostnames[0]: must match pattern", "[schema]")
    has("staging: HTTPRoute/model-server: spec.rules[0].backendRefs: weights sum to 130",
        "[policy:weights]")
    for container in ("containers[server]", "initContainers[unpack-model]"):
        has(f"prod: Deployment/model-server-canary: spec.template.spec.{container}.image:",
            "mlops-demo-prod-model-server:latest is not pinned", "[policy:latest]")
    has("clusters/prod: Kustomization/model-server: spec.path:", "another env's overlay",
        "[flux]")
    has("clusters/prod: Kustomization/model-server: spec: missing required field prune",
        "[schema]")
    assert "PASS clusters/dev: 2 objects" in result.out
    assert "k8s check: FAILED" in result.out

    as_json = json.loads(mlops(repo, "k8s", "check", "--env", "staging", "--json").out)
    assert not as_json["passed"]
    assert {f["check"] for f in as_json["findings"]} == {"schema", "policy:weights"}


def test_check_wants_an_overlay_and_a_flux_dir_for_every_env(repo: Path) -> None:
    shutil.rmtree(repo / "k8s" / "clusters" / "staging")
    shutil.copytree(repo / "k8s" / "overlays" / "dev", repo / "k8s" / "overlays" / "qa")
    result = mlops(repo, "k8s", "check")
    assert result.code == 1
    assert "k8s/clusters/staging/ is missing: mlops.yaml lists env staging [layout]" in result.out
    assert "k8s/overlays/qa/ belongs to no env of mlops.yaml [layout]" in result.out


# ---------------------------------------------------------------- render


def test_render_prints_kubectl_kustomize_output(repo: Path) -> None:
    result = mlops(repo, "k8s", "render", "--env", "dev")
    assert result.code == 0, result.err
    objects = k8s.parse_manifests(result.out, "render")
    assert objects == rendered(repo, "dev")
    cluster = mlops(repo, "k8s", "render", "--env", "prod", "--cluster")
    assert {o["kind"] for o in k8s.parse_manifests(cluster.out, "c")} == {
        "GitRepository", "Kustomization"}


@pytest.mark.parametrize(("argv", "env", "message"), [
    (["render", "--env", "qa"], {}, "error: unknown env 'qa'"),
    (["render", "--env", "dev"], {"KUBECTL": "/nonexistent/kubectl"},
     "error: kubectl not found (/nonexistent/kubectl)"),
    (["check"], {"NODE": "/nonexistent/node"}, "error: Node.js not found (/nonexistent/node)"),
])
def test_clear_errors(repo: Path, argv: list[str], env: dict[str, str], message: str) -> None:
    result = mlops(repo, "k8s", *argv, **env)
    assert result.code == 2 and message in result.err, result.err
    assert "Traceback" not in result.err


def test_a_broken_kustomization_is_an_error_not_a_traceback(repo: Path) -> None:
    (repo / "k8s" / "overlays" / "dev" / "sizing.yaml").unlink()
    result = mlops(repo, "k8s", "render", "--env", "dev")
    assert result.code == 2 and "`kubectl kustomize" in result.err and "failed" in result.err


# ---------------------------------------------------------------- promote / rollback


def test_promote_in_print_mode_edits_the_overlay_and_prints_the_commands(repo: Path) -> None:
    traffic = repo / "k8s" / "overlays" / "dev" / "traffic.yaml"
    before = traffic.read_text()
    result = mlops(repo, "k8s", "promote", "--env", "dev", "--weight", "50")
    assert result.code == 0, result.err
    assert traffic.read_text() == before.replace("value: 90", "value: 50").replace(
        "value: 10", "value: 50"), "only the two values change; comments and layout stay"
    assert weights(repo, "dev") == (50, 50)
    assert result.out.splitlines() == [
        "git switch -c k8s/promote-dev-50",
        "git add k8s/overlays/dev/traffic.yaml",
        'git commit -m "k8s: send 50 % of dev requests to the canary"',
        "git push -u origin k8s/promote-dev-50",
        'gh pr create --fill --title "k8s: send 50 % of dev requests to the canary"',
    ]
    assert git(repo, "status", "--porcelain") == "M k8s/overlays/dev/traffic.yaml"
    again = mlops(repo, "k8s", "promote", "--env", "dev", "--weight", "50")
    assert again.code == 0 and "nothing to change" in again.err


def test_promote_to_100_moves_the_canary_version_to_stable(repo: Path) -> None:
    canary = k8s.release_state(rendered(repo, "dev")).canary
    result = mlops(repo, "k8s", "promote", "--env", "dev", "--weight", "100")
    assert result.code == 0, result.err
    state = k8s.release_state(rendered(repo, "dev"))
    assert (state.stable, state.canary, state.stable_weight, state.canary_weight) == (
        canary, canary, 100, 0)
    assert state.batch_model == canary.model_uri
    assert mlops(repo, "k8s", "check", "--env", "dev").code == 0
    refused = mlops(repo, "k8s", "promote", "--env", "dev", "--weight", "10")
    assert refused.code == 2 and "the overlay has no canary" in refused.err


def test_rollback_sends_everything_to_stable_and_retires_the_canary(repo: Path) -> None:
    stable = k8s.release_state(rendered(repo, "dev")).stable
    dry = mlops(repo, "k8s", "rollback", "--env", "dev", "--dry-run")
    assert dry.code == 0 and "+  value: 0" in dry.out and "weight: 0" in dry.out
    assert git(repo, "status", "--porcelain") == "", "--dry-run writes nothing"
    result = mlops(repo, "k8s", "rollback", "--env", "dev")
    assert result.code == 0, result.err
    state = k8s.release_state(rendered(repo, "dev"))
    assert (state.canary, state.stable_weight, state.canary_weight) == (stable, 100, 0)
    assert "git switch -c k8s/rollback-dev" in result.out
    refused = mlops(repo, "k8s", "rollback", "--env", "dev")
    assert refused.code == 2 and "no canary to roll back" in refused.err


@pytest.mark.parametrize(("argv", "message"), [
    (["promote", "--env", "dev", "--weight", "101"], "weight 101 is outside 0-100"),
    (["promote", "--env", "dev", "--weight", "-5"], "weight -5 is outside 0-100"),
    (["promote", "--env", "staging", "--weight", "10"],
     "the overlay has no canary: model-server-canary runs what model-server-stable runs"),
    (["rollback", "--env", "prod"], "no canary to roll back"),
])
def test_refusals_change_nothing(repo: Path, argv: list[str], message: str) -> None:
    result = mlops(repo, "k8s", *argv)
    assert result.code == 2 and message in result.err, result.err
    assert git(repo, "status", "--porcelain") == ""


def test_promote_refuses_an_edit_that_no_longer_validates(repo: Path) -> None:
    edit(repo / "k8s/overlays/dev/release.yaml", "&canary 123456789012.dkr.ecr.us-east-1."
         "amazonaws.com/mlops-demo-dev-model-server:0.1.0",
         "&canary docker.io/library/python:3.11")
    git(repo, "commit", "-qam", "a canary from Docker Hub")
    result = mlops(repo, "k8s", "promote", "--env", "dev", "--weight", "100")
    assert result.code == 2
    assert "the edited overlay no longer validates" in result.err
    assert "docker.io/library/python:3.11 is not from an allowed registry" in result.err
    assert git(repo, "status", "--porcelain") == ""


def test_promote_refuses_when_another_patch_overrides_the_weights(repo: Path) -> None:
    override = ("  - target:\n      kind: HTTPRoute\n      name: model-server\n    patch: |-\n"
                "      - op: replace\n        path: /spec/rules/0/backendRefs/1/weight\n"
                "        value: 10\n      - op: replace\n"
                "        path: /spec/rules/0/backendRefs/0/weight\n        value: 90\n")
    edit(repo / "k8s/overlays/dev/kustomization.yaml", "labels:\n", override + "labels:\n")
    assert weights(repo, "dev") == (90, 10)
    git(repo, "commit", "-qam", "a second weight patch")
    result = mlops(repo, "k8s", "promote", "--env", "dev", "--weight", "50")
    assert result.code == 2, result.err
    assert "does not render what the promote asks for" in result.err
    assert "canary weight: the render has 10, the change asked for 50" in result.err
    assert git(repo, "status", "--porcelain") == ""


@pytest.fixture
def hub(repo: Path) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(pulls=set()).start()
    fake.seed(GITHUB_REPO, repo)
    try:
        yield fake
    finally:
        fake.stop()


def test_promote_opens_a_pull_request_through_the_api(repo: Path, hub: FakeGitHub) -> None:
    env = {"GITHUB_TOKEN": hub.token, "GITHUB_API_URL": hub.url}
    before = (repo / "k8s/overlays/dev/traffic.yaml").read_text()
    result = mlops(repo, "k8s", "promote", "--env", "dev", "--weight", "25", **env)
    assert result.code == 0, result.err
    (pull,) = hub.pull_requests.values()
    assert result.out.strip() == f"https://github.example/{GITHUB_REPO}/pull/{pull.number}"
    assert (pull.head_ref, pull.base_ref) == ("k8s/promote-dev-25", "main")
    assert "send 25 % of dev requests to the canary" in pull.title
    assert "weight: 25" in pull.body and "Rendered and checked" in pull.body
    on_branch = hub.file_at(GITHUB_REPO, "k8s/promote-dev-25", "k8s/overlays/dev/traffic.yaml")
    assert on_branch == before.replace("value: 90", "value: 75").replace("value: 10",
                                                                         "value: 25")
    assert hub.file_at(GITHUB_REPO, "main", "k8s/overlays/dev/traffic.yaml") == before
    assert git(repo, "status", "--porcelain") == "", "PR mode leaves the checkout alone"

    again = mlops(repo, "k8s", "promote", "--env", "dev", "--weight", "25", **env)
    assert again.code == 0 and again.out == result.out and len(hub.pull_requests) == 1
    assert "pull request updated" in again.err


def test_pull_request_mode_refuses_a_checkout_behind_the_base(repo: Path,
                                                              hub: FakeGitHub) -> None:
    edit(repo / "k8s/overlays/dev/traffic.yaml", "# The canary's share", "# Local edit")
    result = mlops(repo, "k8s", "rollback", "--env", "dev", GITHUB_TOKEN=hub.token,
                   GITHUB_API_URL=hub.url)
    assert result.code == 2
    assert f"k8s/overlays/dev/traffic.yaml differs between this checkout and {GITHUB_REPO}@main" \
        in result.err
    assert hub.pull_requests == {}


# ---------------------------------------------------------------- diff


def test_diff_writes_the_rendered_change_with_secrets_redacted(repo: Path,
                                                               tmp_path: Path) -> None:
    overlay = repo / "k8s/overlays/dev"
    edit(overlay / "traffic.yaml", "value: 10", "value: 40")
    edit(overlay / "traffic.yaml", "value: 90", "value: 60")
    (overlay / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api-key\ntype: Opaque\n"
        "stringData:\n  key: hunter2-super-secret\n")
    edit(overlay / "kustomization.yaml", "  - namespace.yaml\n",
         "  - namespace.yaml\n  - secret.yaml\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more canary, an API key")
    out = tmp_path / "plans" / "dev"
    result = mlops(repo, "k8s", "diff", "--env", "dev", "--base", "HEAD~1", "--out", str(out))
    assert result.code == 0, result.err
    document = json.loads((out / "k8s.json").read_text())
    assert (document["v"], document["env"], document["status"]) == (1, "dev", "ok")
    assert document["added"] == ["Secret/mlops-demo-dev/api-key"]
    assert document["changed"] == ["HTTPRoute/mlops-demo-dev/model-server"]
    assert "hunter2" not in (out / "k8s.json").read_text() and "hunter2" not in result.out
    assert "+  key: <redacted>" in document["diff"]
    assert "-      weight: 10" in document["diff"] and "+      weight: 40" in document["diff"]
    assert document["diff"] == result.out.rstrip("\n")


def test_diff_of_a_new_env_and_of_no_change(repo: Path, tmp_path: Path) -> None:
    unchanged = mlops(repo, "k8s", "diff", "--env", "prod", "--base", "HEAD", "--out",
                      str(tmp_path / "p"))
    assert unchanged.code == 0
    assert json.loads((tmp_path / "p" / "k8s.json").read_text())["diff"] == ""
    git(repo, "rm", "-rq", "k8s/overlays/prod", "k8s/clusters/prod")
    git(repo, "commit", "-qm", "no prod yet")
    git(repo, "checkout", "-q", "HEAD~1", "--", "k8s")  # prod is back in the working tree
    result = mlops(repo, "k8s", "diff", "--env", "prod", "--base", "HEAD", "--out",
                   str(tmp_path / "n"))
    assert result.code == 0, result.err
    document = json.loads((tmp_path / "n" / "k8s.json").read_text())
    assert len(document["added"]) == 14 and document["removed"] == []


def test_the_pr_comment_shows_the_kubernetes_section(repo: Path, tmp_path: Path) -> None:
    """The workflow's path: `mlops k8s diff --out plans/<env>` in the k8s job, then
    `mlops comment render plans/*` (a Kubernetes-only directory is enough)."""
    edit(repo / "k8s/overlays/staging/sizing.yaml", "maxReplicas: 4", "maxReplicas: 8")
    git(repo, "commit", "-qam", "staging scales further")
    plans = tmp_path / "plans"
    for env in ("staging", "prod"):
        assert mlops(repo, "k8s", "diff", "--env", env, "--base", "HEAD~1", "--out",
                     str(plans / env)).code == 0
    result = mlops(repo, "comment", "render", str(plans / "prod"), str(plans / "staging"))
    assert result.code == 0, result.err
    assert "## ☸️ Kubernetes manifests · `staging` `prod`" in result.out
    assert "### ☸️ staging · 🟡 1 changed" in result.out
    assert "-  maxReplicas: 4\n+  maxReplicas: 8" in result.out
    assert "### ☸️ prod · ✅ rendered manifests unchanged" in result.out


def test_env_add_scaffolds_the_overlay_and_flux_dir(repo: Path) -> None:
    """A new env of mlops.yaml gets its k8s/overlays/ and k8s/clusters/ dirs, so `mlops k8s
    check` keeps covering every env; the copy renders and validates as the new env."""
    shutil.copytree(ROOT / "envs", repo / "envs",
                    ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    result = mlops(repo, "env", "add", "qa", "--like", "staging", "--region", "eu-west-1")
    assert result.code == 0, result.err
    assert "k8s/: k8s/overlays/qa/, k8s/clusters/qa/ (from staging's)" in result.err
    assert "the ECR registry host is us-east-1's" in result.err
    objects = rendered(repo, "qa")
    namespace = next(o for o in objects if o["kind"] == "Namespace")
    assert namespace["metadata"]["name"] == "mlops-demo-qa"
    assert {o["metadata"]["labels"]["env"] for o in objects} == {"qa"}
    config = next(o for o in objects if o["kind"] == "ConfigMap")
    assert config["data"]["AWS_REGION"] == "eu-west-1"
    assert config["data"]["BATCH_INPUT"] == "s3://mlops-demo-qa-artifacts/batch/input/"
    check = mlops(repo, "k8s", "check")
    assert check.code == 0, check.out
    assert "PASS qa: 12 objects" in check.out and "PASS clusters/qa: 2 objects" in check.out
    again = mlops(repo, "env", "add", "qa", "--like", "dev")
    assert again.code == 2  # already in mlops.yaml: nothing is touched


def test_env_add_never_overwrites_manifests(repo: Path) -> None:
    shutil.copytree(ROOT / "envs", repo / "envs",
                    ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    (repo / "k8s/clusters/qa").mkdir()
    before = (repo / "mlops.yaml").read_text()
    result = mlops(repo, "env", "add", "qa", "--like", "dev")
    assert result.code == 2 and "k8s/clusters/qa/ already exists" in result.err
    assert (repo / "mlops.yaml").read_text() == before
    assert not (repo / "envs/qa").exists() and not (repo / "k8s/overlays/qa").exists()
