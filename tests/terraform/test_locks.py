"""State locks with real Terraform and the embedded AWS: a held lock fails within the lock
timeout naming its holder and the exact unlock command; `mlops unlock`'s refusals; two
applies at the same moment; an apply killed with SIGKILL mid-way, unlocked, re-applied."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlops import context
from mlops.core import statelock

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]

SLOW_ROOT = {"main.tf": '''
variable "generation" {
  type = string
}

resource "terraform_data" "slow" {
  input = var.generation

  provisioner "local-exec" {
    command = "sleep 3"
  }
}
''', "terraform.tfvars": 'generation = "a"\n'}


# For two applies at once: changing `generation` replaces the resource, and its creation
# (a provisioner runs only on create) holds the state lock for 8 s, longer than the two
# processes' start-up can drift apart on a loaded machine. (An in-place update would be
# instant: the second run could then start after the first had finished and find nothing
# to do.) The first apply (generation "a") is quick.
SLOW_REPLACE = {"main.tf": '''
variable "generation" {
  type = string
}

resource "terraform_data" "slow" {
  input            = var.generation
  triggers_replace = var.generation

  provisioner "local-exec" {
    command = "${var.generation == "a" ? "true" : "sleep 8"}"
  }
}
''', "terraform.tfvars": 'generation = "a"\n'}


def flat(text: str) -> str:
    return " ".join(text.split())


def spawn(env: dict[str, str], *argv: str) -> subprocess.Popen[str]:
    """The real CLI in its own process group (so a kill takes terraform with it)."""
    return subprocess.Popen([sys.executable, "-m", "mlops", *argv], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def test_a_held_lock_names_its_holder_and_unlock_refuses_until_it_may(
        bootstrapped: Any, project_env: Any, small_project: Any, run_mlops: Any,
        tmp_path: Path) -> None:
    root = small_project(tmp_path / "proj", {"dev": dict(SLOW_ROOT)})
    env = project_env(root)
    lock = context.load(env).state_lock("dev")
    held = lock.acquire("OperationTypeApply", "", who="runner@ci-apply-dev")

    locked = run_mlops(env, "apply", "--env", "dev", "--allow-unreviewed", "--lock-timeout", "2s")
    assert locked.code == 8, f"expected exit 8 (state locked):\n{locked.describe()}"
    message = flat(locked.stderr)
    for wanted in ("locked by another run: runner@ci-apply-dev (OperationTypeApply) since",
                   f"lock id {held.id}", f"mlops unlock --env dev --lock-id {held.id}",
                   "only if nobody is applying".lower()):
        assert wanted in message.replace("Only if", "only if"), (
            f"{wanted!r} missing:\n{locked.stderr}")
    assert lock.read() == held, "a refused apply must leave the other run's lock alone"

    wrong = run_mlops(env, "unlock", "--env", "dev", "--lock-id", "not-" + held.id)
    assert wrong.code == 2 and "is not the current lock" in flat(wrong.stderr), wrong.describe()
    assert "runner@ci-apply-dev" in wrong.stdout, "unlock shows the lock it refuses"
    young = run_mlops(env, "unlock", "--env", "dev", "--lock-id", held.id)
    assert young.code == 2 and "old (younger than 15m)" in flat(young.stderr), young.describe()
    assert f"--lock-id {held.id} --force" in flat(young.stderr), young.describe()
    assert lock.read() == held
    run_mlops(env, "unlock", "--env", "dev", "--lock-id", held.id, "--force").check(0)
    assert lock.read() is None

    # A lock from two hours ago (a run that died long since) needs no --force.
    old = statelock.new_lock(operation="OperationTypeApply", info="", who="gone@runner",
                             version="1.11.4", now=datetime.now(UTC) - timedelta(hours=2),
                             path=f"{lock.bucket}/{lock.state_key}")
    lock.s3.put_object(Bucket=lock.bucket, Key=lock.key, Body=old.to_json().encode())
    run_mlops(env, "unlock", "--env", "dev", "--lock-id", old.id).check(0)
    nothing = run_mlops(env, "unlock", "--env", "dev", "--lock-id", old.id)
    assert nothing.code == 2 and "there is no lock" in nothing.stderr, nothing.describe()
    run_mlops(env, "apply", "--env", "dev", "--allow-unreviewed").check(0)


def test_two_applies_at_the_same_moment_exactly_one_applies(
        bootstrapped: Any, project_env: Any, small_project: Any, run_mlops: Any, cloud: Any,
        tmp_path: Path) -> None:
    root = small_project(tmp_path / "proj", {"dev": dict(SLOW_REPLACE)})
    env = project_env(root)
    run_mlops(env, "apply", "--env", "dev", "--allow-unreviewed").check(0)
    lock = context.load(env).state_lock("dev")
    serial = lock.state_serial()
    (root / "envs" / "dev" / "terraform.tfvars").write_text('generation = "b"\n')
    runs = [spawn(env, "apply", "--env", "dev", "--allow-unreviewed", "--lock-timeout", "1s",
                  "--out", str(tmp_path / f"plan-{i}")) for i in (1, 2)]
    results = [(p.wait(timeout=180), *p.communicate()) for p in runs]
    codes = sorted(code for code, _, _ in results)
    assert codes[0] == 0 and codes[1] in (1, 8), f"exit codes {codes}:\n{results}"
    [(_, _, loser_err)] = [r for r in results if r[0] != 0]
    assert ("mlops unlock --env dev --lock-id" in flat(loser_err)
            or "Saved plan is stale" in flat(loser_err)), (
        f"the apply that lost must fail with the lock message (or Terraform's stale-plan "
        f"refusal after waiting):\n{loser_err}")
    assert lock.state_serial() == (serial or 0) + 1, (
        f"state serial: found {lock.state_serial()}, expected exactly one apply after {serial}")
    assert lock.read() is None, "no lock left behind"
    plan = tmp_path / "after"
    run_mlops(env, "plan", "--env", "dev", "--out", str(plan)).check(0)
    assert "No changes" in (plan / "plan.txt").read_text(), "nothing lost, nothing pending"


def test_an_apply_killed_mid_way_is_unlocked_and_converges(
        bootstrapped: Any, project_env: Any, small_project: Any, run_mlops: Any, cloud: Any,
        tmp_path: Path) -> None:
    hold, started = tmp_path / "hold", tmp_path / "started"
    name = f"killed-{uuid.uuid4().hex[:10]}"
    root = small_project(tmp_path / "proj", {"dev": {"main.tf": f'''
resource "aws_s3_bucket" "first" {{
  bucket        = "{name}"
  force_destroy = true
}}

# Slower than Terraform's 20 s state persist interval: the state is saved mid-apply.
resource "terraform_data" "slow" {{
  depends_on = [aws_s3_bucket.first]
  provisioner "local-exec" {{
    command = "sleep 21"
  }}
}}

resource "terraform_data" "blocked" {{
  depends_on = [terraform_data.slow]
  provisioner "local-exec" {{
    command = "touch {started}; while [ -e {hold} ]; do sleep 0.1; done"
  }}
}}

resource "aws_ssm_parameter" "last" {{
  depends_on = [terraform_data.blocked]
  name       = "/{name}/last"
  type       = "String"
  value      = "done"
}}
'''}})
    env = project_env(root)
    lock = context.load(env).state_lock("dev")
    hold.touch()
    proc = spawn(env, "apply", "--env", "dev", "--allow-unreviewed")
    try:
        deadline = time.monotonic() + 120
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert started.exists(), f"the apply did not get to the blocked resource:\n" \
                                 f"{proc.communicate(timeout=5) if proc.poll() is not None else ''}"
        saved = lock.state_serial()
        assert saved is not None, "Terraform persisted the state mid-apply (20 s interval)"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    left = lock.read()
    assert left is not None and left.operation == "OperationTypeApply", (
        f"a killed apply leaves its lock: found {left}")

    refused = run_mlops(env, "apply", "--env", "dev", "--allow-unreviewed", "--lock-timeout", "1s")
    assert refused.code == 8 and f"--lock-id {left.id}" in flat(refused.stderr), refused.describe()
    run_mlops(env, "unlock", "--env", "dev", "--lock-id", left.id, "--force").check(0)
    hold.unlink()
    run_mlops(env, "apply", "--env", "dev", "--allow-unreviewed").check(0)
    plan = tmp_path / "after"
    run_mlops(env, "plan", "--env", "dev", "--out", str(plan)).check(0)
    assert "No changes" in (plan / "plan.txt").read_text(), (plan / "plan.txt").read_text()
    ssm = cloud.client("ssm").get_parameter(Name=f"/{name}/last")["Parameter"]["Value"]
    assert ssm == "done"
    assert lock.read() is None
    run_mlops(env, "destroy", "--env", "dev", "--confirm", "dev").check(0)
