"""core/cost.py: the ML-aware hourly cost line, and the packaged price table."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops.core import cost
from mlops.core.cost import CostLine, PriceTable

FIXTURES = Path(__file__).parent.parent / "fixtures" / "plans"
PRICES = PriceTable(as_of="2024-06-01", source="test", region="us-east-1", currency="USD",
                    hourly={"ml.t2.medium": 0.056, "ml.t2.large": 0.111, "ml.g5.xlarge": 1.408,
                            "ml.m5.large": 0.115, "g4dn.xlarge": 0.526, "t3.medium": 0.0416,
                            "t3.micro": 0.0104})


def changes(name: str) -> list[dict[str, Any]]:
    rcs: list[dict[str, Any]] = json.loads((FIXTURES / name / "plan.json").read_text())[
        "resource_changes"]
    return rcs


def test_creation_prices_endpoint_variants_and_gpu_instances() -> None:
    lines = cost.cost_lines(changes("creation"), PRICES)
    assert [line.render() for line in lines] == ["+$0.53/h (g4dn.xlarge x1)",
                                                 "+$0.11/h (ml.t2.large x1)"]
    total = cost.total(lines)
    assert total.hourly == pytest.approx(0.637)
    assert total.render() == "+$0.64/h ≈ +$465.01/month"


def test_type_change_is_old_removed_and_new_added() -> None:
    lines = {(line.address, line.instance_type): line
             for line in cost.cost_lines(changes("replacement"), PRICES)}
    ep = "module.serving.aws_sagemaker_endpoint_configuration.this"
    assert lines[(ep, "ml.t2.medium")].count == -1
    assert lines[(ep, "ml.g5.xlarge")].count == 2
    assert lines[(ep, "ml.g5.xlarge")].render() == "+$2.82/h (ml.g5.xlarge x2)"
    assert lines[(ep, "ml.t2.medium")].render() == "-$0.06/h (ml.t2.medium x1)"
    assert lines[("aws_instance.trainer", "t3.medium")].count == -1
    assert lines[("aws_instance.trainer", "g4dn.xlarge")].count == 1


def test_unknown_type_is_price_unknown_not_zero() -> None:
    lines = [line for line in cost.cost_lines(changes("replacement"), PRICES)
             if line.instance_type == "x9.mega"]
    assert lines[0].hourly is None
    assert lines[0].render() == "+$?/h (x9.mega x1, price unknown)"
    total = cost.total(cost.cost_lines(changes("replacement"), PRICES))
    assert total.unknown == 1 and "(not counting 1 with price unknown)" in total.render()


def test_without_a_price_table_everything_is_unknown() -> None:
    lines = cost.cost_lines(changes("creation"), None)
    assert [line.hourly for line in lines] == [None, None]


def test_destroy_removes_and_serverless_variants_are_skipped() -> None:
    lines = cost.cost_lines(changes("prod_destroy"), PRICES)
    assert [(line.instance_type, line.count) for line in lines] == [("ml.m5.large", -2)]
    assert lines[0].render() == "-$0.23/h (ml.m5.large x2)"


def test_no_op_and_unchanged_type_cost_nothing() -> None:
    rc: dict[str, Any] = {"address": "aws_instance.a", "type": "aws_instance", "mode": "managed",
          "change": {"actions": ["update"], "before": {"instance_type": "t3.micro", "tags": {}},
                     "after": {"instance_type": "t3.micro", "tags": {"a": "b"}}}}
    assert cost.cost_lines([rc], PRICES) == []
    rc["change"]["actions"] = ["no-op"]
    assert cost.cost_lines([rc], PRICES) == []


def test_instance_type_known_after_apply() -> None:
    rc = {"address": "aws_instance.a", "type": "aws_instance", "mode": "managed",
          "change": {"actions": ["create"], "before": None, "after": {"ami": "x"},
                     "after_unknown": {"instance_type": True}}}
    [line] = cost.cost_lines([rc], PRICES)
    assert (line.instance_type, line.hourly) == (cost.UNKNOWN_TYPE, None)


@pytest.mark.parametrize(("amount", "text"), [
    (0.111, "+$0.11"), (-3.06, "-$3.06"), (0.001, "$0.00"), (1234.5, "+$1,234.50")])
def test_money(amount: float, text: str) -> None:
    assert cost.money(amount) == text


def test_cost_line_round_trip() -> None:
    for line in (CostLine("a", "ml.t2.large", 1, 0.111), CostLine("b", "x", -2, None)):
        assert CostLine.from_dict(json.loads(json.dumps(line.to_dict()))) == line


def test_packaged_price_table_is_valid_and_sourced() -> None:
    text = resources.files("mlops").joinpath("data/prices.yaml").read_text()
    table = cost.parse_prices(yaml.safe_load(text))
    assert table.region == "us-east-1" and table.currency == "USD"
    assert table.as_of and "https://aws.amazon.com/" in table.source
    for gpu in ("g4dn.xlarge", "g5.xlarge", "p3.2xlarge", "ml.g5.xlarge", "ml.t2.large"):
        assert table.hourly[gpu] > 0
    assert table.hourly["g4dn.xlarge"] == 0.526
    assert table.hourly["p3.2xlarge"] == 3.06


@pytest.mark.parametrize(("data", "match"), [
    ([], "mapping"),
    ({"as_of": "x", "source": "y", "region": "z"}, "hourly"),
    ({"as_of": "x", "source": "y", "region": "z", "hourly": {"t3.micro": "cheap"}}, "t3.micro"),
    ({"as_of": "x", "source": "y", "region": "z", "hourly": {"t3.micro": -1}}, "t3.micro"),
])
def test_parse_prices_rejects_bad_tables(data: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cost.parse_prices(data)
