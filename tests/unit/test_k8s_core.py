"""core.k8s on literal inputs: release state, promote/rollback decisions, overlay edits that
keep comments and layout, Secret redaction, the rendered diff, layout and Flux checks."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from mlops.core import k8s
from mlops.core.policy import Violation

SHA_A, SHA_B = "a" * 64, "b" * 64
URI_A = f"s3://mlops-demo-dev-artifacts/models/{SHA_A}/model.tar.gz"
URI_B = f"s3://mlops-demo-dev-artifacts/models/{SHA_B}/model.tar.gz"
IMG_1 = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-demo-dev-model-server:0.1.0"
IMG_2 = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-demo-dev-model-server:0.2.0"


def deployment(name: str, image: str, uri: str, unpack: str | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"template": {"metadata": {"annotations": {k8s.MODEL_ANNOTATION: uri}},
                                  "spec": {"initContainers": [{"name": "unpack-model",
                                                               "image": unpack or image}],
                                           "containers": [{"name": "server", "image": image}]}}}}


def route(stable: int, canary: int) -> dict[str, Any]:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "model-server"},
            "spec": {"rules": [{"backendRefs": [{"name": k8s.STABLE, "weight": stable},
                                                {"name": k8s.CANARY, "weight": canary}]}]}}


def cronjob(uri: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": k8s.BATCH},
            "spec": {"jobTemplate": {"spec": {"template": {
                "metadata": {"annotations": {k8s.MODEL_ANNOTATION: uri}},
                "spec": {"containers": [{"name": "batch", "image": IMG_1 + "-batch"}]}}}}}}


def objects(canary_image: str = IMG_1, canary_uri: str = URI_B, weights: tuple[int, int] = (90, 10),
            ) -> list[dict[str, Any]]:
    return [deployment(k8s.STABLE, IMG_1, URI_A), deployment(k8s.CANARY, canary_image, canary_uri),
            route(*weights), cronjob(URI_A)]


STATE = k8s.release_state(objects())


# ---------------------------------------------------------------- release state


def test_release_state_reads_the_render() -> None:
    expected = k8s.ReleaseState(k8s.Track(IMG_1, URI_A), k8s.Track(IMG_1, URI_B), 90, 10, URI_A)
    assert expected == STATE
    assert STATE.has_canary
    assert not k8s.release_state(objects(canary_uri=URI_A)).has_canary


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda objs: objs.pop(1), "Deployment/model-server-canary missing"),
    (lambda objs: objs.pop(2), "HTTPRoute/model-server missing"),
    (lambda objs: objs[2]["spec"]["rules"].append({}), "has 2 rules"),
    (lambda objs: objs[2]["spec"]["rules"][0]["backendRefs"][1].update(name="other"),
     "routes to model-server-stable, other"),
    (lambda objs: objs[0]["spec"]["template"]["spec"]["initContainers"][0].update(image=IMG_2),
     "must be the same image"),
    (lambda objs: objs[1]["spec"]["template"]["metadata"].update(annotations={}),
     "has no mlops/model-uri annotation"),
])
def test_release_state_refuses_an_overlay_without_the_canary_setup(mutate: Any,
                                                                   message: str) -> None:
    objs = objects()
    mutate(objs)
    with pytest.raises(ValueError, match=message):
        k8s.release_state(objs)


# ---------------------------------------------------------------- decisions


@pytest.mark.parametrize(("weight", "stable", "canary", "stable_track", "batch"), [
    (0, 100, 0, STATE.stable, URI_A),
    (25, 75, 25, STATE.stable, URI_A),
    (50, 50, 50, STATE.stable, URI_A),
    (99, 1, 99, STATE.stable, URI_A),
    (100, 100, 0, STATE.canary, URI_B),  # finish: stable takes the canary's version
])
def test_promote_table(weight: int, stable: int, canary: int, stable_track: k8s.Track,
                       batch: str) -> None:
    change = k8s.promote(STATE, weight)
    assert (change.after.stable_weight, change.after.canary_weight) == (stable, canary)
    assert change.after.stable == stable_track and change.after.canary == STATE.canary
    assert change.after.batch_model == batch
    assert change.before == STATE and change.summary


@pytest.mark.parametrize(("state", "weight", "message"), [
    (STATE, 101, "outside 0-100"),
    (STATE, -1, "outside 0-100"),
    (replace(STATE, canary=STATE.stable), 50, "has no canary"),
])
def test_promote_refusals(state: k8s.ReleaseState, weight: int, message: str) -> None:
    with pytest.raises(k8s.Refused, match=message):
        k8s.promote(state, weight)


def test_promote_to_the_current_weight_is_a_noop() -> None:
    assert k8s.promote(STATE, 10).noop


def test_rollback() -> None:
    change = k8s.rollback(STATE)
    assert change.after == replace(STATE, canary=STATE.stable, stable_weight=100,
                                   canary_weight=0)
    stuck = replace(STATE, canary=STATE.stable, stable_weight=80, canary_weight=20)
    assert k8s.rollback(stuck).after.canary_weight == 0, "weights alone are rolled back too"
    with pytest.raises(k8s.Refused, match="no canary to roll back"):
        k8s.rollback(replace(STATE, canary=STATE.stable, stable_weight=100, canary_weight=0))


def test_verify_render_names_every_difference() -> None:
    change = k8s.promote(STATE, 50)
    assert k8s.verify_render(change, change.after) == []
    problems = k8s.verify_render(change, replace(change.after, canary_weight=40))
    assert problems == ["canary weight: the render has 40, the change asked for 50"]


# ---------------------------------------------------------------- edits

TRAFFIC = """\
# The canary's share.
- op: test
  path: /spec/rules/0/backendRefs/0/name
  value: model-server-stable
