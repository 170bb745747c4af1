"""Plain helpers shared by tests (importable as ``support``: pytest puts tests/ on the path).

Fixtures live in conftest.py files; things a test imports live here, because two
``conftest`` modules cannot both be imported by that name.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


# Debian's Chromium and its driver (`apt-get install chromium chromium-driver`), for the
# browser test; without them it is skipped, unless MLSTACK_TEST_REQUIRE_BROWSER=1 (CI).
BROWSER_BINARIES = (Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver"))


@contextlib.contextmanager
def read_only_dir(path: Path) -> Iterator[str]:
    """Make the folder ``path`` really read-only for this process while the block runs, and
    say how: as a non-root user by ``chmod 0555`` (creating a file there: EACCES); as root,
    which ignores permission bits (CAP_DAC_OVERRIDE), by a read-only bind mount of the folder
    on itself (EROFS). Files opened before keep their descriptors (as on a disk remounted
    read-only under a running process, new files are what fails). Skips the test when
    neither can be done (root without CAP_SYS_ADMIN, e.g. an unprivileged container)."""
    import pytest

    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555)
        try:
            yield f"chmod 0555 as uid {os.geteuid()}"
        finally:
            path.chmod(mode)
        return
    bind = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(
            "no real read-only folder possible: running as root, which ignores permission "
            f"bits, and `mount --bind` is refused ({bind.stderr.decode().strip()}); run the "
            "tests as a non-root user or with CAP_SYS_ADMIN"
        )
    try:
        subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(path)], check=True, capture_output=True
        )
        yield "a read-only bind mount (root)"
    finally:
        subprocess.run(["umount", str(path)], check=True, capture_output=True)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def use_settings(monkeypatch: Any, **values: str) -> Any:
    """Set MLSTACK_* variables for one test (``monkeypatch`` undoes them) and return fresh
    settings."""
    from mlstack.settings import get_settings

    for key, value in values.items():
        monkeypatch.setenv(f"MLSTACK_{key.upper()}", value)
    get_settings.cache_clear()
    return get_settings()


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Wait for a 200 from ``url``; fail with the log's tail if ``proc`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:4]} exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} not answering after {timeout}s:\n{log.read_text()[-3000:]}")


def stop_process(proc: subprocess.Popen[bytes], grace: float = 20) -> None:
    """SIGTERM ``proc``; SIGKILL it if it is still there after ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def recreate_database(server: str, url: str) -> None:
    """Drop the database of ``url`` (cutting its sessions) and create it empty again: the
    database as a lost disk and a fresh stack leave it."""
    import sqlalchemy as sa

    name = url.rsplit("/", 1)[1]
    eng = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    eng.dispose()


def purge_bucket(client: Any, bucket: str) -> None:
    """Delete every object version and delete marker: the bucket as a lost disk leaves it."""
    pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket)
    for page in pages:
        for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            client.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])


# --- a real MLflow server ------------------------------------------------------------------


@dataclass(frozen=True)
class MlflowBackend:
    """Where an MLflow server keeps things: a PostgreSQL database and an S3 bucket (moto)."""

    database_url: str
    bucket: str
    s3_endpoint: str


def new_mlflow_backend(postgres_server: str, s3_endpoint: str) -> MlflowBackend:
    """Create an empty database and bucket for one MLflow server."""
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
    url = f"{postgres_server}/{name}".replace("postgresql+psycopg2://", "postgresql://")
    return MlflowBackend(url, bucket, s3_endpoint)


@contextlib.contextmanager
def run_mlflow_server(
    backend: MlflowBackend,
    workdir: Path,
    port: int | None = None,
    *,
    admin_password: str | None = None,
) -> Iterator[str]:
    """``mlflow server`` on ``backend`` with proxied artifacts, as the stack runs it; yields
    its URL once healthy and stops it on exit (the same ``port`` can start it again).

    With ``admin_password`` it runs as deploy mode does (infra/mlflow_server.py): the
    basic-auth app with that admin, everything under ``/mlflow``; the URL yielded ends there.
    """
    port = port or free_port()
    env = {
        **os.environ,
        "MLFLOW_S3_ENDPOINT_URL": backend.s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        # no job runner (7 huey workers, ~2 GB): the tests use tracking and the registry only
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--backend-store-uri", backend.database_url, "--serve-artifacts"]
    cmd += ["--artifacts-destination", f"s3://{backend.bucket}", "--workers", "1"]
    prefix = ""
    if admin_password is not None:
        prefix = "/mlflow"
        cmd[1:3] = [str(ROOT / "infra" / "mlflow_server.py")]
        cmd += ["--app-name=basic-auth", f"--static-prefix={prefix}"]
        env["MLFLOW_BACKEND_STORE_URI"] = backend.database_url  # the logins' database too
        env["MLFLOW_AUTH_ADMIN_PASSWORD"] = admin_password
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = uuid.uuid4().hex
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"server-{port}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    url = f"http://127.0.0.1:{port}{prefix}"
    try:
        wait_http(f"{url}/health", proc, log, timeout=180)
        yield url
    finally:
        stop_process(proc)


#: One valid credit_default application (all fields as text, without its id).
CREDIT_ROW = {
    "application_date": "2026-01-01",
    "age": "40",
    "income": "50000",
    "employment_years": "3",
    "debt_to_income": "0.3",
    "credit_score": "700",
    "loan_amount": "10000",
    "loan_term_months": "36",
    "num_open_accounts": "4",
    "num_late_payments": "0",
    "purpose": "car",
    "home_ownership": "rent",
    "region": "north",
}


@contextlib.contextmanager
def run_airflow_api_server(
    env: dict[str, str], port: int, log: Path, timeout: float
) -> Iterator[str]:
    """A real ``airflow api-server`` (one worker) on 127.0.0.1:``port`` with ``env``, its
    output in ``log``; yields its URL once ``/api/v2/monitor/health`` answers, stopped after."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "-H", "127.0.0.1", "-p", str(port)]
            + ["-w", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/v2/monitor/health", proc, log, timeout=timeout)
        yield base
    finally:
        stop_process(proc, grace=30)


class _ComposeLoader(yaml.SafeLoader):
    """YAML with compose's ``!reset`` / ``!override`` tags (read as their plain values)."""


for _tag in ("!reset", "!override"):
    _ComposeLoader.add_constructor(
        _tag, lambda loader, node: loader.construct_sequence(node)
        if isinstance(node, yaml.SequenceNode) else loader.construct_mapping(node)
    )  # fmt: skip


def compose_file(name: str) -> dict[str, Any]:
    """A compose file of the repository (``docker-compose*.yml``), its tags read as values."""
    return yaml.load((ROOT / name).read_text(), Loader=_ComposeLoader)  # noqa: S506 (tags)
