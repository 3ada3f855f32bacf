"""A corpus of real plans, and the summary checked against Terraform's own rendering of them.

Each case is a small configuration that real Terraform applies (local state), then plans
again after a change: in the configuration, in a variable, or behind Terraform's back in
the embedded AWS (boto3 changes a bucket's tag, deletes a bucket). The oracle is
`terraform show` (text) of the same saved plan: `core.plansummary` must list the resources,
drift and outputs that Terraform lists, count what its "Plan:" line counts, and show
`(known after apply)` and `(sensitive value)` where it does.

Most cases use the built-in `terraform_data` (no provider: fast); the drift cases need a
real remote object, so they use `aws_s3_bucket` in the worker's embedded AWS. The corpus is
made once per session, two cases at a time.

MLOPS_WRITE_PLAN_FIXTURES=1 also writes the plans of FIXTURE_CASES to tests/fixtures/plans/
(plan.json and plan.txt), for the unit tests that run without Terraform.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlops.core import masking, plansummary
from mlops.core.masking import MASK, Masker

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "plans"
FIXTURE_CASES = ("drift", "refresh_only", "partly_unknown")
SECRET = "h1-pl4nted-S3CRET-value-9f2c"  # planted: must never be shown in clear

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]


@dataclass(frozen=True)
class Case:
    """`before` is applied first (None: nothing is); `after` is then planned with
    `plan_args`. `mode` is how the plan is made (plansummary.MODES)."""

    before: dict[str, str] | None
    after: dict[str, str]
    plan_args: tuple[str, ...] = ()
    mode: str = "normal"


def data(name: str, value: str = "v1", extra: str = "") -> str:
    return f'resource "terraform_data" "{name}" {{\n  input = "{value}"\n{extra}}}\n'


CASES: dict[str, Case] = {
    "noop": Case({"main.tf": data("a")}, {"main.tf": data("a")}),
    "partly_unknown": Case(None, {"main.tf": data("a") + """
output "known" {
  value = "fixed"
}
output "whole_unknown" {
  value = terraform_data.a.id
}
output "object" {
  value = { name = "model", id = terraform_data.a.id, tags = { team = "ml" } }
}
output "list" {
  value = ["first", terraform_data.a.id]
}
"""}),
    "outputs_only": Case({"main.tf": data("a") + 'output "v" {\n  value = "one"\n}\n'},
                         {"main.tf": data("a") + 'output "v" {\n  value = "two"\n}\n'}),
    "moved": Case({"main.tf": data("old")}, {"main.tf": data("new") + """
moved {
  from = terraform_data.old
  to   = terraform_data.new
}
"""}),
    "moved_update": Case({"main.tf": data("old")}, {"main.tf": data("new", "v2") + """
moved {
  from = terraform_data.old
  to   = terraform_data.new
}
"""}),
    "import": Case(None, {"main.tf": data("imported") + """
import {
  to = terraform_data.imported
  id = "existing-id"
}
"""}),
    "replace_triggered_by": Case(
        {"main.tf": data("trigger", "v1") + data("model", "m", extra=(
            "  lifecycle {\n    replace_triggered_by = [terraform_data.trigger]\n  }\n"))},
        {"main.tf": data("trigger", "v2") + data("model", "m", extra=(
            "  lifecycle {\n    replace_triggered_by = [terraform_data.trigger]\n  }\n"))}),
    "replace_requested": Case({"main.tf": data("a")}, {"main.tf": data("a")},
                              ("-replace=terraform_data.a",)),
    "destroy": Case({"main.tf": data("a") + data("b") + 'output "o" {\n  value = "x"\n}\n'},
                    {"main.tf": data("a") + data("b") + 'output "o" {\n  value = "x"\n}\n'},
                    ("-destroy",), "destroy"),
    "forget": Case({"main.tf": data("kept")}, {"main.tf": """
removed {
  from = terraform_data.kept
  lifecycle {
    destroy = false
  }
}
"""}),
    "targeted": Case(None, {"main.tf": data("a") + data("b")}, ("-target=terraform_data.a",)),
    "sensitive_nested": Case(
        {"main.tf": "", "secret.auto.tfvars": f'password = "{SECRET}-old"\n'},
        {"main.tf": "", "secret.auto.tfvars": f'password = "{SECRET}"\n'}),
}
SENSITIVE_TF = """
variable "password" {
  type      = string
  sensitive = true
}
resource "terraform_data" "db" {
  input = { user = "ml", password = var.password }
}
output "connection" {
  value     = { user = terraform_data.db.output.user, password = var.password }
  sensitive = true
}
output "user" {
  value = terraform_data.db.input.user
}
"""
for _files in (CASES["sensitive_nested"].before, CASES["sensitive_nested"].after):
    assert _files is not None
    _files["main.tf"] = SENSITIVE_TF

AWS_TF = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}
provider "aws" {
  region            = "us-east-1"
  s3_use_path_style = true
}
# Read by terraform_data.reader, which changes because the tag changed: relevant drift.
resource "aws_s3_bucket" "read" {
  bucket = "%(prefix)s-read"
  tags   = { team = "ml" }
  lifecycle {
    ignore_changes = [tags]
  }
}
resource "terraform_data" "reader" {
  input = aws_s3_bucket.read.tags["team"]
}
# Its tag is put back by the plan, but nothing reads it: Terraform does not show the drift.
resource "aws_s3_bucket" "restored" {
  bucket = "%(prefix)s-restored"
  tags   = { team = "ml" }
}
# Deleted outside: re-created; nothing reads it: not shown either.
resource "aws_s3_bucket" "deleted" {
  bucket = "%(prefix)s-deleted"
}
"""


