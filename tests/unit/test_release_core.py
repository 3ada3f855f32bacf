"""core/release.py (what serving becomes on a release, a promotion, a rollback) and
core/tfvars.py (the surgical editor of the serving block), on the real envs' tfvars and
on literal texts."""

from __future__ import annotations

import difflib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlops.core import release, tfvars
from mlops.core.release import Candidate, Serving
from mlops.errors import MlopsError

ROOT = Path(__file__).resolve().parents[2]
ENV_TFVARS = sorted(ROOT.glob("envs/*/terraform.tfvars"))
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-demo-dev-model-server:0.1.0"
SHA = {name: (c * 64) for name, c in (("v1", "1"), ("v2", "2"), ("v3", "3"), ("v4", "4"))}


def uri(name: str, env: str = "dev", project: str = "mlops-demo") -> str:
    return f"s3://{project}-{env}-artifacts/models/{SHA[name]}/model.tar.gz"


def cand(name: str, env: str = "dev") -> Candidate:
    return release.parse_model_uri(uri(name, env))


def key(name: str) -> str:
    return release.default_key(SHA[name])


def removed_and_added(before: str, after: str) -> tuple[list[str], list[str]]:
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return ([d[2:] for d in diff if d.startswith("- ")],
            [d[2:] for d in diff if d.startswith("+ ")])


def edit(text: str, change: release.Change) -> str:
    return release.apply_change(text, change, "terraform.tfvars")


def env_of(path: Path) -> str:
    return path.parent.name


# -- the model URI, keys, weights ---------------------------------------------------------------


@pytest.mark.parametrize("bad", [
    "s3://bucket/model.tar.gz",
    "s3://mlops-demo-dev-artifacts/models/abc/model.tar.gz",
    f"https://mlops-demo-dev-artifacts/models/{'a' * 64}/model.tar.gz",
    f"s3://mlops-demo-dev-artifacts/models/{'A' * 64}/model.tar.gz",
    f"s3://mlops-demo-dev-artifacts/models/{'a' * 64}/metrics.json",
    "",
])
def test_only_pushed_artifacts_can_be_released(bad: str) -> None:
    with pytest.raises(MlopsError) as err:
        release.parse_model_uri(bad)
    assert "mlops artifact push" in err.value.fix, err.value.render()


def test_release_keys_are_stable_and_valid_for_the_module() -> None:
    found = release.default_key("3f2a9c1b0d4e" + "0" * 52)
    assert found == "m-3f2a9c1b0d" and release.RELEASE_KEY.match(found)
    assert release.default_key(SHA["v1"]) == release.default_key(SHA["v1"])
    assert 1 <= len(found) <= 16


@pytest.mark.parametrize("bad", ["-v1", "v1-", "", "a" * 17, "v_1", "v 1"])
def test_bad_release_keys_are_refused(bad: str) -> None:
    with pytest.raises(MlopsError, match="not a valid release key"):
        release.check_key(bad)


@pytest.mark.parametrize("weight", [0, 100, -5])
def test_canary_weight_must_leave_both_variants_traffic(weight: int) -> None:
    with pytest.raises(MlopsError, match="out of range"):
        release.check_weight(weight)


# -- release decisions, as a table ----------------------------------------------------------------

OFF = Serving(False, {}, "")
V1 = Serving(True, {key("v1"): {"stable": {"image": IMAGE, "model_data_url": uri("v1")}}},
             key("v1"))


def released(before: Serving, name: str, **kw: Any) -> Serving:
    return release.plan_release(before, "dev", cand(name),
                                expected_bucket="mlops-demo-dev-artifacts", **kw).after


def test_first_release_serves_the_model_alone() -> None:
    change = release.plan_release(OFF, "dev", cand("v1"), image=IMAGE,
                                  expected_bucket="mlops-demo-dev-artifacts")
    assert change.after == V1
    assert change.branch == f"mlops/release-dev-{key('v1')}"
    assert change.edits() == {
        "enabled": True,
        "releases": tfvars.Nested({key("v1"): {"stable": {"image": IMAGE,
                                                          "model_data_url": uri("v1")}}}),
        "active_release": key("v1")}


def test_canary_release_keeps_the_previous_release_and_splits_the_weights() -> None:
    after = released(V1, "v2", weight=20)
    stable = {"image": IMAGE, "model_data_url": uri("v1")}
    assert after == Serving(True, {
        key("v1"): {"stable": stable},
        key("v2"): {"stable": {**stable, "initial_weight": 80},
                    "canary": {"image": IMAGE, "model_data_url": uri("v2"),
                               "initial_weight": 20}}}, key("v2"))
    assert after.rollback_target() == key("v1")


