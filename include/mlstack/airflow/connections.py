"""Airflow connections as database URLs: what the ``sql`` source's ``conn_id`` names.

:mod:`mlstack.sources` never imports Airflow; the ingest task hands it
:func:`connection_url` (``sources.connection_url``) before it reads a day.
"""

from __future__ import annotations

from airflow.sdk import Connection

from mlstack.exceptions import SourceError

#: Airflow connection types the ``sql`` source reads, and their SQLAlchemy driver.
CONN_DRIVERS = {"postgres": "postgresql+psycopg2", "postgresql": "postgresql+psycopg2"}


def connection_url(conn_id: str) -> str:
    """The SQLAlchemy URL of Airflow connection ``conn_id`` (a ``postgres`` connection)."""
    import sqlalchemy as sa  # lazy: not needed to parse a DAG

    conn = Connection.get(conn_id)
    driver = CONN_DRIVERS.get(str(conn.conn_type))
    if driver is None:
        raise SourceError(
            f"Airflow connection {conn_id!r} is of type {conn.conn_type!r}; the sql source "
            f"reads {sorted(CONN_DRIVERS)} connections (or use url_env with any SQLAlchemy URL)"
        )
    return sa.engine.URL.create(
        driver,
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=conn.port or None,
        database=conn.schema or None,
    ).render_as_string(hide_password=False)