@dataclass
class Plan:
    name: str
    mode: str
    json: dict[str, Any]
    text: str  # `terraform show -no-color PLANFILE`


@dataclass
class Workdir:
    path: Path
    env: dict[str, str]
    log: list[str] = field(default_factory=list)

    def tf(self, *args: str) -> str:
        proc = subprocess.run(["terraform", f"-chdir={self.path}", *args], env=self.env,
                              capture_output=True, text=True, check=False)
        self.log.append(f"$ terraform {' '.join(args)}\n{proc.stdout}{proc.stderr}")
        assert proc.returncode in (0, 2), (
            f"terraform {' '.join(args)} failed in {self.path}:\n{proc.stdout}{proc.stderr}")
        return proc.stdout

    def write(self, files: dict[str, str]) -> None:
        for old in self.path.glob("*.tf*"):
            if old.name != ".terraform.lock.hcl" and not old.name.startswith("terraform.tfstate"):
                old.unlink()
        for name, text in files.items():
            (self.path / name).write_text(text)

    def plan(self, name: str, mode: str, *args: str) -> Plan:
        planfile = f"{name}.tfplan"
        self.tf("plan", "-no-color", "-input=false", f"-out={planfile}", *args)
        return Plan(name, mode, json.loads(self.tf("show", "-json", planfile)),
                    self.tf("show", "-no-color", planfile))


def _data_case(base: Path, env: dict[str, str], name: str, case: Case) -> Plan:
    work = Workdir(base / name, env)
    work.path.mkdir()
    if case.before is not None:
        work.write(case.before)
        work.tf("init", "-no-color", "-input=false")
        work.tf("apply", "-no-color", "-input=false", "-auto-approve")
    work.write(case.after)
    work.tf("init", "-no-color", "-input=false")
    return work.plan(name, case.mode, *case.plan_args)


def _aws_cases(base: Path, env: dict[str, str], cloud: Any) -> list[Plan]:
    """One applied root, changed behind Terraform's back, planned normally and refresh-only."""
    work = Workdir(base / "aws", env)
    work.path.mkdir()
    prefix = f"corpus-{uuid.uuid4().hex[:8]}"
    work.write({"main.tf": AWS_TF % {"prefix": prefix}})
    shutil.copy(ROOT / "envs" / "dev" / ".terraform.lock.hcl", work.path)
    work.tf("init", "-no-color", "-input=false")
    work.tf("apply", "-no-color", "-input=false", "-auto-approve")
    s3 = cloud.client("s3")
    for bucket in (f"{prefix}-read", f"{prefix}-restored"):
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team",
                                                                  "Value": "infra"}]})
    s3.delete_bucket(Bucket=f"{prefix}-deleted")
    return [work.plan("drift", "normal"),
            work.plan("refresh_only", "refresh-only", "-refresh-only")]


@pytest.fixture(scope="session")
def corpus(cloud: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Plan]:
    if not cloud.terraform_ready:
        pytest.fail("terraform is not usable (see `mlops toolchain`)")
    base = tmp_path_factory.mktemp("corpus")
    env = {k: v for k, v in cloud.env.items() if k != "TF_LOG"}
    env["TF_IN_AUTOMATION"] = "1"
    with ThreadPoolExecutor(max_workers=2) as pool:
        aws = pool.submit(_aws_cases, base, env, cloud)
        plans = list(pool.map(lambda item: _data_case(base, env, *item), CASES.items()))
        plans += aws.result()
    found = {p.name: p for p in plans}
    if os.environ.get("MLOPS_WRITE_PLAN_FIXTURES") == "1":
        for name in FIXTURE_CASES:
            out = FIXTURES / name
            out.mkdir(parents=True, exist_ok=True)
            (out / "plan.json").write_text(json.dumps(found[name].json, indent=2) + "\n")
            (out / "plan.txt").write_text(found[name].text)
    return found


