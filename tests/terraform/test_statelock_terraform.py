"""The state lock adapter against real Terraform and the embedded AWS: a lock mlops holds
is honoured and printed by Terraform itself, and a lock Terraform holds refuses ours."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from mlops import context
from mlops.adapters.statelock import LockError, LockHeld
from mlops.commands.plan import init_env

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]



def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def test_terraform_refuses_to_apply_while_mlops_holds_the_lock(
        bootstrapped: Any, project_env: Any, small_project: Any,
        waiting_root: dict[str, str], tmp_path: Path) -> None:
    root = small_project(tmp_path / "proj", {"dev": waiting_root})
    ctx = context.load(project_env(root))
    lock = ctx.state_lock("dev")
    tf = init_env(ctx, "dev")
    held = lock.acquire("mlops canary promote", "release v7: 10% -> 50%", who="canary@runner-7")
    try:
        refused = tf.run(["apply", "-auto-approve", "-no-color", "-input=false",
                          "-lock-timeout=1s"], check=False)
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0, f"terraform applied under our lock:\n{output}"
        for wanted in ("Error acquiring the state lock", held.id, "mlops canary promote",
                       "canary@runner-7", "release v7: 10% -> 50%"):
            assert wanted in output, f"terraform's lock error should show {wanted!r}:\n{output}"
        assert lock.read() == held, "terraform must leave our lock alone"
    finally:
        lock.release(held.id)
    assert lock.read() is None
    tf.run(["apply", "-auto-approve", "-no-color", "-input=false"])


def test_mlops_cannot_take_the_lock_while_terraform_applies(
        bootstrapped: Any, project_env: Any, small_project: Any,
        waiting_root: dict[str, str], tmp_path: Path) -> None:
    root = small_project(tmp_path / "proj", {"dev": waiting_root})
    ctx = context.load(project_env(root))
    lock = ctx.state_lock("dev")
    tf = init_env(ctx, "dev")
    release = tmp_path / "release"
    proc = subprocess.Popen(
        [tf.binary, f"-chdir={tf.workdir}", "apply", "-auto-approve", "-no-color",
         "-input=false", f"-var=release_file={release}"],
        env=dict(tf.env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: lock.read() is not None or proc.poll() is not None, 90,
                  "terraform to take the lock")
        assert proc.poll() is None, f"terraform exited early:\n{proc.communicate()[0]}"
        with pytest.raises(LockHeld) as refused:
            lock.acquire("mlops canary promote", "release v8")
        holder = refused.value.lock
        assert holder.operation == "OperationTypeApply" and "@" in holder.who, holder
        assert holder.path == f"{bootstrapped.state_bucket}/{lock.state_key}", holder.path
        message = refused.value.render()
        assert f"mlops unlock --env dev --lock-id {holder.id}" in message, message
        with pytest.raises(LockError, match="not"):
            lock.release("not-the-holders-id")
        assert lock.read() == holder, "a release with the wrong id must not delete the lock"
    finally:
        release.touch()
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert lock.read() is None, "terraform released its lock"
    with lock.held("mlops unlock check") as mine:
        assert lock.read() == mine
    assert lock.read() is None
