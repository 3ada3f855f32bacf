"""The plan fingerprint with real Terraform on the embedded AWS (the oracle is Terraform's
own plan JSON): re-planning an unchanged env gives one fingerprint every time, also from
another checkout path, after drift the apply ignores, and after the state serial moved;
each kind of change to what would be applied gives a different one."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from mlops import context
from mlops.commands.plan import init_env
from mlops.core import fingerprint

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]

REPLANS = 20
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

resource "aws_s3_bucket" "ignored" {
  bucket        = "%(name)s-ignored"
  force_destroy = true

  lifecycle {
    ignore_changes = [tags, tags_all]
  }
}

resource "aws_ssm_parameter" "secret" {
  name  = "/%(name)s/secret"
  type  = "SecureString"
  value = var.secret
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
FLIPS = {
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
    ctx = context.load(project_env(root))
    tf = init_env(ctx, "dev")
    tf.run(["apply", "-auto-approve", "-no-color", "-input=false"])
    tfvars(root, REVIEWED)

    # The same root at another path (another checkout), with its own data dir and state key.
    other = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(root, other, ignore=shutil.ignore_patterns(".terraform"))
    other_tf = init_env(context.load(project_env(other)), "dev")

    def plan(terraform: Any, n: int) -> tuple[str, dict[str, Any]]:
        out = tmp_path / f"plan-{n}.tfplan"
        code, _ = terraform.plan_with_text(out)
        assert code == 2, "the reviewed change has changes"
        data = terraform.show_json(out)
        return fingerprint.fingerprint(data, "dev").digest, data

    state = ctx.state_lock("dev")
    serials = {state.state_serial()}
    printed: list[str] = []
    plans: list[dict[str, Any]] = []
    s3 = cloud.client("s3")
    for n in range(REPLANS):
        if n == 8:  # drift the apply ignores: a tag the root says to ignore
            s3.put_bucket_tagging(Bucket=f"{name}-ignored", Tagging={
                "TagSet": [{"Key": "changed-by", "Value": "console"}]})
        if n == 12:  # the state serial moves (a refresh-only apply records the drift)
            # (with the applied inputs: a refresh-only apply also writes root outputs,
            # which would really change what the reviewed apply does)
            tfvars(root, APPLIED)
            tf.run(["apply", "-refresh-only", "-auto-approve", "-no-color", "-input=false"])
            tfvars(root, REVIEWED)
            serials.add(state.state_serial())
        digest, data = plan(other_tf if n % 5 == 4 else tf, n)
        printed.append(digest)
        plans.append(data)
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
    assert any(p.get("resource_drift") for p in plans[8:]), "the out-of-band tag is drift"
    kinds = {a for p in plans[:1] for rc in p["resource_changes"]
             for a in ["+".join(rc["change"]["actions"])]}
    assert {"update", "create", "no-op"} <= kinds, f"the reviewed plan's actions: {kinds}"
    document = json.dumps(fingerprint.canonical(plans[0], "dev"))
    assert "s3cret" not in document, "sensitive values are hashed, never in the document"

    for what, change in FLIPS.items():
        tfvars(root, {**REVIEWED, **change})
        digest, data = plan(tf, 100 + len(what))
        assert digest != printed[0], f"changing {what} ({change}) kept the fingerprint"
        if what == "a replacement":
            actions = {rc["address"]: rc["change"]["actions"] for rc in data["resource_changes"]}
            assert actions["terraform_data.model"] == ["delete", "create"], actions
    tf.run(["destroy", "-auto-approve", "-no-color", "-input=false"])
