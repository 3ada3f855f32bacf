"""core/comment.py: rendering, warnings, size policy, masking, parse-back."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mlops.core import comment, masking
from mlops.core.comment import MARKER, MAX_BODY, PlanInput, parse_comment
from mlops.core.masking import Masker
from mlops.core.plansummary import PlanSummary, failed, summarize

FIXTURES = Path(__file__).parent.parent / "fixtures" / "plans"
ORDER = ("dev", "staging", "prod")  # this repository's promotion order; prod is the prod tier


def render(plans: list[PlanInput], **kwargs: Any) -> str:
    """core.comment.render for this repository's envs, unless the test says otherwise."""
    kwargs.setdefault("order", ORDER)
    kwargs.setdefault("production", ("prod",))
    return comment.render(plans, **kwargs)


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name / "plan.json").read_text())
    return data


def fixture_input(name: str, env: str, masker: Masker | None = None) -> PlanInput:
    text_path = FIXTURES / name / "plan.txt"
    return PlanInput(summarize(load(name), env, masker=masker),
                     text_path.read_text() if text_path.is_file() else "")


def synthetic(env: str, resources: int, text_lines: int, *, destroy_every: int = 0,
              line: str = "") -> PlanInput:
    """A plan with `resources` changes (every `destroy_every`-th a bucket destroy)."""
    changes = []
    for i in range(resources):
        destroy = destroy_every and i % destroy_every == 0
        changes.append({
            "address": f"module.fleet.aws_s3_bucket.b[\"bucket-{i:05d}\"]",
            "mode": "managed", "type": "aws_s3_bucket", "name": "b",
            "change": {"actions": ["delete"] if destroy else ["create"],
                       "before": {"bucket": f"b{i}"} if destroy else None,
                       "after": None if destroy else {"bucket": f"b{i}"}}})
    plan = {"format_version": "1.2", "terraform_version": "1.11.4",
            "resource_changes": changes}
    lines = [line or f'  + resource "aws_s3_bucket" "b" {{ # {env} line {n:06d}'
             for n in range(text_lines)]
    lines.append(f"Plan: {resources} to add, 0 to change, 0 to destroy.")
    return PlanInput(summarize(plan, env), "\n".join(lines))


# ---------------------------------------------------------------- format, parse back


def test_parse_round_trip() -> None:
    inputs = [fixture_input("creation", "dev"), fixture_input("prod_destroy", "prod"),
              PlanInput(failed("staging", "Error: boom"))]
    body = render(inputs)
    assert body.startswith(MARKER + "\n")
    assert parse_comment(body) == {"dev": inputs[0].summary.plan_hash,
                                   "prod": inputs[1].summary.plan_hash}
    assert comment.parse_comment_plans(body)["staging"] == {"hash": "", "status": "failed"}


