"""`mlops destroy` with real Terraform and the embedded AWS: killed mid-way, unlocked,
re-run: nothing left, no lock, a destroy record, bootstrap untouched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops import context

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]


def test_a_killed_destroy_is_finished_by_a_rerun(
        bootstrapped: Any, project_env: Any, small_project: Any, run_mlops: Any, cloud: Any,
        tmp_path: Path) -> None:
    hold, started = tmp_path / "hold", tmp_path / "started"
    name = f"destroy-{uuid.uuid4().hex[:10]}"
    root = small_project(tmp_path / "proj", {"dev": {"main.tf": f'''
resource "aws_s3_bucket" "data" {{
  bucket        = "{name}"
  force_destroy = true
}}

resource "terraform_data" "blocker" {{
  provisioner "local-exec" {{
    when    = destroy
    command = "touch {started}; while [ -e {hold} ]; do sleep 0.1; done"
  }}
}}

resource "aws_ssm_parameter" "after" {{
  depends_on = [terraform_data.blocker]
  name       = "/{name}/p"
  type       = "String"
  value      = "v"
}}
'''}})
    env = project_env(root)
    run_mlops(env, "apply", "--env", "dev", "--allow-unreviewed").check(0)
    lock = context.load(env).state_lock("dev")
    hold.touch()
    proc = subprocess.Popen([sys.executable, "-m", "mlops", "destroy", "--env", "dev",
                             "--confirm", "dev"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert started.exists(), "the destroy did not reach the blocking resource"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    left = lock.read()
    assert left is not None, "a killed destroy leaves its lock"
    with pytest.raises(ClientError):  # destroyed before the kill (its dependents first)
        cloud.client("ssm").get_parameter(Name=f"/{name}/p")

    again = run_mlops(env, "destroy", "--env", "dev", "--confirm", "dev", "--lock-timeout", "1s")
    assert again.code == 8 and f"mlops unlock --env dev --lock-id {left.id}" in " ".join(
        again.stderr.split()), again.describe()
    run_mlops(env, "unlock", "--env", "dev", "--lock-id", left.id, "--force").check(0)
    hold.unlink()
    done = run_mlops(env, "destroy", "--env", "dev", "--confirm", "dev").check(0)
    assert "destroyed terraform_data.blocker" in done.stdout, done.stdout
    assert lock.read() is None, "no orphaned lock"
    state = json.loads(cloud.client("s3").get_object(
        Bucket=lock.bucket, Key=lock.state_key)["Body"].read())
    assert state["resources"] == [], f"state after the re-run: {state['resources']}"
    assert name not in [b["Name"] for b in cloud.client("s3").list_buckets()["Buckets"]]
    record = json.loads(cloud.client("s3").get_object(
        Bucket=lock.bucket, Key="deployments/dev/latest.json")["Body"].read())
    assert (record["kind"], record["outcome"]) == ("destroy", "applied"), record
    assert "terraform_data.blocker" in record["destroyed"], record
    nothing = run_mlops(env, "destroy", "--env", "dev", "--confirm", "dev").check(0)
    assert "nothing to destroy" in nothing.stderr
    # bootstrap's state bucket and roles are another state: never part of the destroy.
    cloud.client("s3").head_bucket(Bucket=bootstrapped.state_bucket)
    cloud.client("iam").get_role(RoleName="mlops-demo-dev-apply")
