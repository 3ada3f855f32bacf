"""The state backend is checked lazily (context.Context.init_backend): the happy path of a
plan makes no AWS call of mlops' own, and a failure still says exactly why.

(test_envs_apply.py::test_missing_state_bucket_says_to_apply_bootstrap_first covers a
bucket that was never created.)
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from mlops import context
from mlops.localcloud import control

ROOT = Path(__file__).resolve().parents[2]
ONE_ROOT = {"dev": {"main.tf": 'resource "terraform_data" "marker" {\n  input = "x"\n}\n'}}


def _ctx(tmp_path: Path, endpoint: str) -> context.Context:
    shutil.copy(ROOT / "mlops.yaml", tmp_path / "mlops.yaml")
    for root in (ROOT / "envs").iterdir():  # every env mlops.yaml lists has its root
        if root.is_dir():
            (tmp_path / "envs" / root.name).mkdir(parents=True)
    env = {"MLOPS_ROOT": str(tmp_path), "MLOPS_STATE_DIR": str(tmp_path / "state"),
           "PATH": "/usr/local/bin:/usr/bin:/bin", "AWS_ENDPOINT_URL": endpoint,
           "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY000001", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}
    return context.load(env)


@pytest.mark.terraform  # context.load checks `terraform version`
def test_a_known_account_needs_no_aws_call(tmp_path: Path) -> None:
    """Nothing listens at the endpoint: asking it anything would fail."""
    ctx = _ctx(tmp_path, f"http://127.0.0.1:{control.free_port()}")
    key = ctx._identity_key()
    assert key is not None
    (tmp_path / "state" / context.ACCOUNT_CACHE).write_text(json.dumps({key: "111122223333"}))
    assert ctx.backend_config("dev")["bucket"] == "mlops-demo-tfstate-111122223333"
    # Web identity credentials (OIDC): the role ARN names the account.
    web = {k: v for k, v in ctx.env.items() if not k.startswith("AWS_ACCESS_KEY")}
    role = context.Context(ctx.settings, ctx.config, {
        **web, "AWS_ROLE_ARN": "arn:aws:iam::444455556666:role/plan",
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "token")})
    assert role.state_bucket("dev") == "mlops-demo-tfstate-444455556666"
    # With an access key set too, the key's credentials are the ones in use (cached above).
    both = context.Context(ctx.settings, ctx.config, {
        **ctx.env, "AWS_ROLE_ARN": "arn:aws:iam::444455556666:role/plan",
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "token")})
    assert both.state_bucket("dev") == "mlops-demo-tfstate-111122223333"
    cache = (tmp_path / "state" / context.ACCOUNT_CACHE).read_text()
    assert "AKIAEXAMPLEKEY000001" not in cache, "the cache is keyed by a hash"


@pytest.mark.terraform
@pytest.mark.cloud
def test_a_stale_cached_account_is_corrected(
        small_project: Any, project_env: Any, run_mlops: Any, tmp_path: Path,
        bootstrapped: Any, cloud: Any) -> None:
    env = project_env(small_project(tmp_path / "proj", ONE_ROOT))
    ctx = context.load(env)
    key = ctx._identity_key()
    assert key is not None
    cache = Path(env["MLOPS_STATE_DIR"]) / context.ACCOUNT_CACHE
    cache.write_text(json.dumps({key: "999999999999"}))  # a bucket that does not exist
    run_mlops(env, "plan", "--env", "dev", "--out", str(tmp_path / "plan")).check(0)
    actual = cloud.client("sts").get_caller_identity()["Account"]
    assert json.loads(cache.read_text())[key] == actual


@pytest.mark.terraform
@pytest.mark.cloud
def test_a_bucket_gone_after_init_still_says_bootstrap_first(
        small_project: Any, project_env: Any, run_mlops: Any, tmp_path: Path,
        cloud: Any) -> None:
    """Init is skipped when nothing changed, so the plan itself meets the missing bucket."""
    project = f"gone-{uuid.uuid4().hex[:8]}"
    root = small_project(tmp_path / "proj", ONE_ROOT)
    yaml = (root / "mlops.yaml").read_text().replace("project: mlops-demo",
                                                     f"project: {project}")
    (root / "mlops.yaml").write_text(yaml)
    env = project_env(root)
    s3 = cloud.client("s3")
    account = cloud.client("sts").get_caller_identity()["Account"]
    bucket = f"{project}-tfstate-{account}"
    s3.create_bucket(Bucket=bucket)
    run_mlops(env, "plan", "--env", "dev", "--out", str(tmp_path / "first")).check(0)
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)
    failed = run_mlops(env, "plan", "--env", "dev", "--out", str(tmp_path / "second"))
    assert "skipped: nothing it depends on changed" in failed.stderr, failed.describe()
    message = " ".join(failed.stderr.split())
    assert failed.code == 2 and f"the state bucket {bucket} does not exist" in message, (
        failed.describe())
    assert "apply bootstrap/ first" in message
    assert control.client_env  # the cloud is the worker's: nothing else was touched
