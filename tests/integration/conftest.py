"""Integration fixtures: a real MLflow server (PostgreSQL backend, S3 artifacts on moto,
``--serve-artifacts``) and the settings that use it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- a real MLflow server -----------------------------------------------------------------


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow server not healthy after {timeout}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def mlflow_server(
    postgres_server: str, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``mlflow server`` on a PostgreSQL database, artifacts proxied to an S3 bucket (moto)."""
    import boto3
    import sqlalchemy as sa

    name = f"mlflow_{uuid.uuid4().hex[:8]}"
    eng = sa.create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    bucket = f"mlflow-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        # no job runner (7 huey workers, ~2 GB): the tests use tracking and the registry only
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    backend = f"{postgres_server}/{name}".replace("postgresql+psycopg2://", "postgresql://")
    workdir = tmp_path_factory.mktemp("mlflow-server")
    log = workdir / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                backend,
                "--serve-artifacts",
                "--artifacts-destination",
                f"s3://{bucket}",
                "--workers",
                "1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log, timeout=180)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def server_settings(
    pg_s3_settings: Any, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The stack mode end to end: mlstack DB on PostgreSQL, lake on S3, MLflow server."""
    from mlstack.settings import get_settings

    monkeypatch.setenv("MLSTACK_MLFLOW_TRACKING_URI", mlflow_server)
    get_settings.cache_clear()
    return get_settings()
