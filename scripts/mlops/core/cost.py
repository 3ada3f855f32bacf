"""ML-aware hourly cost delta of a plan: SageMaker endpoint variants and EC2 instances. Pure.

Prices come from the small table in `mlops/data/prices.yaml` (us-east-1 on-demand), loaded by
the command and passed in. A type missing from the table is "price unknown", never zero.
An endpoint configuration is priced as if an endpoint uses it (that is what it is for).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

HOURS_PER_MONTH = 730
UNKNOWN_TYPE = "(known after apply)"


@dataclass(frozen=True)
class PriceTable:
    as_of: str
    source: str
    region: str
    currency: str
    hourly: Mapping[str, float] = field(default_factory=dict)


def parse_prices(data: Any) -> PriceTable:
    """Validate the parsed prices.yaml. Raises ValueError naming the bad entry."""
    if not isinstance(data, Mapping):
        raise ValueError("prices.yaml must be a mapping with as_of, source, region, hourly")
    for key in ("as_of", "source", "region", "hourly"):
        if key not in data:
            raise ValueError(f"prices.yaml has no {key!r}")
    hourly_raw = data["hourly"]
    if not isinstance(hourly_raw, Mapping):
        raise ValueError("prices.yaml 'hourly' must map instance type -> USD per hour")
    hourly: dict[str, float] = {}
    for name, price in hourly_raw.items():
        if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
            raise ValueError(f"prices.yaml hourly[{name!r}] = {price!r} is not a price")
        hourly[str(name)] = float(price)
    return PriceTable(
        as_of=str(data["as_of"]), source=str(data["source"]), region=str(data["region"]),
        currency=str(data.get("currency", "USD")), hourly=hourly,
    )


@dataclass(frozen=True)
class CostLine:
    """`count` instances of `instance_type` added (> 0) or removed (< 0) at `address`."""

    address: str
    instance_type: str
    count: int
    hourly_each: float | None  # None: price unknown

    @property
    def hourly(self) -> float | None:
        return None if self.hourly_each is None else self.hourly_each * self.count

    def render(self) -> str:
        what = f"{self.instance_type} x{abs(self.count)}"
        if self.hourly is None:
            return f"{'+' if self.count > 0 else '-'}$?/h ({what}, price unknown)"
        return f"{money(self.hourly)}/h ({what})"

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "instance_type": self.instance_type,
                "count": self.count, "hourly_each": self.hourly_each}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostLine:
        each = data.get("hourly_each")
        return cls(address=str(data["address"]), instance_type=str(data["instance_type"]),
                   count=int(data["count"]), hourly_each=None if each is None else float(each))


def money(amount: float) -> str:
    """+$0.11 / -$3.06 / $0.00"""
    rounded = round(amount, 2)
    if rounded == 0:
        return "$0.00"
    return f"{'+' if rounded > 0 else '-'}${abs(rounded):,.2f}"


def _variants(value: Mapping[str, Any], unknown: Any) -> Iterable[tuple[str, int]]:
    for key in ("production_variants", "shadow_production_variants"):
        variants = value.get(key) or []
        unknown_list = unknown.get(key) if isinstance(unknown, Mapping) else None
        for i, variant in enumerate(variants):
            if not isinstance(variant, Mapping):
                continue
            u = unknown_list[i] if isinstance(unknown_list, list) and i < len(unknown_list) else {}
            itype = variant.get("instance_type")
            if itype is None and not (isinstance(u, Mapping) and u.get("instance_type")):
                continue  # serverless variant: billed per request, not per hour
            count = variant.get("initial_instance_count")
            yield (str(itype) if itype else UNKNOWN_TYPE,
                   int(count) if isinstance(count, int) and count >= 0 else 1)


def _instances(rtype: str, value: Any, unknown: Any) -> Counter[str]:
    """Instance type -> how many, for one side (before or after) of a resource change."""
    found: Counter[str] = Counter()
    if not isinstance(value, Mapping):
        return found
    itype_unknown = isinstance(unknown, Mapping) and unknown.get("instance_type") is True
    if rtype == "aws_sagemaker_endpoint_configuration":
        for itype, count in _variants(value, unknown):
            found[itype] += count
    elif rtype in ("aws_instance", "aws_sagemaker_notebook_instance"):
        ec2_type = value.get("instance_type")
        if ec2_type or itype_unknown:
            found[str(ec2_type) if ec2_type else UNKNOWN_TYPE] += 1
    elif rtype == "aws_eks_node_group":
        types = value.get("instance_types") or []
        scaling = value.get("scaling_config") or [{}]
        desired = scaling[0].get("desired_size") if isinstance(scaling[0], Mapping) else None
        if types:
            found[str(types[0])] += int(desired) if isinstance(desired, int) else 1
    return found


PRICED_TYPES = frozenset({
    "aws_sagemaker_endpoint_configuration", "aws_instance",
    "aws_sagemaker_notebook_instance", "aws_eks_node_group",
})


def cost_lines(resource_changes: Sequence[Mapping[str, Any]],
               prices: PriceTable | None) -> list[CostLine]:
    """Instances added and removed by the plan, priced. An update that changes the instance
    type shows as the old type removed and the new one added."""
    lines: list[CostLine] = []
    hourly = prices.hourly if prices is not None else {}
    for rc in resource_changes:
        rtype = str(rc.get("type", ""))
        change = rc.get("change") or {}
        actions = change.get("actions") or []
        if rtype not in PRICED_TYPES or rc.get("mode", "managed") != "managed":
            continue
        if not set(actions) & {"create", "delete", "update"}:
            continue
        before = _instances(rtype, change.get("before"), None)
        after = _instances(rtype, change.get("after"), change.get("after_unknown"))
        address = str(rc.get("address", ""))
        for itype in sorted(set(before) | set(after)):
            delta = after[itype] - before[itype]
            if delta:
                lines.append(CostLine(address, itype, delta, hourly.get(itype)))
    lines.sort(key=lambda line: (line.address, line.count > 0, line.instance_type))
    return lines


@dataclass(frozen=True)
class CostTotal:
    hourly: float
    unknown: int  # lines whose price is unknown, not included in `hourly`

    @property
    def monthly(self) -> float:
        return self.hourly * HOURS_PER_MONTH

    def render(self) -> str:
        text = f"{money(self.hourly)}/h ≈ {money(self.monthly)}/month"
        if self.unknown:
            text += f" (not counting {self.unknown} with price unknown)"
        return text


def total(lines: Iterable[CostLine]) -> CostTotal:
    hourly = 0.0
    unknown = 0
    for line in lines:
        if line.hourly is None:
            unknown += 1
        else:
            hourly += line.hourly
    return CostTotal(hourly, unknown)
