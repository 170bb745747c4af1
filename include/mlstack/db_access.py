"""Per-service PostgreSQL roles on mlstack's database (deploy mode).

The gateway answers the network, so it gets its own role (:data:`GATEWAY_ROLE`) that may
write predictions, prediction errors and labels, and read what it needs to serve — its API
keys, the rollouts, the promotion decisions and the model digests — nothing more: no other
table, no ``DELETE`` or ``UPDATE`` of a prediction, no DDL. A leaked gateway password cannot
read the monitoring history or forge a promotion. Everything else (the Airflow tasks, the
CLI, ``mlstack-init``) keeps the owner role ``mlstack``.

:func:`ensure_gateway_role` runs as the Postgres superuser in the one-shot ``db-accounts``
service (``mlstack db-accounts``) after ``mlstack-init`` has made the tables, on every start:
it creates the role or resets its password to the one in ``.env``, and grants exactly
:data:`GATEWAY_GRANTS` (what the role held before is revoked first, so a grant removed here is
removed from the database too).
"""

from __future__ import annotations

import re

import sqlalchemy as sa

GATEWAY_ROLE = "mlstack_gateway"

#: table -> privileges of the gateway's role (a column list limits one to those columns);
#: no other table is reachable.
GATEWAY_GRANTS: dict[str, tuple[str, ...]] = {
    # a replayed journal row is skipped by its id (ON CONFLICT needs SELECT on that column)
    "predictions": ("INSERT", "SELECT (prediction_id)"),
    "prediction_errors": ("INSERT",),
    # a label sent again replaces the stored one (the last received wins)
    "feedback": ("SELECT", "INSERT", "UPDATE", "DELETE"),
    "gateway_keys": ("SELECT",),
    "rollouts": ("SELECT",),
    "promotion_decisions": ("SELECT",),
    "model_digests": ("SELECT",),
}

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class DatabaseAccessError(RuntimeError):
    """The roles cannot be set up as asked (and why)."""


def _ident(name: str) -> str:
    """``name`` as an SQL identifier; only plain lower-case names are accepted."""
    if not _NAME.match(name):
        raise DatabaseAccessError(f"{name!r} is not a plain lower-case SQL name")
    return f'"{name}"'


def ensure_gateway_role(
    admin_url: str,
    password: str,
    *,
    role: str = GATEWAY_ROLE,
    grants: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, tuple[str, ...]]:
    """Create ``role`` (or reset its password) and grant it exactly ``grants`` on the tables
    of the database ``admin_url`` points at. Idempotent; returns the grants made.

    ``admin_url`` must be a superuser's (or a role with ``CREATEROLE`` that may grant on
    mlstack's tables); the tables must exist (``mlstack init`` first).
    """
    if not password:
        raise DatabaseAccessError(
            f"no password for the database role {role!r}: set MLSTACK_GATEWAY_DB_PASSWORD "
            "(make deploy writes it into .env)"
        )
    grants = GATEWAY_GRANTS if grants is None else grants
    engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            missing = sorted(set(grants) - set(sa.inspect(conn).get_table_names()))
            if missing:
                raise DatabaseAccessError(
                    f"tables {missing} do not exist in {engine.url.database!r}; run "
                    "`mlstack init` (the mlstack-init service) first"
                )
            _login(conn, role, password)
            _grant_exactly(conn, role, grants)
    finally:
        engine.dispose()
    return dict(grants)


def _login(conn: sa.Connection, role: str, password: str) -> None:
    """The role exists, may log in with ``password``, and holds no special attributes."""
    exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    verb = "ALTER" if exists else "CREATE"
    # psycopg2 binds the password client side, so it may stand where a literal goes
    conn.exec_driver_sql(
        f"{verb} ROLE {_ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
        "NOINHERIT PASSWORD %(password)s",
        {"password": password},
    )


def _grant_exactly(conn: sa.Connection, role: str, grants: dict[str, tuple[str, ...]]) -> None:
    """Revoke everything the role holds in schema public, then grant ``grants``."""
    who = _ident(role)
    database = _ident(conn.execute(sa.text("SELECT current_database()")).scalar_one())
    conn.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {who}")
    conn.exec_driver_sql(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {who}")
    conn.exec_driver_sql(f"REVOKE CREATE ON SCHEMA public FROM {who}")
    conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE {database} TO {who}")
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {who}")
    for table, privileges in sorted(grants.items()):
        conn.exec_driver_sql(f"GRANT {', '.join(privileges)} ON {_ident(table)} TO {who}")
        if "INSERT" in privileges:  # serial ids of the rows it inserts
            for (sequence,) in conn.execute(
                sa.text(
                    "SELECT pg_get_serial_sequence(:t, a.attname) FROM pg_attribute a "
                    "WHERE a.attrelid = CAST(:t AS regclass) AND a.attnum > 0 "
                    "AND pg_get_serial_sequence(:t, a.attname) IS NOT NULL"
                ),
                {"t": table},
            ):
                conn.exec_driver_sql(f"GRANT USAGE ON SEQUENCE {sequence} TO {who}")