def test_canary_inherits_the_stable_capacity_and_takes_the_given_image() -> None:
    base = Serving(True, {"v1": {"stable": {
        "image": IMAGE, "model_data_url": uri("v1"), "instance_type": "ml.m5.large",
        "instance_count": 2, "environment": {"LOG": "debug"}}}}, "v1")
    after = released(base, "v2", image="other:1")
    canary = after.releases[key("v2")]["canary"]
    assert canary == {"image": "other:1", "model_data_url": uri("v2"),
                      "instance_type": "ml.m5.large", "instance_count": 2,
                      "environment": {"LOG": "debug"}, "initial_weight": 10}


def test_a_new_candidate_replaces_an_unpromoted_canary_at_its_own_weight() -> None:
    in_progress = released(V1, "v2", weight=30)
    change = release.plan_release(in_progress, "dev", cand("v3"), weight=5,
                                  expected_bucket="mlops-demo-dev-artifacts")
    after = change.after
    assert sorted(after.releases) == sorted([key("v1"), key("v3")]), after.releases
    assert after.releases[key("v3")]["canary"]["initial_weight"] == 5
    assert after.releases[key("v3")]["stable"]["initial_weight"] == 95
    assert after.releases[key("v3")]["stable"]["model_data_url"] == uri("v1")
    assert any("never promoted" in line for line in change.lines), change.lines


def test_promotion_makes_the_canary_the_stable_in_place() -> None:
    change = release.plan_promoted(released(V1, "v2"), "dev")
    assert change.after == Serving(True, {
        key("v1"): V1.releases[key("v1")],
        key("v2"): {"stable": {"image": IMAGE, "model_data_url": uri("v2")}}}, key("v2"))
    assert change.branch == f"mlops/promote-dev-{key('v2')}"


def test_a_key_of_a_dropped_release_can_name_the_new_one() -> None:
    promoted = release.plan_promoted(released(V1, "v2"), "dev").after  # m-v1, m-v2 (active)
    after = released(promoted, "v1")  # v1 again, as a canary of v2: m-v1 is dropped anyway
    assert after.active == key("v1") and sorted(after.releases) == sorted([key("v1"), key("v2")])
    assert after.releases[key("v1")]["canary"]["model_data_url"] == uri("v1")


def test_release_after_promotion_keeps_only_the_current_stable() -> None:
    promoted = release.plan_promoted(released(V1, "v2"), "dev").after
    change = release.plan_release(promoted, "dev", cand("v3"),
                                  expected_bucket="mlops-demo-dev-artifacts")
    assert sorted(change.after.releases) == sorted([key("v2"), key("v3")])
    assert change.after.rollback_target() == key("v2")
    assert any(f"drops release `{key('v1')}`" in line for line in change.lines), change.lines


def test_back_to_a_release_drops_an_abandoned_canary() -> None:
    canary = released(V1, "v2")
    change = release.plan_back_to(canary, "dev", key("v1"), "alarm")
    assert change.after == V1
    assert change.branch == f"mlops/rollback-dev-{key('v1')}"
    # The same end state whichever command records it: one branch, one pull request.
    assert release.plan_canary_dropped(canary, "dev", "aborted").after == V1
    assert release.plan_canary_dropped(canary, "dev", "x").branch == change.branch


def test_back_to_keeps_a_stable_release_to_roll_forward() -> None:
    promoted = release.plan_promoted(released(V1, "v2"), "dev").after
    change = release.plan_back_to(promoted, "dev", key("v1"), "v2 misbehaves")
    assert change.after.active == key("v1")
    assert sorted(change.after.releases) == sorted(promoted.releases)


def test_canary_dropped_in_place_without_a_rollback_target() -> None:
    lonely = Serving(True, {"r": {"stable": {"image": IMAGE, "model_data_url": uri("v1"),
                                             "initial_weight": 90},
                                  "canary": {"image": IMAGE, "model_data_url": uri("v2"),
                                             "initial_weight": 10}}}, "r")
    after = release.plan_canary_dropped(lonely, "dev", "aborted").after
    assert after == Serving(True, {"r": {"stable": {"image": IMAGE,
                                                    "model_data_url": uri("v1")}}}, "r")


