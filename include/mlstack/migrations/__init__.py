"""Versioned migrations of mlstack's own tables (Alembic), and the version they are at.

The tables are declared in :mod:`mlstack.store`; every change to them is a revision in
``versions/`` (``env.py`` is Alembic's environment, run only through this module). The
revision a database is at is kept in its table :data:`VERSION_TABLE` (not Alembic's default
``alembic_version``, which Airflow and MLflow use for their own schemas).

:func:`ensure_current` is the startup path (``store.engine()`` calls it once per process):
one query when the database is already at :data:`HEAD`. Otherwise, under a lock (a
PostgreSQL advisory lock; a lock file beside a SQLite file):

- an empty database gets every table from ``store.metadata`` and is stamped at head (the
  schema the revisions build; a test holds them equal);
- a database from before versioning (mlstack's tables, no version table) is checked to have
  the baseline's schema (:data:`BASELINE`, the previous release, 7835cca), stamped there and
  upgraded;
- a versioned one is upgraded; one at a revision this code does not know (a newer release
  migrated it) is refused with what to do.

``mlstack db upgrade|current|downgrade`` call :func:`upgrade`, :func:`current` and
:func:`downgrade`. Alembic is imported only off the one-query path. This module does not
import :mod:`mlstack.store` (which calls it): the functions take its metadata.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mlstack.exceptions import MlstackError
from mlstack.schema_version import HEAD as HEAD  # re-exported: the newest revision
from mlstack.schema_version import VERSION_TABLE as VERSION_TABLE

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

#: The previous release's schema (7835cca): where unversioned databases are stamped.
BASELINE = "0001_baseline"
#: PostgreSQL advisory lock key serialising migrations ("mlstack" as 8 bytes, signed).
_PG_LOCK_KEY = int.from_bytes(b"mlstack!", "big", signed=True)
_HERE = Path(__file__).resolve().parent


class MigrationError(MlstackError):
    """The mlstack database cannot be brought to this code's schema; says what to do."""


def table_filter(metadata: sa.MetaData) -> Callable[..., bool]:
    """Alembic's ``include_object``: only the tables of ``metadata`` (the same database may
    hold the Iceberg catalog's tables, which are pyiceberg's to manage)."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return type_ != "table" or name in metadata.tables

    return include


def config(connection: Connection) -> Config:
    """Alembic's configuration for this package's revisions, bound to ``connection``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = connection
    return cfg


def _version(conn: Connection) -> str | None:
    """The revision recorded in the version table (None: no table or no row)."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(sa.text(f'SELECT version_num FROM "{VERSION_TABLE}"')).scalar()


def _at_head_quick(eng: Engine) -> bool:
    """True when the database says it is at :data:`HEAD` (one query, no Alembic)."""
    try:
        with eng.connect() as conn:
            found = conn.execute(sa.text(f'SELECT version_num FROM "{VERSION_TABLE}"')).scalar()
    except sa.exc.DBAPIError:  # no version table yet: the slow path finds out why
        return False
    return found == HEAD


@contextmanager
def _locked(eng: Engine) -> Iterator[Connection]:
    """A connection in a transaction that no other process migrates beside."""
    url = eng.url
    if url.get_backend_name() == "postgresql":
        with eng.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            yield conn
        return
    database = url.database if url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:":
        with eng.begin() as conn:
            yield conn
        return
    with open(f"{database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with eng.begin() as conn:
                yield conn
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _existing(conn: Connection, metadata: sa.MetaData) -> set[str]:
    """The tables of ``metadata`` that exist in the database."""
    return set(metadata.tables) & set(sa.inspect(conn).get_table_names())


def baseline_columns() -> dict[str, set[str]]:
    """Table -> column names of the baseline revision (built in an in-memory SQLite)."""
    from alembic import command

    eng = sa.create_engine("sqlite://")
    with eng.begin() as conn:
        command.upgrade(config(conn), BASELINE)
        inspector = sa.inspect(conn)
        shape = {
            t: {c["name"] for c in inspector.get_columns(t)}
            for t in inspector.get_table_names()
            if t != VERSION_TABLE
        }
    eng.dispose()
    return shape


def _check_baseline(conn: Connection) -> None:
    """Refuse an unversioned database that lacks part of the baseline's schema."""
    inspector = sa.inspect(conn)
    have = set(inspector.get_table_names())
    missing = []
    for table, columns in sorted(baseline_columns().items()):
        if table not in have:
            missing.append(table)
            continue
        present = {c["name"] for c in inspector.get_columns(table)}
        missing += [f"{table}.{c}" for c in sorted(columns - present)]
    if missing:
        raise MigrationError(
            f"the mlstack database {_where(conn)} has mlstack's tables but no version table, "
            f"and lacks part of the schema migrations start from ({BASELINE}, release "
            f"7835cca): {', '.join(missing)}. Back it up (make backup), then start from an "
            "empty database, or add those by hand and run `mlstack db upgrade` again."
        )


