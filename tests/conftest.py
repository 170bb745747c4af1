"""Shared fixtures: a spec, embedded settings, a real PostgreSQL, an S3 endpoint, Airflow.

PostgreSQL is Debian's, started here as a throwaway cluster (or taken from
``MLSTACK_TEST_POSTGRES_URL``); S3 is moto's server in-process; Airflow is a real metadata
DB on SQLite, migrated once per session, so ``dag.test()`` runs the real DAGs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import ROOT, free_port, use_settings

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="mlstack-tests-"))

# Airflow reads its configuration on import: point it at a test home before anything does.
os.environ["AIRFLOW_HOME"] = str(_SESSION_DIR / "airflow")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["MLSTACK_HOME"] = str(_SESSION_DIR / "default-home")
# MLSTACK_TEST_POSTGRES_URL and the e2e knobs (MLSTACK_E2E_*) stay; mlstack settings do not leak in
for _var in [v for v in os.environ if v.startswith("MLSTACK_") and v != "MLSTACK_HOME"]:
    if _var != "MLSTACK_TEST_POSTGRES_URL" and not _var.startswith("MLSTACK_E2E_"):
        del os.environ[_var]


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    from mlstack.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def embedded_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """Settings of the embedded mode under a fresh folder (SQLite + local lake)."""
    return use_settings(monkeypatch, home=str(tmp_path / "home"))


@pytest.fixture
def credit_spec() -> object:
    """The demo use case's spec."""
    from mlstack.specs import get_spec

    return get_spec("credit_default", ROOT / "include" / "usecases")


@pytest.fixture
def diabetes_spec() -> object:
    """The regression use case's spec."""
    from mlstack.specs import get_spec

    return get_spec("diabetes", ROOT / "include" / "usecases")


# --- PostgreSQL ---------------------------------------------------------------------------


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    return found[-1].parent


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL server for the session; yields its admin URL (no database part)."""
    given = os.environ.get("MLSTACK_TEST_POSTGRES_URL")
    if given:
        yield given.rsplit("/", 1)[0]
        return
    bindir = _pg_bin()
    data = _SESSION_DIR / "pg"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        os.chmod(_SESSION_DIR, 0o755)
    port = free_port()
    subprocess.run(
        _as_postgres(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_postgres(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-w",
                "-l",
                str(data / "server.log"),
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            check=False,
            capture_output=True,
        )


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    eng = sa.create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return f"{postgres_server}/{name}"


# --- S3 -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3 API endpoint (moto's server, in-process) for the session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def pg_s3_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str, s3_endpoint: str
) -> object:
    """Settings of the stack mode: mlstack DB on PostgreSQL, lake in a fresh S3 bucket."""
    from mlstack import lake

    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    settings = use_settings(
        monkeypatch,
        home=str(tmp_path / "home"),
        database_url=postgres_url,
        lake_url=f"s3://{bucket}",
        s3_endpoint_url=s3_endpoint,
        s3_access_key_id="test",
        s3_secret_access_key="test",
    )
    lake.prepare(settings)  # type: ignore[arg-type]
    return settings


# --- Airflow --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB (SQLite) for the session."""
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"airflow db migrate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return home


@pytest.fixture(scope="session")
def dagbag(airflow_db: Path) -> object:
    """The project's DAGs as the dag-processor loads them."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))
