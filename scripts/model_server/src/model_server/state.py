"""The one model a server process serves, and where it is in its life.

    loading -> ready -> draining        (SIGTERM: still answering, no longer "ready")
    loading -> failed                   (the artifact cannot be loaded: the process exits 2)

The socket is served from the start, so liveness (`/v2/health/live`) answers at once;
readiness (`/ping`, `/v2/health/ready`, `/v2/models/{m}/ready`) is true only between
loading and draining. Kubernetes routes traffic to a pod only while its readiness probe
passes, so a pod that is still loading, or that received SIGTERM, gets no new requests
from the Service, while the requests it already has are answered.

Protocol routers read the slot on every request: `slot.predictor()` gives the loaded
Predictor or raises NotReady (503); `await slot.predict(rows)` predicts through the
adaptive batcher (batching.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from model_server.batching import Batcher, BatchObserver
from model_server.predictor import Predictor

LOADING, READY, DRAINING, FAILED = "loading", "ready", "draining", "failed"
DEFAULT_NAME = "model"


class NotReady(Exception):
    """No model to answer with (loading or failed): 503 with this message."""


@dataclass
class ModelSlot:
    name: str = DEFAULT_NAME
    _predictor: Predictor | None = None
    _batcher: Batcher | None = None
    batch_observer: BatchObserver | None = None
    _phase: str = LOADING
    _failure: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def serving(cls, predictor: Predictor, name: str = DEFAULT_NAME) -> ModelSlot:
        """A slot whose model is already loaded (tests, benchmarks, batch)."""
        slot = cls(name=name)
        slot.loaded(predictor)
        return slot

    @property
    def phase(self) -> str:
        return self._phase

    @property
    def ready(self) -> bool:
        return self._phase == READY

    @property
    def failure(self) -> str | None:
        return self._failure

    @property
    def version(self) -> str | None:
        """The model's version: the first 12 hex digits of its manifest's model_sha256 (the
        skops file's digest, as /ping shows it); None until loaded."""
        return self._predictor.manifest.model_sha256[:12] if self._predictor else None

    def loaded(self, predictor: Predictor) -> None:
        with self._lock:
            self._batcher = Batcher(predictor, observer=self.batch_observer)
            self._predictor = predictor
            if self._phase == LOADING:
                self._phase = READY

    def failed(self, reason: str) -> None:
        with self._lock:
            self._failure = reason
            self._phase = FAILED

    def drain(self) -> None:
        """SIGTERM: readiness turns false; requests are still answered."""
        with self._lock:
            if self._phase in (LOADING, READY):
                self._phase = DRAINING

    async def predict(self, rows: list[list[float]]) -> list[Any]:
        """Predictions through the batcher (NotReady, RequestError, ModelFailure)."""
        self.predictor()
        assert self._batcher is not None
        return await self._batcher.predict(rows)

    def predictor(self) -> Predictor:
        found = self._predictor
        if found is None:
            if self._phase == FAILED:
                raise NotReady(f"the model could not be loaded: {self._failure}")
            raise NotReady("the model is still loading; retry when the readiness probe passes")
        return found
