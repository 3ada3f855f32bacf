"""Adaptive batching (model_server.batching) on a real Predictor: concurrent requests share
model calls, each gets exactly its own predictions, a request that breaks the model fails
alone, and a fault-injected build is never batched."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from model_server.artifact import LoadedModel, Manifest
from model_server.batching import Batcher
from model_server.faults import FaultInjected, InjectedFault
from model_server.predictor import ModelFailure, Predictor, RequestError


class Echo:
    """An estimator that predicts each row's first feature, and counts its calls. A row
    whose first feature is 666 breaks it (as a model that chokes on one input would)."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, features: Any) -> Any:
        self.calls.append(len(features))
        if (np.asarray(features)[:, 0] == 666).any():
            raise ValueError("cannot predict 666")
        return np.asarray(features)[:, 0].astype(int)


def predictor(estimator: Any) -> Predictor:
    manifest = Manifest(model_sha256="0" * 64, n_features=2, feature_names=("a", "b"),
                        classes=(0, 1), estimator="test.Echo")
    return Predictor(LoadedModel(estimator, manifest))


def run(batcher: Batcher, requests: list[list[list[float]]]) -> list[Any]:
    async def all_at_once() -> list[Any]:
        return await asyncio.gather(*(batcher.predict(rows) for rows in requests),
                                    return_exceptions=True)
    return asyncio.run(all_at_once())


def test_concurrent_requests_share_calls_and_get_their_own_predictions() -> None:
    echo = Echo()
    seen: list[tuple[int, int]] = []
    batcher = Batcher(predictor(echo), observer=lambda n, rows: seen.append((n, rows)))
    requests = [[[float(i), 0.0]] * (1 + i % 3) for i in range(50)]
    results = run(batcher, requests)
    assert results == [[i] * (1 + i % 3) for i in range(50)]
    assert len(echo.calls) < 50, f"no batching: {echo.calls}"
    assert sum(echo.calls) == sum(len(r) for r in requests)
    assert sum(n for n, _ in seen) == 50 and max(n for n, _ in seen) > 1


def test_a_lone_request_is_answered_at_once() -> None:
    echo = Echo()
    assert run(Batcher(predictor(echo)), [[[7.0, 0.0]]]) == [[7]]
    assert echo.calls == [1]


def test_batches_respect_the_row_limit() -> None:
    echo = Echo()
    run(Batcher(predictor(echo), max_rows=4), [[[1.0, 0.0]] * 3 for _ in range(6)])
    assert max(echo.calls) <= 4


def test_a_request_that_breaks_the_model_fails_alone() -> None:
    echo = Echo()
    results = run(Batcher(predictor(echo)), [[[1.0, 0.0]], [[666.0, 0.0]], [[3.0, 0.0]]])
    assert results[0] == [1] and results[2] == [3]
    assert isinstance(results[1], ModelFailure) and "cannot predict 666" in str(results[1])


def test_a_bad_request_never_joins_a_batch() -> None:
    echo = Echo()
    results = run(Batcher(predictor(echo)), [[[1.0, 0.0]], [[1.0, 2.0, 3.0]]])
    assert results[0] == [1] and isinstance(results[1], RequestError)
    assert echo.calls == [1]


def test_a_fault_injected_build_is_never_batched() -> None:
    echo = Echo()
    faulty = predictor(FaultInjected(echo, error_rate=0.5))
    batcher = Batcher(faulty)
    assert not faulty.batchable and not batcher.enabled
    results = run(batcher, [[[float(i), 0.0]] for i in range(10)])
    failed = [r for r in results if isinstance(r, ModelFailure)]
    assert len(failed) == 5, "exactly half of the requests fail, as unbatched"
    assert echo.calls == [1] * 5
    assert all(isinstance(r.__cause__, InjectedFault) for r in failed)


@pytest.mark.parametrize("rows", [1, 999, 1001])
def test_big_calls_leave_the_event_loop(rows: int) -> None:
    """Up to INLINE_ROWS rows run on the loop, bigger calls in the threadpool."""
    import threading

    threads: list[str] = []

    class Where(Echo):
        def predict(self, features: Any) -> Any:
            threads.append(threading.current_thread().name)
            return super().predict(features)

    run(Batcher(predictor(Where())), [[[1.0, 0.0]] * rows])
    on_loop = threads == [threading.main_thread().name]
    assert on_loop == (rows <= 1000), threads
