"""core/guard.py: every outcome of the stale-plan guard, one row each (the table in its
docstring and in docs/apply.md), and the approval of a held plan."""

from __future__ import annotations

from typing import Any

import pytest

from mlops.core import guard
from mlops.core.comment import ReviewedPlan
from mlops.core.guard import Outcome, PullFacts

FP = "a" * 64
OTHER = "b" * 64
HEAD = "1" * 40
MERGE = "2" * 40
PULL = PullFacts(number=7, head_sha=HEAD, merged=True)


def reviewed(**changes: Any) -> ReviewedPlan:
    fields: dict[str, Any] = {"env": "dev", "status": "ok", "fingerprint": FP,
                              "commit": HEAD, "items": {}}
    fields.update(changes)
    return ReviewedPlan(**fields)


def decide(**changes: Any) -> guard.Decision:
    facts: dict[str, Any] = {"env": "dev", "commit": MERGE, "pull": PULL,
                             "comment_found": True, "reviewed": reviewed(),
                             "fingerprint": FP, "has_changes": True}
    facts.update(changes)
    return guard.decide(**facts)


@pytest.mark.parametrize(("facts", "outcome", "applies", "said"), [
    ({}, Outcome.APPLY, True, "is the plan reviewed on PR #7"),
    ({"has_changes": False}, Outcome.NOTHING, False, "changes nothing"),
    ({"has_changes": False, "fingerprint": OTHER}, Outcome.NOTHING, False, "changes nothing"),
    ({"fingerprint": OTHER}, Outcome.CHANGED, False, "changed since it was reviewed on PR #7"),
    ({"pull": None}, Outcome.NO_PR, False, "has no pull request (a direct push)"),
    ({"comment_found": False, "reviewed": None}, Outcome.NOT_PLANNED, False,
     "PR #7 has no mlops plan comment"),
    ({"reviewed": None}, Outcome.NOT_PLANNED, False, "plan comment has no plan for dev"),
    ({"reviewed": reviewed(status="failed")}, Outcome.FAILED, False, "failed"),
    ({"reviewed": reviewed(commit="3" * 40)}, Outcome.STALE, False,
     "before the PR's last commit"),
    ({"reviewed": reviewed(fingerprint="")}, Outcome.STALE, False, "records no fingerprint"),
    ({"fingerprint": OTHER, "allow_unreviewed": True}, Outcome.UNREVIEWED, True,
     "applying an unreviewed plan"),
    ({"pull": None, "allow_unreviewed": True}, Outcome.UNREVIEWED, True, "a direct push"),
    # the approve job: only the held plan a reviewer approved, whatever the PR said
    ({"fingerprint": OTHER, "approved": OTHER}, Outcome.APPROVED, True,
     "the plan approved after it was held"),
    ({"fingerprint": OTHER, "approved": OTHER[:12], "pull": None}, Outcome.APPROVED, True,
     "approved after it was held"),
    ({"fingerprint": OTHER, "approved": FP}, Outcome.CHANGED, False,
     "changed again since it was approved"),
    ({"fingerprint": OTHER, "approved": FP, "allow_unreviewed": True}, Outcome.CHANGED, False,
     "changed again since it was approved"),
    ({"has_changes": False, "approved": FP}, Outcome.NOTHING, False, "changes nothing"),
])
def test_each_case_has_its_outcome(facts: dict[str, Any], outcome: Outcome, applies: bool,
                                   said: str) -> None:
    decision = decide(**facts)
    assert (decision.outcome, decision.apply) == (outcome, applies), decision
    assert said in decision.what, decision.what
    assert decision.exit_code == guard.EXIT_CODES[outcome]
    if not applies and outcome != Outcome.NOTHING:
        assert decision.why and decision.fix, decision  # every refusal says why and how


def test_exit_codes_are_distinct_for_every_refusal() -> None:
    refusals = [o for o in Outcome if guard.EXIT_CODES[o] not in (0, 1)]
    assert len({guard.EXIT_CODES[o] for o in refusals}) == len(refusals)
    assert guard.EXIT_CODES[Outcome.CHANGED] == 3


def test_what_counts_as_reviewed_in_the_record() -> None:
    assert decide().reviewed and decide(fingerprint=OTHER, approved=OTHER).reviewed
    assert not decide(fingerprint=OTHER, allow_unreviewed=True).reviewed
    unreviewed = decide(pull=None, allow_unreviewed=True)
    assert unreviewed.refused == Outcome.NO_PR


@pytest.mark.parametrize("value", ["abc", "z" * 12, "a" * 65, "a" * 11])
def test_a_malformed_approved_fingerprint_is_a_clear_error(value: str) -> None:
    from mlops import argtypes
    from mlops.errors import MlopsError

    with pytest.raises(MlopsError, match="is not a plan fingerprint"):
        argtypes.fingerprint(value)


def test_an_approved_fingerprint_is_normalised() -> None:
    from mlops import argtypes

    assert argtypes.fingerprint(f" {FP[:12].upper()} ") == FP[:12]
    assert argtypes.fingerprint("") == ""
