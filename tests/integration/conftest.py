"""Integration fixtures: a real MLflow server (PostgreSQL backend, S3 artifacts on moto,
``--serve-artifacts``) and the settings that use it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import MlflowBackend, new_mlflow_backend, run_mlflow_server


@pytest.fixture(scope="session")
def mlflow_backend(postgres_server: str, s3_endpoint: str) -> Callable[[], MlflowBackend]:
    """Makes a fresh MLflow backend (a PostgreSQL database and an S3 bucket) on each call."""
    return lambda: new_mlflow_backend(postgres_server, s3_endpoint)


@pytest.fixture(scope="session")
def mlflow_server(
    mlflow_backend: Callable[[], MlflowBackend], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``mlflow server`` on a PostgreSQL database, artifacts proxied to an S3 bucket (moto)."""
    with run_mlflow_server(mlflow_backend(), tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


@pytest.fixture
def server_settings(
    pg_s3_settings: Any, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The stack mode end to end: mlstack DB on PostgreSQL, lake on S3, MLflow server."""
    from mlstack.settings import get_settings

    monkeypatch.setenv("MLSTACK_MLFLOW_TRACKING_URI", mlflow_server)
    get_settings.cache_clear()
    return get_settings()
