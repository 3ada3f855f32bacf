"""Plan directories are input: downloaded artifacts, files a user points at. Whatever JSON
they hold, the core either reads it or raises ValueError saying what is wrong (which the
commands turn into an `error:` with a fix): never another exception, which the CLI would
report as an internal error. Property tests (hypothesis) over arbitrary and mutated JSON.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops.core import masking, plansummary
from mlops.core.masking import Masker
from mlops.core.plansummary import PlanSummary

FIXTURES = Path(__file__).parent.parent / "fixtures" / "plans"
PLANS = {p.parent.name: json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*/plan.json"))}

JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=12), st.sampled_from(["1.2", "create", "delete", "no-op",
                                                      "update", "read", "forget"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=20)
SETTINGS = settings(max_examples=250, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, sub in value.items():
            out += _paths(sub, (*path, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            out += _paths(sub, (*path, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, documents: dict[str, Any]) -> Any:
    """A real document with a few of its values (at any depth) replaced by arbitrary JSON."""
    doc = copy.deepcopy(documents[draw(st.sampled_from(sorted(documents)))])
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = draw(JSON)
    return doc


def _summarize(plan: Any) -> None:
    try:
        summary = plansummary.summarize(plan, "dev", masker=Masker())
    except ValueError:
        return
    # What was summarised is a summary.json that reads back.
    assert plansummary.PlanSummary.from_dict(json.loads(json.dumps(summary.to_dict()))) \
        == summary


@SETTINGS
@given(plan=JSON)
def test_summarize_any_json(plan: Any) -> None:
    _summarize(plan)


@SETTINGS
@given(plan=mutated(PLANS))
def test_summarize_mutated_real_plans(plan: Any) -> None:
    _summarize(plan)


@SETTINGS
@given(plan=st.one_of(JSON, mutated(PLANS)))
def test_sensitive_strings_of_any_json(plan: Any) -> None:
    found = masking.sensitive_strings(plan)
    assert all(isinstance(s, str) for s in found)


SUMMARIES = {name: plansummary.summarize(plan, "dev").to_dict() for name, plan in PLANS.items()}


@SETTINGS
@given(data=st.one_of(JSON, mutated(SUMMARIES)))
def test_summary_json_is_read_or_refused(data: Any) -> None:
    try:
        summary = plansummary.PlanSummary.from_dict(data)
    except ValueError as err:
        assert str(err), "the error must say what is wrong"
        return
    assert PlanSummary.from_dict(json.loads(json.dumps(summary.to_dict()))) == summary
