"""`mlops demo`, end to end, as a newcomer runs it (`make demo`): a story of under 60 lines,
every step's full log on disk, a summary table, and nothing left running. The story: the
plan and the PR comment; issue 8's apply on merge (OIDC, guarded applies, a refused change,
a rollback, a guarded destroy); drift; issue 9's model release (canaries, an automatic
rollback, an endpoint rollback); the reaper; serving; the Kubernetes check."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlops.localcloud import control

ROOT = Path(__file__).resolve().parents[2]
MLOPS = str(Path(sys.executable).parent / "mlops")
MAX_LINES = 60
STEPS = 21

pytestmark = [pytest.mark.terraform, pytest.mark.cloud, pytest.mark.slow]


def test_the_demo_reads_as_a_story(cloud: Any, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {k: v for k, v in cloud.env.items()
           if not k.startswith(("AWS_", "TF_CLI_CONFIG", "TF_LOG"))}
    env.update({"MLOPS_ROOT": str(ROOT), "MLOPS_STATE_DIR": str(state),
                # the worker's provider cache: the demo need not copy the AWS provider again
                "TF_PLUGIN_CACHE_DIR": str(Path(cloud.env["MLOPS_STATE_DIR"]) /
                                           "plugin-cache")})
    proc = subprocess.run([MLOPS, "demo"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, check=False, timeout=900)
    shown = proc.stdout + proc.stderr
    lines = shown.splitlines()
    assert proc.returncode == 0, f"the demo failed:\n{shown}"
    assert len(lines) < MAX_LINES, f"{len(lines)} lines, not a story:\n{shown}"

    steps = [line for line in lines if re.match(r"^ ?\d+\. ", line)]
    assert len(steps) == STEPS and all(re.search(r" ok +\d", s) for s in steps), shown
    for wanted in ("to add",  # the plan's counts
                   "passed: no violations",  # the policy verdict
                   "## 📋 Terraform plan · `dev`", "**Total:**",  # the PR comment's head
                   "assumed mlops-demo-dev-apply/",  # OIDC, from a push to main
                   "from a pull request: AccessDenied",  # ... and refused to a PR
                   "is the plan reviewed on PR #1",  # the guarded apply's verdict
                   "Apply complete! Resources:",  # what was applied
                   "re-plan: no changes (zero drift)",  # zero drift
                   "(PR #2)",  # a second reviewed change, applied
                   "tagged with boto3: mlops drift exits 2",  # drift made behind Terraform's back
                   "`mlops release` opened PR #5",  # the first release, through the same Git
                   "promoted 10% -> 50% -> 100%",  # v2's canary, under traffic
                   "in ALARM at step 1",  # v3's 5xx alarm, from real metrics
                   "100% on stable again",  # ... and its automatic rollback
                   "UpdateEndpoint: release",  # the config swap
                   "dev's endpoint deleted",  # the reaper
                   "exit 3: the plan changed since its review on PR #3",  # refused
                   "'Not applied at merge' notice",  # ... and said so on the PR
                   "rolling back to", "revert pull request:",  # the rollback, Git realigned
                   "refused without --confirm ENV, and for prod",  # the guarded destroy
                   "/invocations -> [",  # a prediction on the SageMaker route
                   "/v2/models/churn/infer -> [",  # the same row on the OIP v2 route
                   "passed: dev, staging, prod",  # mlops k8s check on every overlay
                   "destroyed"):
        assert wanted in shown, f"{wanted!r} missing from the demo's output:\n{shown}"
    destroyed = re.search(r"destroyed (\d+) resources", shown)
    added = re.search(r"(\d+) to add", shown)
    # The releases add the endpoint, its models, configs and alarms: all destroyed too.
    assert destroyed and added and int(destroyed.group(1)) > int(added.group(1)), shown

    table = lines[lines.index(next(line for line in lines if line.split()[:3] ==
                                   ["step", "(its", "log)"])):]
    assert table[-1].startswith("  total: all ok, "), shown
    logs = sorted((state / "demo").glob("*.log"))
    assert len(logs) == STEPS, logs
    for log in logs:
        assert log.name in shown, f"the log {log.name} is never named in the output"
    plan_log = next(p for p in logs if p.name.startswith("03-")).read_text()
    too_long = [line for line in lines if len(line) > 120]
    assert not too_long, f"lines a terminal cannot show: {too_long}"
    assert "Terraform will perform the following actions" in plan_log, plan_log[:2000]
    applied = next(p for p in logs if p.name.startswith("07-")).read_text()
    assert "Apply complete!" in applied and "$ mlops apply --env dev --commit" in applied
    assert (state / "demo" / "comment.md").read_text().startswith("<!-- mlops:plan-comment")

    server = control.read_state(control.CloudPaths(state / "demo-cloud"))
    assert server is None or not control.pid_alive(server.pid), "the demo's cloud still runs"
    assert not [p for p in os.listdir(tmp_path) if p not in ("state",)], (
        "the demo wrote outside its state dir")
