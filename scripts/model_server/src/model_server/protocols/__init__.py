"""Wire protocols, each a router over the shared Predictor.

To add one (e.g. the Open Inference Protocol v2: /v2/health/live, /v2/health/ready,
/v2/models/{m}, /v2/models/{m}/ready, /v2/models/{m}/infer), write
`protocols/<name>.py` with `router(predictor) -> APIRouter` and add it here.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from model_server.predictor import Predictor
from model_server.protocols import sagemaker

PROTOCOLS: dict[str, Callable[[Predictor], APIRouter]] = {
    "sagemaker": sagemaker.router,
}
