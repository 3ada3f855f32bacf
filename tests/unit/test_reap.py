"""The cost reaper's decisions (mlops.core.reap), as tables of literal resources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops.core import cost, reap
from mlops.core.reap import EnvPolicy, Resource, Rules, Verdict

NOW = datetime(2026, 1, 15, 20, 0, tzinfo=UTC)
POLICIES = {
    "dev": EnvPolicy("dev", reapable=True, protected=False, max_age_hours=12),
    "staging": EnvPolicy("staging", reapable=True, protected=False, max_age_hours=72),
    "prod": EnvPolicy("prod", reapable=False, protected=True, max_age_hours=None),
    "prod-eu": EnvPolicy("prod-eu", reapable=False, protected=True, max_age_hours=None),
}
PRICES = cost.PriceTable("2024-06-01", "test", "us-east-1", "USD",
                         {"ml.t2.medium": 0.056, "g4dn.xlarge": 0.526})


def tags(env: str = "dev", **extra: str) -> dict[str, str]:
    return {"env": env, "owner": "ml-platform", "cost": "ml", "project": "mlops-demo", **extra}


def endpoint(name: str = "mlops-demo-dev-churn", *, age_h: float = 1, deployed_h: float = 1,
             tag: dict[str, str] | None = None) -> Resource:
    return Resource("endpoint", name, name, tags() if tag is None else tag,
                    created=NOW - timedelta(hours=age_h),
                    deployed=NOW - timedelta(hours=deployed_h),
                    instances=(("ml.t2.medium", 1),))


def decide(resources: list[Resource], *, named: tuple[str, ...] = (), **rules: Any,
           ) -> list[reap.Decision]:
    rules.setdefault("grace", timedelta(0))
    swept = reap.scope(POLICIES, named)
    return reap.decide(resources, "mlops-demo", POLICIES, swept, Rules(now=NOW, **rules),
                       PRICES)


def one(resource: Resource, **kwargs: Any) -> reap.Decision:
    [decision] = decide([resource], **kwargs)
    return decision


PAST = "2026-01-15T18:00:00Z"
FUTURE = "2026-01-16T06:00:00Z"

CASES = [
    ("young, tagged, ttl not reached", endpoint(tag=tags(ttl_hours="8")), {},
     Verdict.OK, ""),
    ("expires_at passed", endpoint(tag=tags(expires_at=PAST)), {},
     Verdict.REAP, f"expires_at {PAST} has passed"),
    ("expires_at in the future", endpoint(tag=tags(expires_at=FUTURE)), {}, Verdict.OK, ""),
    ("ttl_hours exceeded since the last deployment",
     endpoint(age_h=10, deployed_h=9, tag=tags(ttl_hours="8")), {},
     Verdict.REAP, "ttl_hours 8: last deployed 9.0 h ago"),
    ("ttl counts from the last deployment, not creation",
     endpoint(age_h=10, deployed_h=2, tag=tags(ttl_hours="8")), {}, Verdict.OK, ""),
    ("older than dev's maximum age (12 h)", endpoint(age_h=13), {},
     Verdict.REAP, "older than dev's maximum age (12.0 h): up 13.0 h"),
    ("staging allows 72 h", endpoint("mlops-demo-staging-churn", age_h=13,
                                     tag=tags("staging")), {}, Verdict.OK, ""),
    ("--max-age replaces the env's maximum age",
     endpoint("mlops-demo-staging-churn", age_h=2, tag=tags("staging")),
     {"max_age": timedelta(hours=1)}, Verdict.REAP, "older than --max-age (1.0 h): up 2.0 h"),
    ("lost the cost tag", endpoint(tag={"env": "dev", "owner": "ml-platform",
                                        "project": "mlops-demo"}), {},
     Verdict.REAP, "lost the required tag(s) cost"),
    ("lost every tag: the name says dev", endpoint(tag={}), {},
     Verdict.REAP, "lost the required tag(s) env, owner, cost"),
    ("a blank tag is a lost tag", endpoint(tag=tags(owner=" ")), {},
     Verdict.REAP, "lost the required tag(s) owner"),
    ("opted out with a reason", endpoint(tag=tags(expires_at=PAST,
                                                  **{"mlops:reaper-keep": "demo for ACME"})),
     {}, Verdict.KEPT, "kept: mlops:reaper-keep = 'demo for ACME'"),
    ("an opt-out without a reason is not honoured",
     endpoint(tag=tags(expires_at=PAST, **{"mlops:reaper-keep": ""})), {},
     Verdict.REAP, f"expires_at {PAST} has passed"),
    ("within the grace period: due, with the time it goes",
     endpoint(tag=tags(expires_at=PAST)), {"grace": timedelta(hours=3)},
     Verdict.DUE, f"expires_at {PAST} has passed"),
    ("past the grace period", endpoint(tag=tags(expires_at=PAST)),
     {"grace": timedelta(hours=1)}, Verdict.REAP, ""),
    ("a named protected env is swept",
     endpoint("mlops-demo-prod-churn", tag=tags("prod", expires_at=PAST)), {"named": ("prod",)},
     Verdict.REAP, "has passed"),
    ("a named protected env has no maximum age", endpoint("mlops-demo-prod-churn", age_h=500,
                                                          tag=tags("prod")),
     {"named": ("prod",)}, Verdict.OK, ""),
    ("an unreadable expires_at is ignored, with a note",
     endpoint(tag=tags(expires_at="tomorrow")), {}, Verdict.OK, ""),
    ("an unreadable ttl_hours is ignored, with a note", endpoint(tag=tags(ttl_hours="-3")),
     {}, Verdict.OK, ""),
]


@pytest.mark.parametrize(("resource", "kwargs", "verdict", "why"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decisions(resource: Resource, kwargs: dict[str, Any], verdict: Verdict,
                   why: str) -> None:
    decision = one(resource, **kwargs)
    assert decision.verdict is verdict, decision
    assert why in "; ".join(decision.reasons), decision.reasons


def test_the_grace_period_counts_from_the_earliest_deadline() -> None:
    resource = endpoint(age_h=14, tag=tags(expires_at=PAST))  # max age passed at 18:00 too
    decision = one(resource, grace=timedelta(hours=3))
    assert decision.verdict is Verdict.DUE
    assert decision.reap_at == datetime(2026, 1, 15, 21, 0, tzinfo=UTC)  # 18:00 + 3 h
    assert len(decision.reasons) == 2


def test_notes_say_which_tag_was_ignored_and_why() -> None:
    assert "is not an RFC 3339 UTC time" in one(endpoint(tag=tags(expires_at="soon"))).notes[0]
    assert "not a positive number" in one(endpoint(tag=tags(ttl_hours="x"))).notes[0]
    empty = one(endpoint(tag=tags(expires_at=PAST, **{"mlops:reaper-keep": " "})))
    assert "has no reason" in empty.notes[0]


def test_protected_and_foreign_resources_are_not_judged() -> None:
    found = decide([
        endpoint("mlops-demo-prod-churn", tag=tags("prod", expires_at=PAST)),
        endpoint("someone-elses-endpoint", tag={}),  # no env tag, not our name
        endpoint("other-dev-churn", tag={**tags(expires_at=PAST), "project": "other"}),
        endpoint("mlops-demo-qa-churn", tag=tags("qa", expires_at=PAST)),  # not an env of ours
        endpoint(tag=tags(expires_at=PAST)),
    ])
    assert [(d.resource.id, d.verdict) for d in found] == [
        ("mlops-demo-dev-churn", Verdict.REAP)]


def test_named_envs_are_the_only_ones_swept() -> None:
    found = decide([endpoint(tag=tags(expires_at=PAST)),
                    endpoint("mlops-demo-prod-churn", tag=tags("prod", expires_at=PAST))],
                   named=("prod",))
    assert [d.env for d in found] == ["prod"]


OURS = {"project": "mlops-demo"}


@pytest.mark.parametrize(("name", "tag", "env"), [
    ("mlops-demo-dev-churn", {}, "dev"),  # every tag lost: the name says whose
    ("mlops-demo-prod-eu-churn", {}, "prod-eu"),  # the longest prefix, not prod
    ("mlops-demo-prod-churn", {}, "prod"),
    ("anything", {**OURS, "env": "staging"}, "staging"),  # the tags win over the name
    ("mlops-demo-dev-churn", {**OURS, "env": "prod"}, "prod"),
    ("mlops-demo-dev-churn", {**OURS, "env": "qa"}, None),  # an env we do not have
    ("mlops-demo-dev-churn", {"env": "dev"}, "dev"),  # project tag lost: the name says ours
    ("other-dev-churn", {}, None),
    ("other-dev-churn", {"env": "dev"}, None),  # another project's dev, sharing the account
    ("mlops-demo-dev-churn", {"project": "other", "env": "dev"}, None),
    ("anything", {**OURS}, None),  # ours, but no env to be found
])
def test_attribution(name: str, tag: dict[str, str], env: str | None) -> None:
    assert reap.attribute(endpoint(name, tag=tag), "mlops-demo", POLICIES) == env


def test_the_cap_reaps_the_most_overdue_first() -> None:
    older = endpoint("mlops-demo-dev-a", tag=tags(expires_at="2026-01-15T10:00:00Z"))
    newer = endpoint("mlops-demo-dev-b", tag=tags(expires_at="2026-01-15T19:00:00Z"))
    middle = endpoint("mlops-demo-dev-c", tag=tags(expires_at="2026-01-15T15:00:00Z"))
    found = {d.resource.id: d.verdict for d in decide([newer, older, middle], cap=2)}
    assert found == {"mlops-demo-dev-a": Verdict.REAP, "mlops-demo-dev-c": Verdict.REAP,
                     "mlops-demo-dev-b": Verdict.CAPPED}
    assert {d.verdict for d in decide([older], cap=0)} == {Verdict.CAPPED}


def test_scope_without_names_is_the_reapable_unprotected_envs() -> None:
    assert reap.scope(POLICIES) == ("dev", "staging")
    assert reap.scope(POLICIES, ["prod", "dev"]) == ("dev", "prod")
    unprotected_prod = {"prod": EnvPolicy("prod", reapable=True, protected=True,
                                          max_age_hours=1)}
    assert reap.scope(unprotected_prod) == ()


@pytest.mark.parametrize(("text", "seconds"), [
    ("12h", 43200), ("90m", 5400), ("1d12h", 129600), ("30s", 30), ("1.5h", 5400),
    ("0", 0), ("1", None), (" 2H ", 7200), ("0s", 0),
])
def test_parse_duration(text: str, seconds: int | None) -> None:
    if seconds is None:
        with pytest.raises(ValueError, match="is not a duration"):
            reap.parse_duration(text)
    else:
        assert reap.parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "12", "h", "12x", "-1h", "1h-", "twelve hours"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        reap.parse_duration(text)


@pytest.mark.parametrize(("itype", "accelerated"), [
    ("g4dn.xlarge", True), ("g5.2xlarge", True), ("p3.2xlarge", True), ("p5.48xlarge", True),
    ("inf2.xlarge", True), ("trn1.2xlarge", True), ("dl1.24xlarge", True),
    ("gr6.4xlarge", True), ("t3.micro", False), ("m5.large", False), ("c5.xlarge", False),
    ("r6g.large", False),
])
def test_accelerated_instance_types(itype: str, accelerated: bool) -> None:
    assert reap.is_accelerated(itype) is accelerated


def _instance(**kwargs: Any) -> Resource:
    return Resource("instance", "i-0abc", "mlops-demo-dev-trainer", tags(**kwargs),
                    created=NOW - timedelta(hours=14), deployed=NOW - timedelta(hours=14),
                    instances=(("g4dn.xlarge", 1),))


def test_report_says_what_was_done_and_the_cost_stopped() -> None:
    decisions = decide([
        endpoint(tag=tags(expires_at=PAST)),
        _instance(),
        endpoint("mlops-demo-dev-keep", tag=tags(expires_at=PAST,
                                                 **{"mlops:reaper-keep": "customer demo"})),
        endpoint("mlops-demo-dev-fine"),
    ])
    outcomes = tuple(reap.Outcome(d, done=True) for d in decisions
                     if d.verdict is Verdict.REAP)
    text = reap.render(reap.Report(("dev", "staging"), NOW, tuple(decisions), outcomes))
    assert "## Cost reaper: dev, staging\n" in text
    assert "4 resource(s) checked at 2026-01-15T20:00:00Z: reaped 2" in text
    assert "-$0.58/h ≈ -$424.86/month stopped" in text  # 0.056 + 0.526
    assert ("| deleted | dev | endpoint mlops-demo-dev-churn | expires_at " in text
            and "| -$0.06/h (ml.t2.medium x1) |" in text)
    assert "| stopped | dev | instance i-0abc (mlops-demo-dev-trainer) | older than dev's" in text
    assert "| kept | dev | endpoint mlops-demo-dev-keep |" in text
    assert "| $0.06/h (ml.t2.medium x1) |" in text  # what the kept one goes on costing
    assert "mlops-demo-dev-fine" not in text  # within its limits: counted, not listed
    assert "keeps its endpoint configurations and models" in text


def test_a_dry_run_report_says_nothing_changed() -> None:
    decisions = decide([endpoint(tag=tags(expires_at=PAST))])
    text = reap.render(reap.Report(("dev",), NOW, tuple(decisions), dry_run=True))
    assert "(dry run: nothing changed)" in text
    assert "| would delete | dev |" in text
    assert "would reap 1, -$0.06/h ≈ -$40.88/month stopped" in text


def test_a_failed_reap_is_reported_and_stops_no_cost() -> None:
    decisions = decide([endpoint(tag=tags(expires_at=PAST))])
    report = reap.Report(("dev",), NOW, tuple(decisions),
                         (reap.Outcome(decisions[0], done=False, error="AccessDenied"),))
    text = reap.render(report)
    assert "| FAILED to delete | dev |" in text and "**Failed**" in text
    assert report.stopped().hourly == 0


def test_an_unknown_price_is_unknown_not_zero() -> None:
    resource = Resource("endpoint", "mlops-demo-dev-x", "mlops-demo-dev-x",
                        tags(expires_at=PAST), created=NOW, deployed=NOW,
                        instances=(("ml.p5.48xlarge", 2),))
    [decision] = decide([resource])
    assert decision.cost[0].hourly_each is None
    assert "price unknown" in reap.render(reap.Report(("dev",), NOW, (decision,), dry_run=True))