@pytest.mark.parametrize(("body", "match"), [
    ("hello", "not an mlops plan comment"),
    ("> " + MARKER + "\n<!-- mlops:plans {} -->", "not an mlops plan comment"),
    (MARKER + "\nno header", "no plans header"),
    (MARKER + "\n<!-- mlops:plans {nope} -->", "not JSON"),
    # Version 2 (fingerprints) is current and version 1 still parses: 3 is unknown.
    (MARKER + '\n<!-- mlops:plans {"v":3,"plans":{}} -->', "version"),
    (MARKER + '\n<!-- mlops:plans {"v":1,"plans":{"dev":{"hash":1}}} -->', "malformed"),
])
def test_parse_rejects_foreign_or_broken_comments(body: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_comment(body)


def test_envs_in_the_promotion_order_given_then_others_alphabetically() -> None:
    inputs = [fixture_input("noop", env) for env in ("zeta", "prod", "alpha", "dev", "staging")]
    body = render(inputs)
    order = re.findall(r"^### (\S+) ", body, re.MULTILINE)
    assert order == ["dev", "staging", "prod", "alpha", "zeta"]
    assert "### dev · ✅ no changes" in body
    # The order is data: another project's promotion order is followed as given.
    body = render(inputs, order=("alpha", "prod", "zeta", "staging", "dev"))
    order = re.findall(r"^### (\S+) ", body, re.MULTILINE)
    assert order == ["alpha", "prod", "zeta", "staging", "dev"]
    body = render(inputs, order=())
    assert re.findall(r"^### (\S+) ", body, re.MULTILINE) == sorted(
        ["zeta", "prod", "alpha", "dev", "staging"])


def test_production_warnings_follow_the_tier_not_the_name() -> None:
    """prod-eu (tier prod) gets the production caution; an env named prod whose tier is
    not prod does not."""
    inputs = [fixture_input("replacement", "prod-eu"), fixture_input("replacement", "prod")]
    body = render(inputs, order=("prod", "prod-eu"), production=("prod-eu",))
    assert "> [!CAUTION]\n> 🛑 **prod-eu** replaces 2 resources: in **production**" in body
    assert "> [!WARNING]\n> ⚠️ **prod** replaces 2 resources." in body
    assert "### prod · ⚠️ 1 to change, 2 to replace" in body
    assert "### prod-eu · 🛑 1 to change, 2 to replace" in body
    head = body[:body.index("### ")]
    assert head.index("**prod-eu**") < head.index("**prod**"), head  # production first


def test_twelve_envs_in_promotion_order_fit_the_budget() -> None:
    """A project with a dozen envs (waves dev+qa, staging, four prods, ...): every section,
    in the promotion order passed in, every warning, and the header, within the limit."""
    order = ("dev", "qa", "perf", "staging", "staging-eu", "prod", "prod-eu", "prod-ap",
             "prod-us2", "dr", "dr-eu", "sandbox")
    production = ("prod", "prod-eu", "prod-ap", "prod-us2", "dr", "dr-eu")
    inputs = [synthetic(env, 1500, 6000, destroy_every=300) for env in reversed(order)]
    body = render(inputs, order=order, production=production)
    assert_fits(body)
    sections = re.findall(r"^### (\S+) ", body, re.MULTILINE)
    assert sections == list(order)
    assert set(parse_comment(body)) == set(order)
    for env in order:
        assert f"**{env}** destroys 5 resources" in body, env
    for env in production:
        assert f"> 🛑 **{env}** destroys 5 resources: in **production**" in body, env


def test_duplicate_env_is_rejected() -> None:
    with pytest.raises(ValueError, match="twice"):
        render([fixture_input("noop", "dev"), fixture_input("creation", "dev")])


def test_sections_show_table_outputs_drift_cost_and_text_plan() -> None:
    body = render([fixture_input("creation", "dev"), fixture_input("outputs", "staging"),
                   fixture_input("drift", "prod")], run_link="https://gh/acme/x/actions/runs/1")
    assert "| 🟢 create | `aws_sagemaker_endpoint_configuration.ec` |" in body
    assert "+$0.11/h (ml.t2.large x1)" not in body  # no price table was passed in
    assert "+$?/h (ml.t2.large x1, price unknown)" in body
    assert "**Output changes (6)**" in body
    assert "| `api_key` | update | `***` | `***` |" in body
    # The drift fixture is a real plan: Terraform shows one of its three drifted buckets.
    assert "1 resource changed outside of Terraform in ways this plan's changes depend on" \
        in body
    assert "<details><summary>Full plan (160 lines)</summary>" in body
    assert "```diff\n" in body
    assert "[workflow run's artifacts](https://gh/acme/x/actions/runs/1)" in body


def test_prices_flow_into_the_cost_line() -> None:
    from mlops.core.cost import PriceTable
    prices = PriceTable("2024-06-01", "s", "us-east-1", "USD", {"ml.t2.large": 0.111,
                                                               "g4dn.xlarge": 0.526})
    body = render([PlanInput(summarize(load("creation"), "dev", prices=prices))])
    assert "+$0.11/h (ml.t2.large x1) `aws_sagemaker_endpoint_configuration.ec`" in body
    assert "**Cost change:** +$0.64/h ≈ +$465.01/month" in body
    assert "as of 2024-06-01" in body


# ---------------------------------------------------------------- warnings


def test_prod_destroy_of_stateful_resources_is_a_caution_at_the_top() -> None:
    body = render([fixture_input("creation", "dev"), fixture_input("prod_destroy", "prod")])
    top = body[: body.index("### dev")]
    assert "## 🛑 Terraform plan" in top
    assert "> [!CAUTION]\n> 🛑 **prod** destroys 4 resources and replaces 1 resource: " \
           "in **production**, 2 stateful resources whose data will be lost, " \
           "1 serving endpoint that will stop serving." in top
    assert "> - destroy `module.storage.aws_s3_bucket.this` — holds data" in top
    assert "### prod · 🛑 1 to replace, 4 to destroy" in body


def test_non_prod_replacement_is_a_warning_and_never_an_add_or_destroy() -> None:
    body = render([fixture_input("replacement", "dev")])
    assert "> [!WARNING]\n> ⚠️ **dev** replaces 2 resources." in body
    assert "**Total:** 1 to change, 2 to replace" in body
    assert "to add" not in body.split("```diff")[0]
    assert "to destroy" not in body.split("```diff")[0]


def test_stateful_destroy_outside_prod_is_still_a_caution() -> None:
    body = render([fixture_input("prod_destroy", "dev")])
    assert "> [!CAUTION]\n> 🛑 **dev** destroys 4 resources and replaces 1 resource: " \
           "2 stateful resources" in body


def test_failed_plan_gets_a_section_with_masked_error() -> None:
    masker = Masker(patterns=masking.compile_patterns([r"ghp_\w+"]))
    error = (FIXTURES / "failed" / "error.txt").read_text()
    body = render([PlanInput(failed("staging", error, masker=masker))], masker=masker)
    assert "### staging · ❌ plan failed" in body
    assert "> ❌ **staging**: the plan failed" in body
    assert "validating provider credentials" in body
    assert "ghp_" not in body and "token=***" in body


@pytest.mark.parametrize(("fixtures", "label"), [
    (["noop"], comment.LABEL_NO_CHANGES),
    (["noop", "creation"], comment.LABEL_CHANGES),
    (["outputs"], comment.LABEL_CHANGES),
    (["drift"], comment.LABEL_CHANGES),
    (["creation", "replacement"], comment.LABEL_DESTROY),
])
def test_label_for(fixtures: list[str], label: str) -> None:
    summaries = [summarize(load(f), f"e{i}") for i, f in enumerate(fixtures)]
    assert comment.label_for(summaries) == label


def test_no_label_for_a_failed_plan() -> None:
    assert comment.label_for([summarize(load("noop"), "dev"), failed("prod", "x")]) is None


# ---------------------------------------------------------------- masking


def test_secrets_never_appear_in_the_body() -> None:
    masker = Masker(patterns=masking.compile_patterns([r"ghp_[A-Za-z0-9]+"]))
    sensitive = load("sensitive")
    masker = masker.with_literals(masking.sensitive_strings(sensitive))
    inputs = [fixture_input("creation", "dev", masker),
              PlanInput(summarize(sensitive, "staging", masker=masker),
                        (FIXTURES / "sensitive" / "plan.txt").read_text()),
              fixture_input("outputs", "prod", masker)]
    body = render(inputs, masker=masker)
    for secret in ("ghp_abcdefSECRET123", "s3cr3t-token-1", "s3cr3t-token-2",
                   "key-OLD-0001", "key-NEW-0002", "pw-OLD-123", "pw-NEW-456"):
        assert secret not in body
    assert '"API_TOKEN" = "***"' in body
    assert "(sensitive value)" in body


def test_final_masking_pass_catches_a_secret_in_an_unmasked_summary() -> None:
    # A summary.json written without the patterns (an older run) still renders masked.
    summary = summarize(load("creation"), "dev")
    leaky = PlanSummary.from_dict({**summary.to_dict(), "resources": [
        {"address": 'aws_ssm_parameter.p["ghp_leakedleaked"]', "action": "create"}]})
    masker = Masker(patterns=masking.compile_patterns([r"ghp_\w+"]))
    body = render([PlanInput(leaky)], masker=masker)
    assert "ghp_leaked" not in body
    assert parse_comment(body) == {"dev": summary.plan_hash}  # the header is untouched


# ---------------------------------------------------------------- size policy


def assert_fits(body: str) -> None:
    assert len(body) <= MAX_BODY
    assert len(body.encode("utf-8")) <= MAX_BODY


def test_small_plans_are_not_cut() -> None:
    body = render([fixture_input("creation", "dev")])
    assert "to fit" not in body and "clipped" not in body


def test_huge_text_plan_keeps_head_tail_and_says_how_much_was_cut() -> None:
    big = synthetic("dev", 10, 40_000)
    body = render([big, fixture_input("prod_destroy", "prod")],
                  run_link="https://gh/a/b/actions/runs/9")
    assert_fits(body)
    assert size_ok(body)
    match = re.search(r"… ([\d,]+) of 40,001 lines cut here", body)
    assert match is not None
    kept = len(re.findall(r"dev line \d{6}", body))
    assert kept + int(match.group(1).replace(",", "")) == 40_000
    assert "dev line 000000" in body  # head
    assert "Plan: 10 to add, 0 to change, 0 to destroy." in body  # tail
    assert body.count("| 🟢 create |") == 10  # tables are not cut while text can give way
    # The small plan's text stays whole: the big one gives way first.
    assert "(because aws_s3_bucket.this is not in configuration)" in body
    assert "🛑 **prod** destroys 4 resources" in body


def size_ok(body: str) -> bool:
    return comment.size(body) <= MAX_BODY


def test_many_envs_thousands_of_resources_fit_with_warnings_intact() -> None:
    envs = ["dev", "staging", "prod", "ml-a", "ml-b", "sandbox"]
    inputs = [synthetic(env, 4000, 20_000, destroy_every=500) for env in envs]
    body = render(inputs, run_link="https://gh/a/b/actions/runs/9")
    assert_fits(body)
    assert set(parse_comment(body)) == set(envs)
    assert "**Total:** 23,952 to add, 48 to destroy" in body
    for env in envs:
        assert f"### {env} · 🛑 3,992 to add, 8 to destroy" in body
        assert f"**{env}** destroys 8 resources" in body
    assert "> 🛑 **prod** destroys 8 resources: in **production**, 8 stateful resources" in body
    assert re.search(r"_… [\d,]+ resource rows cut to fit GitHub's comment size limit; the full "
                     r"plan is in the \[workflow run's artifacts\]\(https://gh/a/b/actions/runs"
                     r"/9\)\._", body)
    # Destroys sort first, so the rows that survive the cut are the dangerous ones.
    first_row = body.split("|---|---|\n", 1)[1].split("\n", 1)[0]
    assert first_row.startswith("| 🔴 destroy |")


def test_dozens_of_envs_with_destroys_still_fit() -> None:
    inputs = [synthetic(f"env{i:02d}", 300, 100, destroy_every=2) for i in range(60)]
    body = render(inputs)
    assert_fits(body)
    assert parse_comment(body).keys() == {f"env{i:02d}" for i in range(60)}


def test_long_lines_and_multibyte_text_fit() -> None:
    inputs = [synthetic("dev", 5, 3000, line="  ~ policy = " + "é" * 5000),
              synthetic("prod", 5, 3000, line="  + tag = " + "🛑" * 3000)]
    body = render(inputs)
    assert_fits(body)
    assert "characters clipped" in body


def test_text_plan_with_backticks_keeps_its_fence() -> None:
    text = 'user_data = <<-EOT\n```\ninside\n```\nEOT'
    body = render([PlanInput(summarize(load("creation"), "dev"), text)])
    assert "````diff\n" in body


@pytest.mark.parametrize("limit", [20_000, 8_000])
def test_smaller_limits_are_honoured(limit: int) -> None:
    body = render([synthetic("dev", 400, 5000), fixture_input("prod_destroy", "prod")],
                  limit=limit)
    assert comment.size(body) <= limit
    assert "🛑 **prod** destroys 4 resources" in body


# ---------------------------------------------------------------- policy gate results


def test_policy_violations_are_alerted_at_the_top_and_never_cut() -> None:
    findings = tuple(comment.PolicyFinding("network", f"aws_security_group.sg{i}",
                                           f"aws_security_group.sg{i}: SSH open to 0.0.0.0/0")
                     for i in range(3))
    plans = [PlanInput(fixture_input("creation", "dev").summary, "x\n" * 200_000,
                       policy=findings),
             PlanInput(fixture_input("creation", "staging").summary, policy=())]
    body = render(plans)
    assert comment.size(body) <= MAX_BODY
    head = body.split("### dev")[0]
    assert "🚫 **dev** fails the policy gate: 3 violations." in head, head
    for finding in findings:
        assert finding.message in head
    assert "policy violations in dev" in head  # in the headline
    assert "policy: passed" in body.split("### staging")[1]
    assert "policy: 3 violations" in body.split("### dev")[1]


def test_policy_not_run_says_nothing_about_policy() -> None:
    body = render([fixture_input("creation", "dev")])
    assert "policy gate" not in body and "policy:" not in body


def test_alerts_are_worst_first_prod_before_a_plain_dev_destroy() -> None:
    dev = synthetic("dev", 4, 10, destroy_every=2)  # bucket destroys in dev
    prod = fixture_input("prod_destroy", "prod")
    body = render([dev, prod])
    head = body.split("### dev")[0]
    assert head.index("**prod**") < head.index("**dev**"), head


# ---------------------------------------------------------------- what Terraform says


def _top(body: str) -> str:
    return body[: body.index("\n### ")]


def test_incomplete_and_not_applyable_plans_say_so_at_the_top() -> None:
    incomplete = summarize(load("deferred"), "staging")
    unapplyable = summarize({**load("creation"), "applyable": False}, "dev")
    body = render([PlanInput(incomplete), PlanInput(unapplyable), fixture_input("noop", "prod")])
    top = _top(body)
    assert "⛔ not applyable: dev" in top and "⏳ incomplete: staging" in top
    assert "> ⛔ **dev**: Terraform marked this plan as not applyable" in top
    assert ("> ⏳ **staging**: this plan is incomplete (`complete: false`): 1 change could "
            "only be planned later. After applying it, plan and apply again.") in top
    assert "### staging · ✅ no current changes, 1 deferred to a later plan · ⏳ incomplete" \
        in body
    assert "| `aws_s3_bucket.per_env` | create | `instance_count_unknown` |" in body
    assert "### prod · ✅ no changes\n" in body  # a no-op plan is not flagged


def test_an_action_only_plan_is_not_no_changes() -> None:
    summary = summarize(load("action_only"), "dev")
    body = render([PlanInput(summary)])
    assert "**Total:** 2 actions to invoke" in body
    assert "### dev · 🟡 2 actions to invoke" in body
    assert "| `action.aws_lambda_invoke.audit` | `after_update of terraform_data.a` |" in body
    assert "no changes" not in body
    assert comment.label_for([summary]) == comment.LABEL_CHANGES


def test_refresh_only_plan_records_outside_changes() -> None:
    body = render([fixture_input("refresh_only", "dev")])
    assert "### dev · 🟡 3 outside changes to record (refresh-only)" in body
    assert "refresh-only plan" in body
    assert "🔎 3 resources changed outside of Terraform (refresh-only" in body


def test_partly_unknown_outputs_render_known_after_apply() -> None:
    body = render([fixture_input("partly_unknown", "dev")])
    assert ('| `object` | create |  | `{"id": (known after apply), "name": "model", '
            '"tags": {"team": "ml"}}` |') in body