@pytest.mark.parametrize(("before", "name", "kw", "message"), [
    (OFF, "v1", {}, "needs --image"),
    (OFF, "v1", {"image": IMAGE, "weight": 10}, "serves nothing yet"),
    (V1, "v2", {"weight": 100}, "out of range"),
    (V1, "v2", {"key": "bad_key"}, "not a valid release key"),
    (V1, "v2", {"key": key("v1")}, "is the key of dev's rollback target"),
])
def test_bad_releases_are_refused(before: Serving, name: str, kw: dict[str, Any],
                                  message: str) -> None:
    with pytest.raises(MlopsError, match=message):
        release.plan_release(before, "dev", cand(name),
                             expected_bucket="mlops-demo-dev-artifacts", **kw)


def test_a_model_from_another_envs_bucket_is_refused() -> None:
    with pytest.raises(MlopsError) as err:
        release.plan_release(V1, "dev", cand("v2", env="prod"),
                             expected_bucket="mlops-demo-dev-artifacts")
    assert "mlops artifact push DIR --env dev" in err.value.fix


def test_releasing_what_is_already_there_changes_nothing() -> None:
    canary = released(V1, "v2")
    for before, name in ((V1, "v1"), (canary, "v2")):
        change = release.plan_release(before, "dev", cand(name),
                                      expected_bucket="mlops-demo-dev-artifacts")
        assert change.unchanged and change.edits() == {}, change
    with pytest.raises(MlopsError, match="stable model of dev's canary release"):
        release.plan_release(canary, "dev", cand("v1"),
                             expected_bucket="mlops-demo-dev-artifacts")


@pytest.mark.parametrize(("target", "message"), [("nope", "has no release 'nope'")])
def test_back_to_an_unknown_release_is_refused(target: str, message: str) -> None:
    with pytest.raises(MlopsError, match=message):
        release.plan_back_to(V1, "dev", target, "x")


def test_promoting_without_a_canary_is_refused() -> None:
    with pytest.raises(MlopsError, match="has no canary"):
        release.plan_promoted(V1, "dev")


# -- the editor on the real tfvars: every comment and unrelated line survives -----------------


@pytest.mark.parametrize("path", ENV_TFVARS, ids=env_of)
def test_a_release_cycle_keeps_every_unrelated_line_byte_for_byte(path: Path) -> None:
    env = env_of(path)
    original = path.read_text()
    bucket = release.artifact_bucket("mlops-demo", env)
    serving = release.read_serving(original, "t")
    assert not serving.enabled, f"{path}: the checked-in tfvars should serve nothing yet"

    first = release.plan_release(serving, env, cand("v1", env), image=IMAGE,
                                 expected_bucket=bucket)
    text1 = edit(original, first)
    removed, added = removed_and_added(original, text1)
    serving_lines = original.split("serving = {", 1)[1].splitlines()
    enabled_line = next(ln for ln in serving_lines if ln.strip().startswith("enabled"))
    assert removed == [enabled_line], f"{path}: first release removed {removed}"
    assert enabled_line.replace("false", "true") in added
    assert release.read_serving(text1, "t") == first.after

    second = release.plan_release(first.after, env, cand("v2", env), weight=25,
                                  expected_bucket=bucket)
    text2 = edit(text1, second)
    removed, _ = removed_and_added(text1, text2)
    assert removed == [f'  active_release = "{key("v1")}"'], removed
    assert release.read_serving(text2, "t") == second.after

    promoted = release.plan_promoted(second.after, env)
    text3 = edit(text2, promoted)
    third = release.plan_release(promoted.after, env, cand("v3", env), expected_bucket=bucket)
    text4 = edit(text3, third)
    back = release.plan_canary_dropped(third.after, env, "alarm")
    text5 = edit(text4, back)
    assert release.read_serving(text5, "t") == back.after
    # Outside serving, and every comment anywhere: untouched through the whole cycle.
    for text in (text1, text2, text3, text4, text5):
        removed, _ = removed_and_added(original, text)
        assert [ln for ln in removed if "#" in ln or not ln.startswith((" ", "}"))] == [], (
            f"{path}: lines lost: {removed}")
    outside = original.split("serving = {")
    assert text5.startswith(outside[0]), "everything before serving is kept"
    assert text5.endswith(outside[1].split("\n}\n", 1)[1]), "everything after serving is kept"


