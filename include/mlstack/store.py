"""The mlstack database: engine and the tables mlstack owns (SQLite or Postgres).

Tables are declared here, in one metadata, so ``mlstack init`` creates them all and every
stage shares one definition. Stages own what they write; this module owns the shapes.
"""

from __future__ import annotations

import os
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlstack.settings import Settings, get_settings

metadata = sa.MetaData()

#: One row per dataset (an Iceberg table) the catalog knows.
datasets = sa.Table(
    "catalog_datasets",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("usecase", sa.String(100), nullable=False, index=True),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("table_identifier", sa.String(300), nullable=False),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

#: One row per dataset version (an Iceberg snapshot the catalog recorded).
versions = sa.Table(
    "catalog_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset", sa.String(200), sa.ForeignKey("catalog_datasets.name"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("snapshot_id", sa.BigInteger, nullable=False),
    sa.Column("partition", sa.String(100), nullable=True),
    sa.Column("operation", sa.String(50), nullable=False),
    sa.Column("total_rows", sa.BigInteger, nullable=False),
    sa.Column("partition_rows", sa.BigInteger, nullable=False),
    sa.Column("rejected_rows", sa.BigInteger, nullable=False),
    sa.Column("schema", sa.JSON, nullable=False),
    sa.Column("schema_changes", sa.JSON, nullable=False),
    sa.Column("stats", sa.JSON, nullable=False),
    sa.Column("producer", sa.String(300), nullable=False),
    sa.Column("snapshot_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("dataset", "snapshot_id", name="uq_version_snapshot"),
    sa.UniqueConstraint("dataset", "version", name="uq_version_number"),
)

#: Lineage edges: ``source`` -[relation]-> ``target``, e.g. job -produced-> dataset version.
lineage = sa.Table(
    "catalog_lineage",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(400), nullable=False, index=True),
    sa.Column("relation", sa.String(50), nullable=False),
    sa.Column("target", sa.String(400), nullable=False, index=True),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("source", "relation", "target", name="uq_lineage_edge"),
)


#: Every registry decision with its evidence: gate results, overrides and rollbacks.
promotion_decisions = sa.Table(
    "promotion_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("usecase", sa.String(100), nullable=False, index=True),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("action", sa.String(20), nullable=False),  # gates | override | rollback
    sa.Column("outcome", sa.String(20), nullable=False),  # champion | challenger | refused
    sa.Column("compared_with", sa.Integer, nullable=True),  # champion at decision time
    sa.Column("previous_champion", sa.Integer, nullable=True),  # to roll back to
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("gates", sa.JSON, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(url.removeprefix("sqlite:///")) or ".", exist_ok=True)
        return sa.create_engine(url, connect_args={"timeout": 30})
    return sa.create_engine(url, pool_pre_ping=True)


def engine(settings: Settings | None = None, *, create: bool = True) -> Engine:
    """The engine of the mlstack database; creates mlstack's tables on first use."""
    s = settings or get_settings()
    eng = _engine(s.database_url)
    if create:
        init_tables(eng)
    return eng


_initialised: set[str] = set()


def init_tables(eng: Engine) -> None:
    """Create mlstack's tables if missing (idempotent; once per process and URL)."""
    key = str(eng.url)
    if key in _initialised:
        return
    metadata.create_all(eng)
    _initialised.add(key)
