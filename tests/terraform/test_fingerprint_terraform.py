"""The plan fingerprint with real Terraform on the embedded AWS (the oracle is Terraform's
own plan JSON): re-planning an unchanged env gives one fingerprint every time, also from
another checkout path, after drift the apply ignores, and after the state serial moved;
each kind of change to what would be applied gives a different one."""

from __future__ import annotations

import json
import shutil
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mlops import context
from mlops.commands.plan import init_env
from mlops.core import fingerprint

pytestmark = [pytest.mark.terraform, pytest.mark.cloud, pytest.mark.slow]

REPLANS = 20
# Terraform and the AWS provider are Go programs that spend about a quarter of a plan's CPU
# collecting garbage while they build and decode the provider's schema (most of a re-plan;
# 55 Terraform runs here). A larger GC target cuts that (measured: peak RSS ~570 -> ~615
# MB). Nothing Terraform plans depends on it.
GO_GC = {"GOGC": "400"}
# A small root with what makes re-plans differ or agree: AWS resources that Terraform
# refreshes from the embedded AWS on every plan (an S3 bucket with the many computed
# attributes the provider reads back, the provider's default_tags merged into tags_all,
# ids and ARNs), a sensitive value, a resource whose out-of-band tag is drift the apply
# ignores, unknown values, a count, a replacement and an output. Refreshing them is cheap;
# what a re-plan costs is Terraform loading the AWS provider's schema, once for the plan
# and once for `terraform show -json`.
MAIN = '''
variable "tag" {
  type = string
}

variable "secret" {
  type      = string
  sensitive = true
}

variable "replicas" {
  type = number
}

variable "generation" {
  type = string
}

variable "epoch" {
  type = string
}

variable "label" {
  type = string
}

resource "aws_s3_bucket" "data" {
  bucket        = "%(name)s-data"
  force_destroy = true
  tags          = { team = var.tag }
}

resource "aws_ssm_parameter" "secret" {
  name  = "/%(name)s/secret"
  type  = "SecureString"
  value = var.secret
  tags  = { team = var.tag }
}

resource "aws_iam_policy" "ignored" {
  name = "%(name)s-ignored"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["ssm:GetParameter", "s3:GetObject"]
      Resource = [aws_ssm_parameter.secret.arn, "${aws_s3_bucket.data.arn}/*"]
    }]
  })

  lifecycle {
    ignore_changes = [tags, tags_all]
  }
}

resource "terraform_data" "replica" {
  count = var.replicas
  input = "replica-${count.index}"
}

resource "terraform_data" "model" {
  input            = var.generation
  triggers_replace = [var.epoch]
}

output "label" {
  value = var.label
}
'''
APPLIED = {"tag": "ml", "secret": "s3cret-one", "replicas": 1, "generation": "g1",
           "epoch": "e1", "label": "l1"}
REVIEWED = {"tag": "ml-platform", "secret": "s3cret-two", "replicas": 2, "generation": "g2",
            "epoch": "e1", "label": "l2"}
FLIPS: dict[str, dict[str, Any]] = {
    "an attribute": {"tag": "ml-other"},
    "a count": {"replicas": 3},
    "a replacement": {"epoch": "e2"},
    "an output": {"label": "l3"},
    "a sensitive value": {"secret": "s3cret-three"},
}


def tfvars(root: Path, values: dict[str, Any]) -> None:
    (root / "envs" / "dev" / "terraform.tfvars").write_text(
        "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()))


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str)
                for d in _differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in _differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {json.dumps(a)[:300]} != {json.dumps(b)[:300]}"]


