"""Reads of mlstack's tables without SQLAlchemy: the queries of the read commands and pages.

Importing SQLAlchemy costs about half a second of CPU, as much as the rest of a read command;
the reads here run plain SQL through the database's own driver instead — :mod:`sqlite3` for
``sqlite:///FILE``, psycopg2 (or psycopg, as the URL's driver says) for ``postgresql://`` —
and return rows as dicts holding what SQLAlchemy's column types give: on SQLite, columns
declared ``JSON``, ``DATETIME``, ``DATE`` and ``BOOLEAN`` in :mod:`mlstack.store` are decoded
by that declared type (PostgreSQL's drivers decode them themselves). Write the SQL once, in
what both databases accept, with ``:name`` parameters. Any other URL goes through SQLAlchemy.

Before a process's first read of a database, one query checks it is at this code's revision
(:data:`mlstack.schema_version.HEAD`); when it is not — a new, older or missing database —
:func:`mlstack.store.engine` creates or migrates it first, as every other path does (the
only case that loads SQLAlchemy and Alembic). Connections are kept per process, thread and
URL for a server (read-only use, autocommit; opened again once if the server dropped one);
a SQLite file is opened per read.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import threading
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from mlstack.schema_version import HEAD, VERSION_TABLE
from mlstack.settings import Settings, get_settings

# Values as SQLAlchemy's SQLite types store them (its DateTime drops the zone, as here).
sqlite3.register_converter("JSON", json.loads)
sqlite3.register_converter("DATETIME", lambda b: datetime.fromisoformat(b.decode()))
sqlite3.register_converter("DATE", lambda b: date.fromisoformat(b.decode()))
sqlite3.register_converter("BOOLEAN", lambda b: bool(int(b)))

_PARAM = re.compile(r"(?<![:\w]):(\w+)")
_local = threading.local()
_current: set[tuple[int, str]] = set()  # (pid, url) known to be at HEAD
_inherited: list[Any] = []  # a forked child keeps its parent's connections unused, unclosed


def _after_fork() -> None:
    """In a forked child: set the parent's connections aside (closing one would end the
    parent's session on the socket they share)."""
    _inherited.extend(_local.__dict__.pop("conns", {}).values())


os.register_at_fork(after_in_child=_after_fork)


def rows(
    sql: str, params: Mapping[str, Any] | None = None, settings: Settings | None = None
) -> list[dict[str, Any]]:
    """The rows of ``sql`` (``:name`` parameters from ``params``) as dicts, in query order."""
    url = (settings or get_settings()).database_url
    driver = _driver(url)
    if driver is None:
        return _through_sqlalchemy(sql, dict(params or {}), settings)
    conn = _connection(url, driver, settings)
    if driver == "sqlite3":
        try:
            return _run(conn, driver, sql, dict(params or {}))
        finally:
            conn.close()
    try:
        return _run(conn, driver, sql, dict(params or {}))
    except _disconnects(driver):
        _forget(url)
        return _run(_connection(url, driver, settings), driver, sql, dict(params or {}))


def scalar(
    sql: str, params: Mapping[str, Any] | None = None, settings: Settings | None = None
) -> Any:
    """The first column of the first row of ``sql`` (None when there is no row)."""
    found = rows(sql, params, settings)
    return next(iter(found[0].values())) if found else None


def sqlite_date(value: Any) -> date | None:
    """A ``DATE`` computed by SQL (``MAX(run_date)``: text on SQLite) as a date."""
    return date.fromisoformat(value) if isinstance(value, str) else value


# --- drivers ------------------------------------------------------------------------------------


def _driver(url: str) -> str | None:
    """``sqlite3``, ``psycopg2`` or ``psycopg`` for the URLs read directly, else None."""
    if url.startswith("sqlite:///") and "?" not in url and url != "sqlite:///:memory:":
        return "sqlite3"
    scheme = url.split("://", 1)[0]
    return {"postgresql": "psycopg2", "postgresql+psycopg2": "psycopg2"}.get(
        scheme, "psycopg" if scheme == "postgresql+psycopg" else None
    )


def _disconnects(driver: str) -> tuple[type[BaseException], ...]:
    """The driver's errors that mean the connection is gone (read again on a new one)."""
    if driver == "psycopg2":
        import psycopg2

        return (psycopg2.OperationalError, psycopg2.InterfaceError)
    if driver == "psycopg":
        import psycopg

        return (psycopg.OperationalError, psycopg.InterfaceError)
    return ()


def _open(url: str, driver: str) -> Any:
    """A new autocommit connection to ``url``; raises the driver's error if it is missing."""
    if driver == "sqlite3":
        path = quote(url.removeprefix("sqlite:///"))
        return sqlite3.connect(
            f"file:{path}?mode=rw", uri=True, timeout=30, detect_types=sqlite3.PARSE_DECLTYPES
        )
    dsn = "postgresql://" + url.split("://", 1)[1]
    if driver == "psycopg2":
        import psycopg2

        conn = psycopg2.connect(dsn)
    else:
        import psycopg

        conn = psycopg.connect(dsn)
    conn.autocommit = True
    return conn


def _connection(url: str, driver: str, settings: Settings | None) -> Any:
    """A connection to ``url``, the schema checked on the process's first use. A SQLite
    file is opened per read (microseconds; never a deleted file's old copy); a server
    connection is kept per thread."""
    key = (os.getpid(), url)
    if key not in _current:
        _ensure_current(url, driver, settings)
        _current.add(key)
    if driver == "sqlite3":
        return _open(url, driver)
    cache: dict[tuple[int, str], Any] = _local.__dict__.setdefault("conns", {})
    if key not in cache:
        cache[key] = _open(url, driver)
    return cache[key]


def _forget(url: str) -> None:
    """Drop this thread's connection to ``url`` (the server closed it)."""
    conn = _local.__dict__.get("conns", {}).pop((os.getpid(), url), None)
    if conn is not None:
        with contextlib.suppress(Exception):  # already broken: closing is best effort
            conn.close()


def _ensure_current(url: str, driver: str, settings: Settings | None) -> None:
    """Create or migrate the database through :func:`mlstack.store.engine` unless one query
    says it is at :data:`HEAD`."""
    try:
        conn = _open(url, driver)
        try:
            found = _run(conn, driver, f'SELECT version_num FROM "{VERSION_TABLE}"', {})
        finally:
            conn.close()
        if found and found[0]["version_num"] == HEAD:
            return
    except Exception:  # noqa: BLE001 - no file, no table, no server: the full path says why
        pass
    from mlstack import store

    store.engine(settings or get_settings())


def _run(conn: Any, driver: str, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Execute ``sql`` on a DB-API connection; rows as dicts by column name."""
    if driver == "sqlite3":
        cur = conn.execute(sql, {k: _sqlite_value(v) for k, v in params.items()})
    else:
        cur = conn.cursor()
        cur.execute(_PARAM.sub(r"%(\1)s", sql.replace("%", "%%")), params)
    try:
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        cur.close()


def _sqlite_value(value: Any) -> Any:
    """A parameter as SQLAlchemy binds it on SQLite (dates and times as ISO text)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _through_sqlalchemy(
    sql: str, params: dict[str, Any], settings: Settings | None
) -> list[dict[str, Any]]:
    """The same query through SQLAlchemy, for a URL this module does not read directly."""
    import sqlalchemy as sa

    from mlstack import store

    with store.engine(settings or get_settings()).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]
