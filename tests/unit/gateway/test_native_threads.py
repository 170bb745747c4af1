"""The gateway scores on one native thread per worker: `mlstack gateway serve` sizes the
pools through the environment before any library loads, and the app caps the thread that
scores (OpenMP's limit is per thread)."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
import sklearn.ensemble  # noqa: F401  (loads OpenMP, as a served gradient-boosting model does)
from click.testing import CliRunner
from mlstack.cli.serve import THREAD_POOL_VARS, gateway
from mlstack.gateway.app import limit_native_threads
from threadpoolctl import threadpool_info


def _openmp_threads() -> list[int]:
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"]


def test_the_scoring_thread_is_capped() -> None:
    seen: list[list[int]] = []

    def scoring_thread() -> None:  # a thread of its own: the cap stays there
        limit_native_threads(1)
        seen.append(_openmp_threads())

    t = threading.Thread(target=scoring_thread)
    t.start()
    t.join()
    assert seen[0] and set(seen[0]) == {1}, seen


def test_serve_sizes_the_pools_before_the_server_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: dict[str, Any] = {}

    def server(*args: Any, **kwargs: Any) -> None:  # stands in for uvicorn: no socket here
        started.update({var: os.environ.get(var) for var in THREAD_POOL_VARS})

    import uvicorn

    monkeypatch.setattr(uvicorn, "run", server)
    for var in THREAD_POOL_VARS:
        monkeypatch.setenv(var, "8")
    monkeypatch.setenv("MLSTACK_GATEWAY_NATIVE_THREADS", "2")
    result = CliRunner().invoke(gateway, ["serve"])
    assert result.exit_code == 0, result.output
    assert started == dict.fromkeys(THREAD_POOL_VARS, "2")