HAND_WRITTEN = '''# top comment
env = "dev"

serving = {
  enabled = true # on since v1
  name    = "churn"
  // a line comment
  releases = {
    # v1: the rollback target, keep it
    v1 = {
      stable = { image = "img", model_data_url = "URI1" } # one line
    }

    /* the current one */
    v2 = {
      stable = {
        image          = "img"
        model_data_url = "URI2"
      }
    }
  }
  active_release = "v2" # what serves

  alarms = { period_seconds = 10 }
}

budget = { monthly_limit_usd = 5 } # end
'''.replace("URI1", uri("v1")).replace("URI2", uri("v2"))


def test_edits_touch_only_the_entries_that_change() -> None:
    before = release.read_serving(HAND_WRITTEN, "t")
    change = release.plan_release(before, "dev", cand("v3"), weight=10,
                                  expected_bucket="mlops-demo-dev-artifacts")
    out = edit(HAND_WRITTEN, change)
    removed, added = removed_and_added(HAND_WRITTEN, out)
    # v1 is dropped with the comment that describes it (and the blank line that would
    # open the block); v2 stays (the rollback target).
    assert removed == ["    # v1: the rollback target, keep it", "    v1 = {",
                       '      stable = { image = "img", model_data_url = "' + uri("v1")
                       + '" } # one line', "    }", "", '  active_release = "v2" # what serves'
                       ], removed
    assert '  active_release = "' + key("v3") + '" # what serves' in added, added
    for kept in ("    /* the current one */", "  // a line comment", "# top comment",
                 "  enabled = true # on since v1", "budget = { monthly_limit_usd = 5 } # end"):
        assert kept in out.splitlines(), f"{kept!r} lost:\n{out}"


def test_releases_written_inline_are_rewritten_whole() -> None:
    text = ('serving = {\n  enabled = true\n  releases = { a = { stable = { image = "i", '
            f'model_data_url = "{uri("v1")}" }} }} }}\n  active_release = "a"\n}}\n')
    before = release.read_serving(text, "t")
    change = release.plan_release(before, "dev", cand("v2"),
                                  expected_bucket="mlops-demo-dev-artifacts")
    out = edit(text, change)
    assert release.read_serving(out, "t") == change.after
    assert out.startswith("serving = {\n  enabled = true\n  releases = {\n    a = {\n")


@pytest.mark.parametrize(("text", "message"), [
    ('serving = {\n  enabled = var.x\n}\n', "an expression"),
    ('serving = {\n  name = "${x}"\n}\n', "template string"),
    ('serving = {\n  enabled = true\n  enabled = false\n}\n', "set twice"),
    ('serving = local.x\n', "not an object literal"),
    ('other = 1\n', "no top-level `serving"),
    ('serving = {\n  releases = { a = 1 }\n}\n', "has no stable variant"),
])
def test_unreadable_serving_blocks_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(MlopsError) as err:
        release.read_serving(text, "envs/dev/terraform.tfvars")
    assert message in err.value.render(), err.value.render()


def test_literal_values_parse_with_their_spans() -> None:
    text = 'x = {\n  a = -1.5\n  b = [1, "two", true, null]\n  "c d" : { e = 1e3 }\n}\n'
    block = tfvars.find_block(text, "x")
    assert block is not None
    assert block.python() == {"a": -1.5, "b": [1, "two", True, None], "c d": {"e": 1000.0}}
    entry = block.entry("b")
    assert entry is not None and text[entry.value.start:entry.value.end] == \
        '[1, "two", true, null]'


# -- what is written is what `terraform fmt` writes -------------------------------------------


@pytest.mark.terraform
@pytest.mark.parametrize("path", ENV_TFVARS, ids=env_of)
def test_edited_tfvars_are_already_formatted(path: Path) -> None:
    env = env_of(path)
    bucket = release.artifact_bucket("mlops-demo", env)
    text = path.read_text()
    serving = release.read_serving(text, "t")
    first = release.plan_release(serving, env, cand("v1", env), image=IMAGE,
                                 expected_bucket=bucket)
    second = release.plan_release(first.after, env, cand("v2", env), expected_bucket=bucket)
    hand = release.plan_release(release.read_serving(HAND_WRITTEN, "t"), "dev", cand("v3"),
                                expected_bucket="mlops-demo-dev-artifacts")
    for out in (edit(text, first), edit(edit(text, first), second), edit(HAND_WRITTEN, hand)):
        formatted = subprocess.run(
            [os.environ.get("TERRAFORM", "terraform"), "fmt", "-no-color", "-"], input=out,
            text=True, capture_output=True, check=True,
            env={**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null"}).stdout
        assert formatted == out, "".join(difflib.unified_diff(
            out.splitlines(True), formatted.splitlines(True), "written", "terraform fmt"))
