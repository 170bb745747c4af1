"""Alembic's environment for mlstack's tables: run through :mod:`mlstack.migrations`, which
passes the connection (already in a transaction, under the migration lock)."""

from __future__ import annotations

from alembic import context

from mlstack import store
from mlstack.migrations import VERSION_TABLE, table_filter

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "mlstack's migrations run through `mlstack db upgrade` (mlstack.migrations), "
        "which passes the database connection; the alembic command alone has none"
    )
context.configure(
    connection=connection,
    target_metadata=store.metadata,
    version_table=VERSION_TABLE,
    include_object=table_filter(store.metadata),
    render_as_batch=True,  # SQLite alters a table by copying it: write revisions that way
    compare_server_default=True,
)
with context.begin_transaction():
    context.run_migrations()