- op: replace
  path: /spec/rules/0/backendRefs/0/weight
  value: 90 # stable
- op: test
  path: /spec/rules/0/backendRefs/1/name
  value: model-server-canary
- op: replace
  path: /spec/rules/0/backendRefs/1/weight
  value: 10
"""

RELEASE = f"""\
# What each track runs.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: model-server-stable
spec:
  template:
    metadata:
      annotations:
        mlops/model-uri: {URI_A}
    spec:
      initContainers:
        - name: unpack-model
          image: &stable {IMG_1} # pinned
      containers:
        - name: server
          image: *stable
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: model-server-canary
spec:
  template:
    metadata:
      annotations:
        mlops/model-uri: {URI_B}
    spec:
      initContainers:
        - name: unpack-model
          image: "{IMG_1}"
      containers:
        - name: server
          image: "{IMG_1}"
---
# Batch inference runs the stable model.
apiVersion: batch/v1
kind: CronJob
metadata:
  name: model-server-batch
spec:
  jobTemplate:
    spec:
      template:
        metadata:
          annotations:
            mlops/model-uri: {URI_A}
"""


def test_edit_traffic_changes_only_the_two_values() -> None:
    edited = k8s.edit_traffic(TRAFFIC, 40, 60)
    assert edited == TRAFFIC.replace("value: 90 # stable", "value: 40 # stable").replace(
        "value: 10\n", "value: 60\n")


def test_edit_traffic_finds_weights_by_backend_name_not_position() -> None:
    swapped = TRAFFIC.replace("model-server-stable", "TMP").replace(
        "model-server-canary", "model-server-stable").replace("TMP", "model-server-canary")
    edited = k8s.edit_traffic(swapped, 40, 60)
    assert "value: 60 # stable" in edited and "value: 40\n" in edited


def test_edit_traffic_refuses_an_unrecognised_file() -> None:
    with pytest.raises(ValueError, match="sets no weight for model-server-canary"):
        k8s.edit_traffic("\n".join(TRAFFIC.splitlines()[:7]) + "\n", 50, 50)


def test_edit_release_keeps_comments_anchors_and_quotes() -> None:
    edited = k8s.edit_release(RELEASE, k8s.STABLE, k8s.Track(IMG_2, URI_B))
    assert edited == RELEASE.replace(f"mlops/model-uri: {URI_A}\n    spec:",
                                     f"mlops/model-uri: {URI_B}\n    spec:", 1).replace(
        f"&stable {IMG_1} # pinned", f"&stable {IMG_2} # pinned")
    edited = k8s.edit_release(RELEASE, k8s.CANARY, k8s.Track(IMG_2, URI_A))
    assert edited.count(f'"{IMG_2}"') == 2 and f"mlops/model-uri: {URI_B}" not in edited
    assert k8s.edit_batch_model(RELEASE, URI_B).endswith(f"mlops/model-uri: {URI_B}\n")


def test_apply_change_rewrites_only_what_the_change_touches() -> None:
    state = k8s.ReleaseState(k8s.Track(IMG_1, URI_A), k8s.Track(IMG_1, URI_B), 90, 10, URI_A)
    assert set(k8s.apply_change(k8s.promote(state, 50), RELEASE, TRAFFIC)) == {"traffic.yaml"}
    finish = k8s.apply_change(k8s.promote(state, 100), RELEASE, TRAFFIC)
    assert set(finish) == {"release.yaml", "traffic.yaml"}
    assert finish["release.yaml"].count(URI_B) == 3  # stable, canary, batch
    back = k8s.apply_change(k8s.rollback(state), RELEASE, TRAFFIC)
    assert back["release.yaml"].count(URI_A) == 3


@pytest.mark.parametrize(("text", "style"), [
    ("- a\n", (2, 0)),
    ("# c\n  - a\n", (4, 2)),
    ("key:\n  - a\n", (4, 2)),
    ("key:\n- a\n", (2, 0)),
    ("a: 1\n", (4, 2)),
])
def test_sequence_style(text: str, style: tuple[int, int]) -> None:
    assert k8s.sequence_style(text) == style


# ---------------------------------------------------------------- diff and redaction


def secret(value: str, name: str = "creds") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "ns"},
            "data": {"password": value, "user": "YWRtaW4="}, "stringData": {"token": value}}


def test_secret_values_never_reach_the_diff() -> None:
    base, head = [secret("c2VjcmV0MQ==")], [secret("c2VjcmV0Mg==")]
    diff = k8s.diff_renders("dev", base, head)
    assert "c2VjcmV0" not in diff.diff and "YWRtaW4=" not in diff.diff
    assert f"+  password: {k8s.REDACTED_CHANGED}" in diff.diff
    assert "user: <redacted>" in diff.diff  # unchanged keys stay visible, values never
    assert diff.changed == ("Secret/ns/creds",)
    added = k8s.diff_renders("dev", [], [secret("x", "new")])
    assert added.added == ("Secret/ns/new",) and "password: <redacted>" in added.diff


def test_diff_hunks_name_their_object_and_counts_are_exact() -> None:
    base = objects()
    head = copy.deepcopy(base)
    head[2]["spec"]["rules"][0]["backendRefs"][1]["weight"] = 50
    head[2]["spec"]["rules"][0]["backendRefs"][0]["weight"] = 50
    head.pop(3)
    result = k8s.diff_renders("dev", base, head, base_label="origin/main", head_label="HEAD")
    lines = result.diff.splitlines()
    assert lines[:2] == ["--- dev (origin/main)", "+++ dev (HEAD)"]
    assert any(line.startswith("@@") and line.endswith(" HTTPRoute/model-server")
               for line in lines), lines
    assert "-      weight: 10" in lines and "+      weight: 50" in lines
    assert (result.added, result.removed, result.changed) == (
        (), ("CronJob/-/model-server-batch",), ("HTTPRoute/-/model-server",))
    assert k8s.diff_renders("dev", base, copy.deepcopy(base)).diff == ""


def test_manifest_text_is_stable_under_reordering() -> None:
    objs = objects()
    assert k8s.manifest_text(objs) == k8s.manifest_text(list(reversed(objs)))


# ---------------------------------------------------------------- layout, Flux, findings


def test_layout_problems() -> None:
    assert k8s.layout_problems(["dev", "prod"], ["dev", "prod"], ["dev", "prod"]) == []
    assert k8s.layout_problems(["dev", "prod"], ["dev", "qa"], ["dev", "prod"]) == [
        "k8s/overlays/prod/ is missing: mlops.yaml lists env prod",
        "k8s/overlays/qa/ belongs to no env of mlops.yaml",
    ]


def flux(path: str = "./k8s/overlays/dev", url: str = "https://github.com/acme/infra",
         source: str = "repo") -> list[dict[str, Any]]:
    return [{"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
             "metadata": {"name": "repo"}, "spec": {"url": url}},
            {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
             "metadata": {"name": "app"},
             "spec": {"path": path, "sourceRef": {"kind": "GitRepository", "name": source}}}]


@pytest.mark.parametrize(("objs", "field", "message"), [
    (flux(), None, None),
    (flux(url="https://github.com/acme/infra.git"), None, None),
    (flux(path="./k8s/overlays/prod"), "spec.path", "would apply another env's overlay"),
    (flux(url="https://github.com/evil/infra"), "spec.url", "is not this repository"),
    (flux(source="other"), "spec.sourceRef", "is not a GitRepository in this directory"),
    (flux()[:1], "", "no Flux Kustomization"),
])
def test_flux_findings(objs: list[dict[str, Any]], field: str | None,
                       message: str | None) -> None:
    found = k8s.flux_findings("dev", objs, "acme/infra")
    if message is None:
        assert found == []
    else:
        (finding,) = found
        assert finding.field == field and message in finding.message
        assert finding.overlay == "clusters/dev" and finding.check == "flux"


def test_policy_findings_split_kind_name_and_field() -> None:
    (finding,) = k8s.policy_findings("dev", [Violation(
        "limits", "Deployment/web", "Deployment/web: spec.template.spec.containers[c]."
        "resources.limits.cpu: missing (every container ...)")])
    assert finding == k8s.Finding("dev", "Deployment", "web",
                                  "spec.template.spec.containers[c].resources.limits.cpu",
                                  "missing (every container ...)", "policy:limits")
    assert finding.render() == ("dev: Deployment/web: spec.template.spec.containers[c]."
                                "resources.limits.cpu: missing (every container ...) "
                                "[policy:limits]")


def test_parse_manifests_refuses_non_objects() -> None:
    assert k8s.parse_manifests("---\n", "x") == []
    with pytest.raises(ValueError, match="document 1 is not a Kubernetes object"):
        k8s.parse_manifests("- a\n", "x")
    with pytest.raises(ValueError, match="not valid YAML"):
        k8s.parse_manifests("a: [\n", "x")
