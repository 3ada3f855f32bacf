"""The Kubernetes sections of the sticky PR comment: one per env, the rendered-manifest diff,
within the same size budget as the text plans, masked, and parseable back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.core import comment
from mlops.core.masking import Masker, compile_patterns
from mlops.core.plansummary import summarize

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "plans"

DIFF = """\
--- dev (origin/main)
+++ dev (head)
@@ -614,10 +614,10 @@ HTTPRoute/mlops-demo-dev/model-server
   - backendRefs:
     - name: model-server-stable
       port: 8080
-      weight: 90
+      weight: 50
     - name: model-server-canary
       port: 8080
-      weight: 10
+      weight: 50"""


def plan(env: str) -> comment.PlanInput:
    data = json.loads((FIXTURES / "creation" / "plan.json").read_text())
    return comment.PlanInput(summary=summarize(data, env))


def test_terraform_then_kubernetes_in_promotion_order() -> None:
    body = comment.render([plan("prod"), plan("dev")], order=["dev", "prod"], manifests=[
        comment.ManifestDiffInput("prod", ""),
        comment.ManifestDiffInput("dev", DIFF, changed=1)])
    lines = body.splitlines()
    headings = [line for line in lines if line.startswith("#")]
    assert headings == ["## 📋 Terraform plan · `dev` `prod`", "### dev · 🟡 4 to add",
                        "### prod · 🟡 4 to add", "## ☸️ Kubernetes manifests · `dev` `prod`",
                        "### ☸️ dev · 🟡 1 changed",
                        "### ☸️ prod · ✅ rendered manifests unchanged"]
    assert "```diff\n" + DIFF + "\n```" in body, "the diff is shown as it is, in a diff fence"
    assert comment.parse_comment(body) == {
        "dev": comment.parse_comment_plans(body)["dev"]["hash"],
        "prod": comment.parse_comment_plans(body)["prod"]["hash"]}
    assert "manifest diffs (`k8s.json`)" in lines[-1]


def test_a_kubernetes_only_change_gets_a_comment_too() -> None:
    body = comment.render([], manifests=[comment.ManifestDiffInput("staging", DIFF,
                                                                   changed=1)])
    assert body.startswith(comment.MARKER + "\n")
    assert comment.parse_comment_plans(body) == {}, "no plans: the apply step sees none"
    assert "## ☸️ Kubernetes manifests · `staging`" in body and "Terraform" not in body
    with pytest.raises(ValueError, match="no plans or manifest diffs"):
        comment.render([])


def test_a_failed_render_is_a_caution_with_its_error() -> None:
    body = comment.render([], manifests=[comment.ManifestDiffInput(
        "dev", error="error: `kubectl kustomize k8s/overlays/dev` failed\n  why: testing value")])
    assert "## ⚠️ Kubernetes manifests" in body
    assert "> ❌ rendering failed for dev: see below." in body
    assert "### ☸️ dev · ❌ render failed" in body and "why: testing value" in body


def test_manifest_diffs_share_the_size_budget_and_keep_head_and_tail() -> None:
    big = "\n".join([DIFF] + [f"+      line-{i}: {'x' * 80}" for i in range(4000)])
    manifests = [comment.ManifestDiffInput(env, big, changed=1) for env in ("dev", "prod")]
    body = comment.render([plan("dev")], manifests=manifests, limit=30_000)
    assert comment.size(body) <= 30_000
    assert body.count("HTTPRoute/mlops-demo-dev/model-server") == 2, "each diff keeps its head"
    assert "line-3999" in body, "and its tail"
    assert "the whole text is k8s.json in the workflow run's artifacts" in body
    assert "### dev · 🟡 4 to add" in body, "the Terraform section survives"


def test_manifest_diffs_are_masked() -> None:
    masker = Masker(patterns=compile_patterns([r"arn:aws:iam::\d{12}:role/[\w-]+"]))
    diff = DIFF + "\n+    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/prod-reader"
    body = comment.render([], manifests=[comment.ManifestDiffInput("prod", diff, changed=1)],
                          masker=masker)
    assert "123456789012" not in body


def test_duplicate_manifest_envs_are_rejected() -> None:
    with pytest.raises(ValueError, match="appears twice"):
        comment.render([], manifests=[comment.ManifestDiffInput("dev", DIFF)] * 2)