# ---------------------------------------------------------------- the oracle: terraform show


@dataclass
class Shown:
    """What `terraform show` says about a plan."""

    changes: set[str]  # addresses under "Terraform will perform the following actions"
    drift: set[str]  # addresses under "Objects have changed outside of Terraform"
    outputs: dict[str, str]  # output name -> its rendered line(s)
    counts: dict[str, int]  # the "Plan:" line: import/add/change/destroy (+ invoke)
    no_changes: bool  # "No changes." (an outputs-only plan has neither this nor "Plan:")


_HEADER = re.compile(r"^ {1,2}# (?!\()(?P<rest>.+)$")
_VERB = re.compile(r"^(?P<addr>.+?)(?: \(deposed object \w+\))? (?:will be|will no longer|must be"
                   r"|is tainted|has changed|has been deleted)\b")


def _address(rest: str) -> str:
    moved = re.match(r"^.+? has moved to (.+)$", rest)
    if moved:
        return moved.group(1)
    match = _VERB.match(rest)
    assert match, f"unrecognised resource header in terraform show: {rest!r}"
    return match.group("addr")


def shown(text: str) -> Shown:
    lines = text.splitlines()
    section = ""
    out = Shown(set(), set(), {}, {}, False)
    current_output = ""
    for line in lines:
        if line.startswith("Note: Objects have changed outside of Terraform"):
            section = "drift"
        elif line.startswith(("Unless you have made equivalent changes",
                              "This is a refresh-only plan")):
            section = ""
        elif line.startswith("Terraform will perform the following actions"):
            section = "changes"
        elif line.startswith("Plan: "):
            section = ""
            out.counts = {word: int(n) for n, word in re.findall(r"(\d+) to (\w+)", line)}
        elif line.startswith("Changes to Outputs:"):
            section = "outputs"
        elif line.startswith("No changes."):
            out.no_changes = True
        elif section in ("drift", "changes") and (header := _HEADER.match(line)):
            (out.drift if section == "drift" else out.changes).add(_address(header["rest"]))
        elif section == "outputs":
            head = re.match(r"^  [-+~] (\S+)\s+= (.*)$", line)
            if head:
                current_output = head.group(1)
                out.outputs[current_output] = head.group(2)
            elif line.startswith("    ") and current_output:
                out.outputs[current_output] += "\n" + line
            elif line.strip() and not line.startswith(" "):
                section = ""
    return out


def _base(address: str) -> str:
    return re.sub(r" \(deposed \w+\)$", "", address)


# ---------------------------------------------------------------- the checks

ALL = [*CASES, "drift", "refresh_only"]


@pytest.mark.parametrize("name", ALL)
def test_summary_lists_what_terraform_shows(corpus: dict[str, Plan], name: str) -> None:
    plan = corpus[name]
    summary = plansummary.summarize(plan.json, "dev", mode=plan.mode)
    oracle = shown(plan.text)
    where = f"case {name}: terraform show says\n{plan.text}\n---"
    assert {_base(r.address) for r in summary.resources} == oracle.changes, (
        f"{where} resources: summary {sorted(r.address for r in summary.resources)}")
    assert {d.address for d in summary.drift} == oracle.drift, (
        f"{where} drift: summary {summary.drift}")
    assert {o.name for o in summary.outputs} == set(oracle.outputs), (
        f"{where} outputs: summary {summary.outputs}")
    imp, add, change, destroy = summary.counts.terraform_line()
    expected = {k: v for k, v in (("import", imp), ("add", add), ("change", change),
                                  ("destroy", destroy), ("invoke", summary.counts.actions))
                if v or k in ("add", "change", "destroy")}
    if oracle.counts:
        assert oracle.counts == expected, f"{where} counts: summary {summary.counts}"
    else:
        assert expected == {"add": 0, "change": 0, "destroy": 0}, f"{where} {summary.counts}"
    if plan.mode != "refresh-only":
        assert summary.has_changes == (not oracle.no_changes), f"{where} {summary.counts}"
    else:
        assert summary.has_changes == bool(oracle.drift), f"{where} {summary.counts}"


@pytest.mark.parametrize("name", ALL)
def test_output_values_are_unknown_and_sensitive_where_terraform_says(
        corpus: dict[str, Plan], name: str) -> None:
    plan = corpus[name]
    summary = plansummary.summarize(plan.json, "dev", mode=plan.mode)
    oracle = shown(plan.text)
    for row in summary.outputs:
        text = oracle.outputs[row.name]
        after = row.after or ""
        assert ("(known after apply)" in after) == ("(known after apply)" in text), (
            f"case {name}, output {row.name}: summary {after!r}, terraform show {text!r}")
        assert (after == MASK) == ("(sensitive value)" in text), (
            f"case {name}, output {row.name}: summary {after!r}, terraform show {text!r}")
        for leaf in re.findall(r'"([^"]*)"', after):
            if leaf not in (MASK, "(known after apply)") and not leaf.endswith("…"):
                assert leaf in text, f"case {name}, output {row.name}: {leaf!r} not in {text!r}"