def _where(conn: Connection) -> str:
    return conn.engine.url.render_as_string(hide_password=True)


def _known(cfg: Config, revision: str, conn: Connection) -> None:
    """Refuse a database at a revision these migrations do not have."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        ScriptDirectory.from_config(cfg).get_revision(revision)
    except CommandError:
        raise MigrationError(
            f"the mlstack database {_where(conn)} is at revision {revision!r}, which this "
            f"mlstack does not know (its newest is {HEAD}): a newer release migrated it. Run "
            "that release, or restore the backup taken before the upgrade "
            "(make restore FROM=...), or `mlstack db downgrade` with the newer release first."
        ) from None


def revisions() -> list[str]:
    """Every revision, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(_HERE))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


@contextmanager
def _target(revision: str) -> Iterator[None]:
    """Turn Alembic's error on an unknown target revision into one that lists them."""
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        raise MigrationError(
            f"{exc}: give one of {', '.join(revisions())}, head, base, or a step like -1"
        ) from None


def upgrade(
    eng: Engine, metadata: sa.MetaData, revision: str = "head"
) -> tuple[str | None, str | None]:
    """Bring the database to ``revision`` (see the module docstring for each starting
    state); ``metadata`` is ``store.metadata``, what the revisions build. Returns the
    revisions (before, after)."""
    from alembic import command

    with _locked(eng) as conn:
        cfg = config(conn)
        before = _version(conn)
        if before is None and not _existing(conn, metadata) and revision == "head":
            metadata.create_all(conn)
            command.stamp(cfg, "head")
            log.info("mlstack database %s: tables created at %s", _where(conn), HEAD)
            return None, _version(conn)
        if before is None and _existing(conn, metadata):
            _check_baseline(conn)
            command.stamp(cfg, BASELINE)
            log.info("mlstack database %s: unversioned, stamped at %s", _where(conn), BASELINE)
        elif before is not None:
            _known(cfg, before, conn)
        with _target(revision):
            command.upgrade(cfg, revision)
        after = _version(conn)
    log.info("mlstack database %s: %s -> %s", eng.url.render_as_string(True), before, after)
    return before, after


def downgrade(eng: Engine, revision: str) -> tuple[str | None, str | None]:
    """Take the database back to ``revision`` (``base``: no tables); returns (before, after).

    Run it with mlstack's services stopped and start the older release after: any process
    of this release upgrades the database again when it starts."""
    from alembic import command

    with _locked(eng) as conn:
        cfg = config(conn)
        before = _version(conn)
        if before is None:
            raise MigrationError(
                f"the mlstack database {_where(conn)} has no version table: nothing to "
                "downgrade (`mlstack db upgrade` versions it)"
            )
        _known(cfg, before, conn)
        with _target(revision):
            command.downgrade(cfg, revision)
        return before, _version(conn)


def current(eng: Engine) -> str | None:
    """The revision the database is at (None: unversioned or empty)."""
    with eng.connect() as conn:
        return _version(conn)


def ensure_current(eng: Engine, metadata: sa.MetaData) -> None:
    """The startup path: nothing when the database is at :data:`HEAD`, else :func:`upgrade`."""
    if not _at_head_quick(eng):
        upgrade(eng, metadata)