def test_replans_agree_and_every_kind_of_change_flips_the_fingerprint(
        bootstrapped: Any, project_env: Any, small_project: Any, cloud: Any,
        tmp_path: Path) -> None:
    name = f"fp-{uuid.uuid4().hex[:10]}"
    root = small_project(tmp_path / "proj", {"dev": {"main.tf": MAIN % {"name": name}}})
    tfvars(root, APPLIED)
    ctx = context.load(project_env(root) | GO_GC)
    tf = init_env(ctx, "dev")
    tf.run(["apply", "-auto-approve", "-no-color", "-input=false"])
    tfvars(root, REVIEWED)

    # The same root at another path (another checkout), with its own data dir (and
    # .terraform.lock.hcl), on the same state.
    other = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(root, other, ignore=shutil.ignore_patterns(".terraform"))
    other_tf = init_env(context.load(project_env(other) | GO_GC), "dev")

    # Re-plans run back to back; each saved plan's `terraform show -json` runs beside the
    # next plan (it reads only the plan file), so the test waits for one Terraform at a
    # time, not two: each loads the AWS provider's schema, which is most of a re-plan.
    shows = ThreadPoolExecutor(max_workers=1)

    def plan(terraform: Any, n: int) -> Future[dict[str, Any]]:
        out = tmp_path / f"plan-{n}.tfplan"
        code, _ = terraform.plan_with_text(out)
        assert code == 2, "the reviewed change has changes"
        return shows.submit(terraform.show_json, out)

    state = ctx.state_lock("dev")
    serials = {state.state_serial()}
    pending: list[Future[dict[str, Any]]] = []
    iam = cloud.client("iam")
    account = cloud.client("sts").get_caller_identity()["Account"]
    policy_arn = f"arn:aws:iam::{account}:policy/{name}-ignored"
    for n in range(REPLANS):
        if n == 8:  # drift the apply ignores: a tag the root says to ignore
            iam.tag_policy(PolicyArn=policy_arn,
                           Tags=[{"Key": "changed-by", "Value": "console"}])
        if n == 12:  # the state serial moves (a refresh-only apply records the drift)
            # (with the applied inputs: a refresh-only apply also writes root outputs,
            # which would really change what the reviewed apply does)
            tfvars(root, APPLIED)
            tf.run(["apply", "-refresh-only", "-auto-approve", "-no-color", "-input=false"])
            tfvars(root, REVIEWED)
            serials.add(state.state_serial())
        pending.append(plan(other_tf if n % 5 == 4 else tf, n))
    plans = [p.result() for p in pending]
    printed = [fingerprint.fingerprint(p, "dev").digest for p in plans]
    odd = [n for n, d in enumerate(printed) if d != printed[0]]
    assert not odd, (
        f"{REPLANS} re-plans of the unchanged env gave {len(set(printed))} fingerprints; plan "
        f"{odd[0] if odd else ''} differs from plan 0 in:\n"
        + "\n".join(_differences(fingerprint.canonical(plans[0], "dev"),
                                 fingerprint.canonical(plans[odd[0] if odd else 0], "dev"))))
    stamps = {p["timestamp"] for p in plans}
    assert len(stamps) == REPLANS and len(serials) == 2, (
        "the plans must differ where the fingerprint must not look: timestamps "
        f"{len(stamps)}, state serials {serials}")
    drifted = {d["address"] for p in plans[8:12] for d in p.get("resource_drift") or []}
    assert "aws_iam_policy.ignored" in drifted, f"the out-of-band tag is drift: {drifted}"
    changes = {rc["address"]: rc["change"] for rc in plans[0]["resource_changes"]}
    for address in ("aws_s3_bucket.data", "aws_ssm_parameter.secret"):
        assert changes[address]["after"]["tags_all"] == {
            "env": "dev", "owner": "ml-platform", "cost": "tests", "team": "ml-platform"}, (
            f"{address}: the provider's default_tags are merged into what the apply sets")
    kinds = {a for p in plans[:1] for rc in p["resource_changes"]
             for a in ["+".join(rc["change"]["actions"])]}
    assert {"update", "create", "no-op"} <= kinds, f"the reviewed plan's actions: {kinds}"
    document = json.dumps(fingerprint.canonical(plans[0], "dev"))
    assert "s3cret" not in document, "sensitive values are hashed, never in the document"

    flipped: dict[str, Future[dict[str, Any]]] = {}
    for n, (what, change) in enumerate(FLIPS.items()):
        tfvars(root, {**REVIEWED, **change})
        flipped[what] = plan(tf, 100 + n)
    shows.shutdown()
    for what, change in FLIPS.items():
        data = flipped[what].result()
        digest = fingerprint.fingerprint(data, "dev").digest
        assert digest != printed[0], f"changing {what} ({change}) kept the fingerprint"
        if what == "a replacement":
            actions = {rc["address"]: rc["change"]["actions"] for rc in data["resource_changes"]}
            assert actions["terraform_data.model"] == ["delete", "create"], actions
    tf.run(["destroy", "-auto-approve", "-no-color", "-input=false"])
