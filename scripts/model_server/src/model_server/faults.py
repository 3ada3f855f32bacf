"""Fault injection that lives in the artifact as data.

`mlops train --fault error-rate=R|latency-ms=M` wraps the estimator in FaultInjected and
serializes it like any model. The artifact holds only numbers; the behaviour is this
module's code, on the server's trusted-type list. So a fault-injected build fails for
real (HTTP 500 from the server, ModelError from SageMaker) while loading it still runs
nothing from the artifact.

Failures are spread evenly and deterministically: request i (0-based, per process) fails
when floor((i+1)*R) > floor(i*R), so exactly R of any run of requests fails.
"""

from __future__ import annotations

import threading
import time
from typing import Any

MAX_LATENCY_MS = 60_000  # SageMaker gives a model 60 s to answer
_SCALE = 10_000  # error_rate resolution: 0.01 %


class InjectedFault(RuntimeError):
    """The deliberate failure of a fault-injected build."""


class FaultInjected:
    """An estimator wrapper that fails a fraction of predictions, or answers slowly."""

    def __init__(self, model: Any, error_rate: float = 0.0, latency_ms: int = 0) -> None:
        self.model = model
        self.error_rate = float(error_rate)
        self.latency_ms = int(latency_ms)
        self.validate()
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._served = 0

    # skops saves __getstate__'s result and restores through __setstate__: data only.
    def __getstate__(self) -> dict[str, Any]:
        return {"model": self.model, "error_rate": self.error_rate,
                "latency_ms": self.latency_ms}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.model = state["model"]
        self.error_rate = float(state["error_rate"])
        self.latency_ms = int(state["latency_ms"])
        self._reset()

    def validate(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"FaultInjected.error_rate {self.error_rate} is not in [0, 1]")
        if not 0 <= self.latency_ms <= MAX_LATENCY_MS:
            raise ValueError(f"FaultInjected.latency_ms {self.latency_ms} is not in "
                             f"[0, {MAX_LATENCY_MS}]")
        if not callable(getattr(self.model, "predict", None)):
            raise ValueError("FaultInjected wraps something that cannot predict")

    def describe(self) -> dict[str, Any]:
        return {"error_rate": self.error_rate, "latency_ms": self.latency_ms}

    def _fails(self) -> tuple[bool, int]:
        rate = round(self.error_rate * _SCALE)
        with self._lock:
            index = self._served
            self._served += 1
        return ((index + 1) * rate) // _SCALE > (index * rate) // _SCALE, index

    def predict(self, features: Any) -> Any:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        failed, index = self._fails()
        if failed:
            raise InjectedFault(
                f"injected fault: this build fails {self.error_rate:.0%} of requests "
                f"(request {index} of this process)")
        return self.model.predict(features)
