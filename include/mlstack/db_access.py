"""Per-service PostgreSQL roles on mlstack's database (deploy mode).

The gateway answers the network, so it gets its own role (:data:`GATEWAY_ROLE`) that may
write predictions, prediction errors and labels, and read what it needs to serve — its API
keys, the rollouts, the promotion decisions, the model digests and the schema's revision
(mlstack's version table) — nothing more: no other
table, no ``DELETE`` or ``UPDATE`` of a prediction, no DDL. A leaked gateway password cannot
read the monitoring history or forge a promotion. Everything else (the Airflow tasks, the
CLI, ``mlstack-init``) keeps the owner role ``mlstack``.

:func:`ensure_gateway_role` runs as the Postgres superuser in the one-shot ``db-accounts``
service (``mlstack db-accounts``) after ``mlstack-init`` has made the tables, on every start:
it creates the role or resets its password to the one in ``.env``, and grants exactly
:data:`GATEWAY_GRANTS` (what the role held before is revoked first, so a grant removed here is
removed from the database too).

Grafana (observability profile) reads the monitoring figures as its own role
(:data:`GRAFANA_ROLE`): ``SELECT`` on the monitoring series, alerts, decisions and rollouts,
and on the predictions and labels only the columns a traffic split and a label count need
(never the features or the labels themselves). ``mlstack db-accounts`` makes it when
MLSTACK_GRAFANA_DB_PASSWORD is set.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from mlstack.migrations import VERSION_TABLE

GATEWAY_ROLE = "mlstack_gateway"

#: table -> privileges of the gateway's role (a column list limits one to those columns);
#: no other table is reachable.
GATEWAY_GRANTS: dict[str, tuple[str, ...]] = {
    # a replayed journal row is skipped by its id (ON CONFLICT needs SELECT on that column)
    "predictions": ("INSERT", "SELECT (prediction_id)"),
    "prediction_errors": ("INSERT",),
    # a label sent again replaces the stored one (the last received wins): an upsert
    "feedback": ("SELECT", "INSERT", "UPDATE"),
    "gateway_keys": ("SELECT",),
    "rollouts": ("SELECT",),
    "promotion_decisions": ("SELECT",),
    "model_digests": ("SELECT",),
    # every process's startup check that the schema is current (mlstack.migrations)
    VERSION_TABLE: ("SELECT",),
}

GRAFANA_ROLE = "mlstack_grafana"

#: table -> privileges of Grafana's read-only role (what infra/grafana's dashboards query).
GRAFANA_GRANTS: dict[str, tuple[str, ...]] = {
    "monitoring_metrics": ("SELECT",),
    "monitoring_alerts": ("SELECT",),
    "retrain_requests": ("SELECT",),
    "rollouts": ("SELECT",),
    "rollout_decisions": ("SELECT",),
    "promotion_decisions": ("SELECT",),
    "predictions": ("SELECT (usecase, variant, model_version, rollout_id, created_at)",),
    "prediction_errors": ("SELECT (usecase, variant, model_version, created_at)",),
    "feedback": ("SELECT (usecase, prediction_id, received_at)",),
}

#: role -> the variable that holds its password (named in errors)
PASSWORD_VARIABLES = {
    GATEWAY_ROLE: "MLSTACK_GATEWAY_DB_PASSWORD",
    GRAFANA_ROLE: "MLSTACK_GRAFANA_DB_PASSWORD",
}

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class DatabaseAccessError(RuntimeError):
    """The roles cannot be set up as asked (and why)."""


def _ident(name: str) -> str:
    """``name`` as an SQL identifier; only plain lower-case names are accepted."""
    if not _NAME.match(name):
        raise DatabaseAccessError(f"{name!r} is not a plain lower-case SQL name")
    return f'"{name}"'


def ensure_role(
    admin_url: str,
    password: str,
    *,
    role: str = GATEWAY_ROLE,
    grants: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, tuple[str, ...]]:
    """Create ``role`` (or reset its password) and grant it exactly ``grants`` (default: the
    gateway's) on the tables of the database ``admin_url`` points at. Idempotent; returns
    the grants made.

    ``admin_url`` must be a superuser's (or a role with ``CREATEROLE`` that may grant on
    mlstack's tables); the tables must exist (``mlstack init`` first).
    """
    if not password:
        raise DatabaseAccessError(
            f"no password for the database role {role!r}: set "
            f"{PASSWORD_VARIABLES.get(role, 'its password variable')} (make up writes it into .env)"
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


def ensure_gateway_role(admin_url: str, password: str) -> dict[str, tuple[str, ...]]:
    """The gateway's role :data:`GATEWAY_ROLE` with exactly :data:`GATEWAY_GRANTS`."""
    return ensure_role(admin_url, password, role=GATEWAY_ROLE, grants=GATEWAY_GRANTS)


def ensure_grafana_role(admin_url: str, password: str) -> dict[str, tuple[str, ...]]:
    """Grafana's read-only role :data:`GRAFANA_ROLE` with exactly :data:`GRAFANA_GRANTS`."""
    return ensure_role(admin_url, password, role=GRAFANA_ROLE, grants=GRAFANA_GRANTS)
