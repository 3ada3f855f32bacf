"""A model's way from release to 100 % and back, on the served env (conftest.py), through
the real CLI, in file order: each test starts from the state the previous one left.

Oracles: Terraform's plan JSON; what SageMaker reports (DescribeEndpoint, polled by a
WeightWatcher every 0.1 s); CloudWatch's alarm states and metrics; the models' own
predictions, loaded locally from the pushed artifacts; the state lock object as Terraform
reads it (and Terraform's own refusal).

  1. `mlops release`: the PR plan shows the new model, config and variants.
  2. A full promotion walks every step in order under `mlops traffic`; Terraform sees
     none of it (no drift), the follow-up makes Git agree; applied, the plan is empty.
  3. `mlops endpoint rollback` restores the previous model's predictions, refuses clearly
     (unknown release, a config deleted outside Terraform, a held lock, an update in
     progress), and records the swap so the next apply keeps it.
  4. A candidate failing half its requests trips its 5xx alarm from real metrics and is
     rolled back before the next step; its follow-up sets Git back.
  5. A new candidate starts at the weight its release chose (the provider resets the live
     weights on every config change). A promotion SIGKILLed after step k: Terraform is
     refused while it holds the lock; a re-run takes the lock over and continues at k+1.
  6. `mlops canary abort` stops a running promotion; an endpoint stuck Updating is waited
     on, then the promotion times out clearly; once free, a re-run continues there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops import context
from mlops.adapters.statelock import StateLock
from mlops.core import release
from mlops.localcloud import control

pytestmark = [pytest.mark.terraform, pytest.mark.cloud,
              pytest.mark.slow]

ENV = "dev"
MODULE = "module.endpoint[0]"
FAST = ("--poll", "0.5")
ZERO = {"add": 0, "change": 0, "destroy": 0, "replace": 0, "import": 0, "move": 0,
        "forget": 0, "drift": 0}


def key(served: Any, name: str) -> str:
    return release.default_key(served.models[name].sha256)


def counts_of(served: Any, out: Path, env: dict[str, str] | None = None) -> dict[str, int]:
    runner_env = env or served.env
    served.run(runner_env, "plan", "--env", ENV, "--out", str(out)).check(0)
    counts = json.loads((out / "summary.json").read_text())["counts"]
    return {k: counts[k] for k in ZERO}


def rows(n: int = 10) -> list[list[float]]:
    from mlops.adapters import training

    return training.holdout_rows("breast_cancer")[:n]


def invoke(served: Any, data: list[list[float]], **kwargs: Any) -> tuple[list[Any], str]:
    answer = served.cloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=served.endpoint, Body=json.dumps({"instances": data}),
        ContentType="application/json", **kwargs)
    return json.loads(answer["Body"].read())["predictions"], answer["InvokedProductionVariant"]


@dataclass
class Proc:
    """`mlops canary promote` as a process of its own (it can be killed)."""

    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(f"the promotion did not end in {timeout:.0f}s:\n"
                                 f"{self.output()[-4000:]}") from None

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


def promote_process(served: Any, tmp_path: Path, *args: str) -> Proc:
    log = tmp_path / f"promote-{uuid.uuid4().hex[:6]}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen([sys.executable, "-m", "mlops", "canary", "promote", "--env",
                                  ENV, *args], env=served.subprocess_env(), stdout=out,
                                 stderr=subprocess.STDOUT)
    return Proc(popen, log)


def live_config(served: Any) -> str:
    return str(served.describe()["EndpointConfigName"])


def running_record(served: Any, **where: Any) -> bool:
    found = served.record()
    return bool(found and found["config"] == live_config(served)
                and found["status"] == "running"
                and all(found.get(k) == v for k, v in where.items()))


# -- 1. the release pull request's plan ------------------------------------------------------


def test_release_pr_plan_shows_the_new_model_config_and_variants(served: Any,
                                                                 tmp_path: Path) -> None:
    before = served.serving()
    stable_key = before.active
    stable_url = before.releases[stable_key]["stable"]["model_data_url"]
    assert "canary" not in before.releases[stable_key], before

    env = served.copy(tmp_path / "repo")
    tfvars = tmp_path / "repo" / "envs" / ENV / "terraform.tfvars"
    original = tfvars.read_text()
    ran = served.run(env, "release", "--env", ENV, "--model", served.uris["v2"],
                     "--canary-weight", "20").check(0)
    new = key(served, "v2")
    assert ran.stdout.splitlines()[0] == f"git switch -c mlops/release-{ENV}-{new}", ran.stdout
    assert f"-- envs/{ENV}/terraform.tfvars" in ran.stdout, ran.stdout
    edited = tfvars.read_text()
    assert edited != original and release.read_serving(edited, "t").active == new

    out = tmp_path / "plan"
    served.run(env, "plan", "--env", ENV, "--out", str(out)).check(0)
    plan = json.loads((out / "plan.json").read_text())
    changes = {rc["address"]: rc for rc in plan["resource_changes"]}
    actions = {a: rc["change"]["actions"] for a, rc in changes.items()}

    models = {v: f'{MODULE}.aws_sagemaker_model.this["{new}/{v}"]' for v in ("stable", "canary")}
    config = f'{MODULE}.aws_sagemaker_endpoint_configuration.this["{new}"]'
    kept = f'{MODULE}.aws_sagemaker_endpoint_configuration.this["{stable_key}"]'
    endpoint = f"{MODULE}.aws_sagemaker_endpoint.this"
    alarms = [f'{MODULE}.aws_cloudwatch_metric_alarm.{kind}["canary"]'
              for kind in ("errors_5xx", "latency")]
    expected = {**{m: ["create"] for m in models.values()}, config: ["create"],
                endpoint: ["update"], kept: ["no-op"], **{a: ["create"] for a in alarms}}
    found = {a: actions.get(a) for a in expected}
    assert found == expected, f"release plan actions: found {found}, expected {expected}"
    refused = {a: act for a, act in actions.items() if "delete" in act}
    assert not refused, f"a release must destroy or replace nothing; the plan does: {refused}"

    urls = {v: changes[m]["change"]["after"]["primary_container"][0]["model_data_url"]
            for v, m in models.items()}
    assert urls == {"stable": stable_url, "canary": served.uris["v2"]}, urls
    variants = {v["variant_name"]: (v["initial_variant_weight"], v["model_name"])
                for v in changes[config]["change"]["after"]["production_variants"]}
    names = {v: changes[m]["change"]["after"]["name"] for v, m in models.items()}
    assert variants == {"stable": (80, names["stable"]), "canary": (20, names["canary"])}, (
        f"EndpointConfig variants (weight, model): found {variants}")
    after = changes[endpoint]["change"]["after"]
    assert after["endpoint_config_name"] == changes[config]["change"]["after"]["name"], after
    assert after["tags"]["release"] == new, after["tags"]
    tags = changes[models["canary"]]["change"]["after"]["tags"]
    assert (tags["artifact_fault"], tags["artifact_sha256"]) == (
        "none", served.models["v2"].sha256), tags


# -- 2. a full promotion under traffic ----------------------------------------------------------


def test_full_promotion_walks_every_step_under_traffic_and_git_then_agrees(
        served: Any, tools: Any, tmp_path: Path) -> None:
    served.release("v2")  # a 10 % canary of v2 beside v1
    served.apply()
    assert served.shares() == (10, 10, "InService")
    released_tfvars = served.tfvars_path.read_text()
    summary = tmp_path / "step-summary.md"
    env = {**served.env, "GITHUB_STEP_SUMMARY": str(summary)}

    with tools.watching(served) as watcher:
        with tools.traffic(served, rps=15, duration=120) as load:
            ran = served.run(env, "canary", "promote", "--env", ENV, "--steps",
                             "10,25,50,100", "--bake", "3", *FAST)
        doc = tools.report(load)
    ran.check(0)
    assert watcher.desired() == [10, 25, 50, 100], (
        f"the canary's desired weights, as SageMaker reported them: {watcher.seen}")
    assert served.shares() == (100, 100, "InService")
    variants = doc["variants"]
    assert doc["success_rate"] == 1.0 and variants["canary"]["requests"] > 0 and \
        variants["stable"]["requests"] > 0, f"traffic during the promotion: {doc}"
    for step in ("step 1/4 (10%)", "step 2/4 (25%)", "step 3/4 (50%)", "step 4/4 (100%)"):
        assert step in ran.stderr, f"no progress for {step}:\n{ran.stderr[-3000:]}"
    timeline = summary.read_text()
    assert timeline.startswith(f"### Canary promotion of `{ENV}`, release "
                               f"`{key(served, 'v2')}`: promoted"), timeline
    assert "shift: canary 100%, stable 0%" in timeline, timeline
    record = served.record()
    assert record is not None and record["status"] == "promoted", record
    assert served.lock() is None, "the promotion must release the state lock"

    # Weights set outside Terraform are invisible to it: with the release's tfvars the plan
    # is empty although 100 % goes to the canary. Hence the follow-up change.
    env_before = served.copy(tmp_path / "as-released", tfvars=released_tfvars)
    assert counts_of(served, tmp_path / "plan-invisible", env_before) == ZERO
    new = key(served, "v2")
    assert ran.stdout.splitlines()[0] == f"git switch -c mlops/promote-{ENV}-{new}", ran.stdout
    after = served.serving()
    assert after.active == new and after.releases[new] == {
        "stable": {"image": after.releases[new]["stable"]["image"],
                   "model_data_url": served.uris["v2"]}}, after
    served.apply()
    assert counts_of(served, tmp_path / "plan-after") == ZERO
    found = served.describe()
    assert [v["VariantName"] for v in found["ProductionVariants"]] == ["stable"], found
    predictions, variant = invoke(served, rows())
    assert (predictions, variant) == (served.predictions("v2", rows()), "stable")


# -- 3. rollback by config swap ---------------------------------------------------------------


def test_endpoint_rollback_restores_the_previous_models_predictions(
        served: Any, tmp_path: Path) -> None:
    v1, v2 = key(served, "v1"), key(served, "v2")
    outputs = served.outputs()["endpoint"]
    assert sorted(outputs["endpoint_config_names"]) == sorted([v1, v2]), outputs
    assert invoke(served, rows())[0] == served.predictions("v2", rows())
    sm = served.cloud.client("sagemaker")

    def refused(*argv: str) -> str:
        ran = served.mlops("endpoint", "rollback", "--env", ENV, *argv)
        assert ran.code != 0, f"expected a refusal:\n{ran.describe()}"
        assert "Traceback" not in ran.stderr, ran.stderr
        return " ".join(ran.stderr.split())

    assert f"{ENV} has no retained release 'nope'" in refused("--to", "nope")

    lock = StateLock(served.cloud.client("s3"), served.state_bucket, served.state_key, ENV)
    held = lock.acquire("OperationTypeApply", who="runner@ci-apply")
    try:
        message = refused()
        # the lock message of issue 8 (adapters/statelock.py): holder, operation, the unlock
        for wanted in ("locked by another run: runner@ci-apply (OperationTypeApply)",
                       f"mlops unlock --env {ENV} --lock-id {held.id}"):
            assert wanted in message, message
    finally:
        lock.release(held.id)

    control.hold_endpoint(served.cloud.endpoint, served.endpoint, 60)
    try:
        sm.update_endpoint_weights_and_capacities(
            EndpointName=served.endpoint,
            DesiredWeightsAndCapacities=[{"VariantName": "stable", "DesiredWeight": 1.0}])
        message = refused()
        assert f"the endpoint {served.endpoint} is Updating" in message, message
        assert "a deployment is in progress" in message, message
    finally:
        control.hold_endpoint(served.cloud.endpoint, served.endpoint, 0)

    ran = served.mlops("endpoint", "rollback", "--env", ENV, "--reason",
                       "INC-42 v2 mislabels churners").check(0)
    found = served.describe()
    assert (found["EndpointStatus"], found["EndpointConfigName"]) == (
        "InService", outputs["endpoint_config_names"][v1]), found
    assert invoke(served, rows()) == (served.predictions("v1", rows()), "stable")
    assert "stable (" in ran.stderr and "answered: 5 prediction(s)" in ran.stderr, ran.stderr
    assert ran.stdout.splitlines()[0] == f"git switch -c mlops/rollback-{ENV}-{v1}", ran.stdout
    assert "swapped the endpoint to it: INC-42 v2 mislabels churners" in ran.stderr, ran.stderr
    assert served.serving().active == v1 and sorted(served.serving().releases) == sorted(
        [v1, v2]), "the swap is recorded in Git; v2 is kept to roll forward"

    # A release whose config was deleted outside Terraform cannot be rolled back to.
    sm.delete_endpoint_config(EndpointConfigName=outputs["endpoint_config_names"][v2])
    message = refused("--to", v2)
    assert f"the EndpointConfig {outputs['endpoint_config_names'][v2]} of release {v2} no " \
           "longer exists" in message and "mlops apply" in message, message

    served.apply()  # re-creates v2's config (gone) and keeps the endpoint on v1
    assert served.describe()["EndpointConfigName"] == outputs["endpoint_config_names"][v1]
    assert counts_of(served, tmp_path / "plan-after-rollback") == ZERO


# -- 4. a failing candidate -------------------------------------------------------------------


def test_a_failing_candidate_trips_its_5xx_alarm_and_is_rolled_back_before_the_next_step(
        served: Any, tools: Any, tmp_path: Path) -> None:
    stable = served.serving().active
    served.release("bad")
    served.apply()
    assert served.shares() == (10, 10, "InService")
    with tools.watching(served) as watcher:
        proc = promote_process(served, tmp_path, "--bake", "45", *FAST)
        try:
            tools.wait_until(lambda: running_record(served), 90, "the promotion to start")
            with tools.traffic(served, rps=20, duration=90) as load:
                code = proc.wait(timeout=120)
            doc = tools.report(load)
        finally:
            proc.stop()
    output = " ".join(proc.output().split())
    assert code == 10, f"expected exit 10 (rolled back):\n{proc.output()[-4000:]}"
    alarm = f"{served.endpoint}-canary-5xx"
    assert max(watcher.desired()) == 10 and watcher.seen[-1] == (0, 0, "InService"), (
        f"it must roll back before the next step; SageMaker reported {watcher.seen}")
    for wanted in (f"rolled back the canary of release {key(served, 'bad')} in {ENV} at "
                   "step 1/4 (10%): 100% on stable again at", f"alarm {alarm} is in ALARM",
                   "Threshold Crossed"):
        assert wanted in output, f"{wanted!r} not in the report:\n{proc.output()[-4000:]}"

    cloudwatch = served.cloud.client("cloudwatch")
    [state] = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert state["StateValue"] == "ALARM" and "Threshold Crossed" in state["StateReason"], state
    errors = cloudwatch.get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors", Statistics=["Sum"],
        StartTime=time.time() - 600, EndTime=time.time() + 60, Period=3600,
        Dimensions=[{"Name": "EndpointName", "Value": served.endpoint},
                    {"Name": "VariantName", "Value": "canary"}])["Datapoints"]
    assert errors and errors[0]["Sum"] > 0, f"5xx metrics of the canary: {errors}"
    assert doc["variants"]["canary"]["errors"].get("ModelError", 0) > 0, doc
    record = served.record()
    assert record is not None and record["status"] == "rolled_back", record
    assert served.lock() is None
    after = served.serving()
    assert after.active == stable and key(served, "bad") not in after.releases, (
        f"the follow-up must set Git back to {stable}: {after}")


# -- 5. a crash, and a re-run ----------------------------------------------------------------


def test_a_killed_promotion_holds_off_terraform_and_a_rerun_continues_at_the_next_step(
        served: Any, tools: Any, tmp_path: Path) -> None:
    assert served.shares()[:2] == (0, 0), "the failed canary was left at 0 %"
    served.release("v3")
    served.apply()
    # The provider's UpdateEndpoint resets the live weights to the new config's: a new
    # candidate starts at the weight its release chose, whatever the last one was left at.
    assert served.shares() == (10, 10, "InService")
    args = ("--steps", "10,25,50,100", "--bake", "3", "--poll", "0.3")
    with tools.watching(served) as watcher:
        proc = promote_process(served, tmp_path, *args)
        try:
            tools.wait_until(lambda: running_record(served, index=1, phase="bake"), 120,
                             "step 2 to bake")
            ctx = context.load(served.env)
            tf = ctx.terraform(ctx.env_root(ENV), ENV)
            refused = tf.run(["apply", "-auto-approve", "-no-color", "-input=false",
                              "-lock-timeout=1s"], check=False)
            text = refused.stdout + refused.stderr
            assert refused.returncode != 0, f"terraform applied during a promotion:\n{text}"
            for wanted in ("Error acquiring the state lock", "mlops canary promote"):
                assert wanted in text, f"terraform's refusal should show {wanted!r}:\n{text}"
            tools.wait_until(lambda: running_record(served, index=2), 60, "step 2 to be baked")
            proc.popen.kill()  # SIGKILL: no cleanup, the lock stays
            proc.popen.wait()
        finally:
            proc.stop()
        dead = served.lock()
        assert dead is not None and dead["Operation"] == "mlops canary promote", dead
        rerun = served.mlops("canary", "promote", "--env", ENV, *args)
    rerun.check(0)
    assert "taking over the state lock" in rerun.stderr, rerun.stderr[-3000:]
    assert "resuming at step 3/4 (50%)" in rerun.stderr, rerun.stderr[-3000:]
    assert watcher.desired() == [10, 25, 50, 100], (
        f"every step once, in order, across the crash; SageMaker reported {watcher.seen}")
    assert served.lock() is None
    record = served.record()
    assert record is not None and record["status"] == "promoted", record
    texts = [e["text"] for e in record["events"]]
    assert any(t.startswith("resumed: ") for t in texts) and \
        sum(t.startswith("shift: canary 25%") for t in texts) == 1, texts


# -- 6. abort, and a stuck update -------------------------------------------------------------


def test_abort_stops_a_running_promotion_and_a_stuck_update_times_out_clearly(
        served: Any, tools: Any, tmp_path: Path) -> None:
    stable = served.serving().active
    assert served.shares()[:2] == (100, 100), "v3 was promoted to 100 %"
    served.release("v2")
    served.apply()
    assert served.shares() == (10, 10, "InService"), "a new candidate starts at its weight"
    proc = promote_process(served, tmp_path, "--bake", "60", *FAST)
    try:
        tools.wait_until(lambda: running_record(served, phase="bake"), 90,
                         "the promotion to bake its first step")
        served.mlops("canary", "abort", "--env", ENV, "--reason", "INC-43 p99 too high"
                     ).check(0)
        code = proc.wait(timeout=60)
    finally:
        proc.stop()
    assert code == 11 and "aborted by" in proc.output(), proc.output()[-3000:]
    # the reason reaches the running promotion: its halt, record and follow-up say it
    assert "(INC-43 p99 too high)" in proc.output(), proc.output()[-3000:]
    assert served.shares() == (0, 0, "InService")
    assert served.lock() is None
    assert served.serving().active == stable, "the abort's follow-up sets Git back"

    again = served.mlops("canary", "promote", "--env", ENV, *FAST)
    assert again.code == 2 and "--restart" in again.stderr, again.describe()

    sm = served.cloud.client("sagemaker")
    control.hold_endpoint(served.cloud.endpoint, served.endpoint, 120)
    try:
        sm.update_endpoint_weights_and_capacities(
            EndpointName=served.endpoint,
            DesiredWeightsAndCapacities=[{"VariantName": "stable", "DesiredWeight": 100.0}])
        stuck = served.mlops("canary", "promote", "--env", ENV, "--restart", "--steps",
                             "10,100", "--bake", "1", "--update-timeout", "4", *FAST)
    finally:
        control.hold_endpoint(served.cloud.endpoint, served.endpoint, 0)
    assert stuck.code == 12, stuck.describe()
    message = " ".join(stuck.stderr.split())
    for wanted in ("the endpoint is Updating; waiting to shift", "timed out at step 1/2 (10%)",
                   "has been Updating for", "(longer than 4s)", "continues at this step"):
        assert wanted in message, f"{wanted!r} not in:\n{stuck.stderr[-3000:]}"
    assert served.lock() is None

    tools.wait_until(lambda: served.shares()[2] == "InService", 30, "the hold to end")
    with tools.watching(served) as watcher:
        resumed = served.mlops("canary", "promote", "--env", ENV, "--steps", "10,100",
                               "--bake", "1", *FAST)
    resumed.check(0)
    assert "resuming at step 1/2 (10%)" in resumed.stderr, resumed.stderr[-3000:]
    assert watcher.desired() == [0, 10, 100], watcher.seen