def test_drift_terraform_hides_is_not_counted(corpus: dict[str, Plan]) -> None:
    """The tag of a bucket nothing reads was put back by the plan, a bucket was deleted and
    is re-created: Terraform shows neither as drift, only the one whose tag is read."""
    summary = plansummary.summarize(corpus["drift"].json, "dev", mode="normal")
    assert [d.address for d in summary.drift] == ["aws_s3_bucket.read"]
    rows = {r.address: r.action for r in summary.resources}
    assert rows == {"aws_s3_bucket.deleted": "create", "aws_s3_bucket.restored": "update",
                    "terraform_data.reader": "update"}
    assert "relevant_attributes" in corpus["drift"].json


def test_refresh_only_plan_shows_all_drift_and_is_recognised(corpus: dict[str, Plan]) -> None:
    plan = corpus["refresh_only"].json
    assert plansummary.infer_mode(plan) == "refresh-only"
    assert plansummary.infer_mode(corpus["drift"].json) == "normal"
    summary = plansummary.summarize(plan, "dev")
    assert {(d.address, d.action) for d in summary.drift} == {
        ("aws_s3_bucket.read", "update"), ("aws_s3_bucket.restored", "update"),
        ("aws_s3_bucket.deleted", "delete")}
    assert summary.counts.resource_changes == 0 and summary.has_changes


def test_partly_unknown_outputs_say_known_after_apply(corpus: dict[str, Plan]) -> None:
    outputs = {o.name: o.after for o in
               plansummary.summarize(corpus["partly_unknown"].json, "dev").outputs}
    assert outputs["whole_unknown"] == "(known after apply)"
    assert outputs["object"] == ('{"id": (known after apply), "name": "model", '
                                 '"tags": {"team": "ml"}}')
    assert outputs["list"] == '["first", (known after apply)]'
    assert outputs["known"] == "fixed"


def test_targeted_plan_is_incomplete(corpus: dict[str, Plan]) -> None:
    summary = plansummary.summarize(corpus["targeted"].json, "dev")
    assert corpus["targeted"].json["complete"] is False
    assert summary.incomplete and summary.complete is False
    assert not plansummary.summarize(corpus["noop"].json, "dev").incomplete


def test_no_op_plan_is_not_applyable_and_says_no_changes(corpus: dict[str, Plan]) -> None:
    summary = plansummary.summarize(corpus["noop"].json, "dev")
    assert summary.applyable is False and not summary.has_changes
    assert not summary.not_applyable  # "no changes" is not a problem to flag


def test_planted_secret_is_never_in_the_summary(corpus: dict[str, Plan]) -> None:
    plan = corpus["sensitive_nested"]
    assert SECRET in json.dumps(plan.json), "the plan JSON holds it: the test is meaningful"
    found = masking.sensitive_strings(plan.json)
    assert SECRET in found and f"{SECRET}-old" in found
    summary = plansummary.summarize(plan.json, "dev", masker=Masker(literals=found))
    assert SECRET not in json.dumps(summary.to_dict())
    assert {o.name: o.after for o in summary.outputs}.get("connection") == MASK


def _kinds(rows: Iterator[Any] | list[Any], attr: str) -> set[str]:
    return {getattr(r, attr) for r in rows}


SPECIFIC: dict[str, Callable[[plansummary.PlanSummary], bool]] = {
    "moved": lambda s: _kinds(s.resources, "label") == {"move"},
    "moved_update": lambda s: _kinds(s.resources, "label") == {"move + update"},
    "import": lambda s: s.counts.import_ == 1,
    "replace_triggered_by": lambda s: [(r.address, r.action, r.reason) for r in s.resources] == [
        ("terraform_data.model", "replace", "replace_by_triggers"),
        ("terraform_data.trigger", "update", None)],
    "replace_requested": lambda s: [r.reason for r in s.resources] == ["replace_by_request"],
    "destroy": lambda s: s.mode == "destroy" and s.counts.destroy == 2,
    "forget": lambda s: s.counts.forget == 1 and not s.destroys,
    "outputs_only": lambda s: s.counts.resource_changes == 0 and s.has_changes,
}


@pytest.mark.parametrize("name", sorted(SPECIFIC))
def test_case_specifics(corpus: dict[str, Plan], name: str) -> None:
    summary = plansummary.summarize(corpus[name].json, "dev", mode=corpus[name].mode)
    assert SPECIFIC[name](summary), f"case {name}: {summary}"
