"""The price table packaged with mlops (mlops/data/prices.yaml), read and validated."""

from __future__ import annotations

from importlib import resources

import yaml

from mlops.core import cost
from mlops.errors import MlopsError


def load_prices() -> cost.PriceTable:
    text = resources.files("mlops").joinpath("data/prices.yaml").read_text(encoding="utf-8")
    try:
        return cost.parse_prices(yaml.safe_load(text))
    except ValueError as err:
        raise MlopsError("the packaged price table mlops/data/prices.yaml is invalid", str(err),
                         "fix scripts/mlops/data/prices.yaml") from err
