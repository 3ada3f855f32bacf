"""What `mlops canary` and `mlops endpoint rollback` refuse, and how they say it: while a
real `terraform apply` holds the env's state lock (the converse of the flow test, where
Terraform is refused while a promotion holds it), on an env that serves nothing, and on bad
input. Small roots of their own: no served env needed."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from mlops import context
from mlops.commands.plan import init_env

pytestmark = [pytest.mark.terraform, pytest.mark.cloud]

NOTHING_SERVED = {"main.tf": 'output "endpoint" {\n  value = null\n}\n'}


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_promote_abort_and_rollback_are_refused_while_terraform_applies(
        bootstrapped: Any, project_env: Any, small_project: Any,
        waiting_root: dict[str, str], run_mlops: Any, tmp_path: Path) -> None:
    root = small_project(tmp_path / "proj", {"dev": waiting_root})
    env = project_env(root)
    ctx = context.load(env)
    lock = ctx.state_lock("dev")
    tf = init_env(ctx, "dev")
    release = tmp_path / "release"
    proc = subprocess.Popen(
        [tf.binary, f"-chdir={tf.workdir}", "apply", "-auto-approve", "-no-color",
         "-input=false", f"-var=release_file={release}"],
        env=dict(tf.env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while lock.read() is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        holder = lock.read()
        assert holder is not None, f"terraform did not take the lock:\n{proc.poll()}"
        for argv in (["canary", "promote", "--env", "dev"], ["canary", "abort", "--env", "dev"],
                     ["endpoint", "rollback", "--env", "dev", "--payload", __file__]):
            ran = run_mlops(env, *argv)
            message = _flat(ran.stderr)
            assert ran.code == 8, f"expected exit 8 (locked):\n{ran.describe()}"
            for wanted in ("locked by", "(OperationTypeApply)", holder.id,
                           f"mlops unlock --env dev --lock-id {holder.id}"):
                assert wanted in message, f"`mlops {' '.join(argv)}`: {wanted!r} not in:\n" \
                                          f"{ran.stderr}"
            assert lock.read() == holder, "a refused command must leave Terraform's lock alone"
    finally:
        release.touch()
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert lock.read() is None


def test_an_env_that_serves_nothing_is_refused_clearly(
        bootstrapped: Any, project_env: Any, small_project: Any, run_mlops: Any,
        tmp_path: Path) -> None:
    root = small_project(tmp_path / "proj", {"dev": NOTHING_SERVED})
    env = project_env(root)
    run_mlops(env, "apply", "--env", "dev", "--allow-unreviewed").check(0)
    for argv in (["canary", "promote", "--env", "dev"], ["canary", "abort", "--env", "dev"],
                 ["endpoint", "rollback", "--env", "dev", "--payload", __file__]):
        ran = run_mlops(env, *argv)
        assert ran.code == 2, f"expected exit 2:\n{ran.describe()}"
        message = _flat(ran.stderr)
        assert "error: env dev serves no endpoint" in message and "mlops release" in message, (
            f"`mlops {' '.join(argv)}`:\n{ran.stderr}")
        assert "Traceback" not in ran.stderr
    ctx = context.load(env)
    assert ctx.state_lock("dev").read() is None, "every refusal releases the lock it took"


@pytest.mark.parametrize(("argv", "message"), [
    (["canary", "promote", "--env", "dev", "--steps", "10,50"], "is not a promotion"),
    (["canary", "promote", "--env", "dev", "--steps", "50,25,100"], "is not a promotion"),
    (["canary", "promote", "--env", "dev", "--poll", "0"], "--poll 0 is too small"),
    (["canary", "promote", "--env", "qa"], "unknown env 'qa'"),
    (["canary", "abort", "--env", "qa"], "unknown env 'qa'"),
    (["endpoint", "rollback", "--env", "qa", "--payload", __file__], "unknown env 'qa'"),
    (["release", "--env", "dev", "--model", "s3://b/model.tar.gz"],
     "is not a pushed model artifact"),
    (["release", "--env", "dev", "--canary-weight", "100", "--model",
      f"s3://mlops-demo-dev-artifacts/models/{'a' * 64}/model.tar.gz"], "out of range"),
], ids=["steps-not-ending-at-100", "steps-decreasing", "poll-zero", "promote-unknown-env",
        "abort-unknown-env", "rollback-unknown-env", "release-bad-uri", "release-weight-100"])
def test_bad_input_fails_with_a_clear_message(argv: list[str], message: str, run_mlops: Any,
                                              project_env: Any, small_project: Any,
                                              tmp_path: Path) -> None:
    root = small_project(tmp_path / "proj", {"dev": NOTHING_SERVED})
    tfvars = root / "envs" / "dev" / "terraform.tfvars"
    tfvars.write_text('serving = {\n  enabled = true\n  releases = {\n    v1 = {\n      stable = {'
                      ' image = "i", model_data_url = "s3://mlops-demo-dev-artifacts/models/'
                      + "b" * 64 + '/model.tar.gz" }\n    }\n  }\n  active_release = "v1"\n}\n')
    ran = run_mlops(project_env(root), *argv)
    assert ran.code == 2, f"expected exit 2:\n{ran.describe()}"
    assert message in _flat(ran.stderr), f"expected {message!r}:\n{ran.stderr}"
    assert "Traceback" not in ran.stderr and not ran.stdout.strip(), ran.describe()
