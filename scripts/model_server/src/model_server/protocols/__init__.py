"""Wire protocols, each a router over the one ModelSlot of the process.

    sagemaker   GET /ping, POST /invocations            (SageMaker's container contract)
    v2          /v2/health/*, /v2/models/{m}[/...]      (the Open Inference Protocol v2)

To add one, write `protocols/<name>.py` with `router(slot) -> APIRouter` and add it here.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from model_server.protocols import sagemaker, v2
from model_server.state import ModelSlot

PROTOCOLS: dict[str, Callable[[ModelSlot], APIRouter]] = {
    "sagemaker": sagemaker.router,
    "v2": v2.router,
}
DEFAULT_PROTOCOLS: tuple[str, ...] = tuple(PROTOCOLS)
