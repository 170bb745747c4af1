"""Data catalog: every dataset and every version of it, with schema, stats and lineage.

A dataset is an Iceberg table; a version is one of its snapshots, the state after one
ingestion. :func:`sync` records every version not yet in the catalog (so a missed or
coalesced trigger loses nothing), each with: the snapshot id, the schema and what changed
since the previous version, row counts, statistics of the day's rows, the spec's
owner/description/tags, and lineage edges (files → job → dataset version; later stages
add version → model run). Records live in the mlstack database; reading them is
:mod:`mlstack.stages.catalog_records` (``list_datasets``, ``show_dataset``, ``get_version``,
also named here), which loads neither SQLAlchemy nor pyiceberg.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from mlstack import lake, store
from mlstack.exceptions import DatasetNotFound
from mlstack.settings import Settings, get_settings
from mlstack.specs import UseCaseSpec

# reading the catalog is catalog_records' (plain SQL); named here as before
from mlstack.stages.catalog_records import get_version as get_version
from mlstack.stages.catalog_records import list_datasets as list_datasets
from mlstack.stages.catalog_records import registered_models as registered_models
from mlstack.stages.catalog_records import schema_change_text as schema_change_text
from mlstack.stages.catalog_records import schema_changed as schema_changed
from mlstack.stages.catalog_records import show_dataset as show_dataset

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

log = logging.getLogger(__name__)

TOP_CATEGORIES = 10


@dataclass
class VersionRecord:
    """A catalogued dataset version (a row of ``catalog_versions``)."""

    dataset: str
    version: int
    snapshot_id: int
    partition: str | None
    total_rows: int
    partition_rows: int
    rejected_rows: int
    schema_changes: dict[str, Any]
    created: bool


def dataset_name(spec: UseCaseSpec, dataset: str) -> str:
    """Catalog name of a dataset: ``<usecase>`` for features, ``<usecase>_<dataset>`` otherwise."""
    return spec.table_name(dataset)


def version_ref(name: str, version: int) -> str:
    """Lineage node of a dataset version, e.g. ``dataset:credit_default@v3``."""
    return f"dataset:{name}@v{version}"


# --- what a snapshot holds ------------------------------------------------------------------


def schema_of(table: Table, snapshot: Snapshot) -> list[dict[str, Any]]:
    """Columns of the snapshot's schema: name, type, required, doc."""
    schema_id = snapshot.schema_id if snapshot.schema_id is not None else table.schema().schema_id
    schema = next((s for s in table.schemas().values() if s.schema_id == schema_id), table.schema())
    return [
        {"name": f.name, "type": str(f.field_type), "required": f.required, "doc": f.doc or ""}
        for f in schema.fields
    ]


def schema_diff(before: list[dict[str, Any]] | None, after: list[dict[str, Any]]) -> dict[str, Any]:
    """What changed between two schemas: added, removed and retyped columns."""
    if before is None:
        return {"initial": True, "added": [c["name"] for c in after], "removed": [], "retyped": []}
    old = {c["name"]: c["type"] for c in before}
    new = {c["name"]: c["type"] for c in after}
    return {
        "initial": False,
        "added": [n for n in new if n not in old],
        "removed": [n for n in old if n not in new],
        "retyped": [
            {"column": n, "from": old[n], "to": new[n]}
            for n in new
            if n in old and old[n] != new[n]
        ],
    }


def column_stats(data: pa.Table, id_column: str | None = None) -> dict[str, dict[str, Any]]:
    """Per-column statistics: count, nulls, and min/max/mean/std or distinct/top values.

    The id column gets its distinct count only (its top values say nothing).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    stats: dict[str, dict[str, Any]] = {}
    for name in data.column_names:
        if name.startswith("_"):
            continue
        col = data.column(name)
        entry: dict[str, Any] = {"count": len(col), "nulls": col.null_count}
        t = col.type
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            mm = pc.min_max(col).as_py()
            entry.update(
                min=mm["min"],
                max=mm["max"],
                mean=pc.mean(col).as_py(),
                std=pc.stddev(col).as_py(),
            )
        elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t):
            counts = pc.value_counts(col.drop_null()).to_pylist()
            counts.sort(key=lambda c: -c["counts"])
            entry["distinct"] = len(counts)
            if name != id_column:
                entry["top"] = {str(c["values"]): c["counts"] for c in counts[:TOP_CATEGORIES]}
        elif pa.types.is_date(t) or pa.types.is_timestamp(t):
            mm = pc.min_max(col).as_py()
            entry.update(min=str(mm["min"]), max=str(mm["max"]))
        stats[name] = entry
    return stats


def _final_snapshots(table: Table) -> list[Snapshot]:
    """The snapshot each commit ended on (an overwrite commits delete + append: keep the last)."""
    by_batch: dict[str, Snapshot] = {}
    for snap in sorted(table.snapshots(), key=lambda s: s.sequence_number or 0):
        props = snap.summary.additional_properties if snap.summary else {}
        key = props.get("mlstack.batch") or str(snap.snapshot_id)
        by_batch[key] = snap
    return sorted(by_batch.values(), key=lambda s: s.sequence_number or 0)


def _partition_rows(
    table: Table, spec: UseCaseSpec, dataset: str, snapshot: Snapshot, day: str | None
) -> pa.Table:
    scan_filter = (
        lake.day_filter(spec.dataset_schema(dataset), date.fromisoformat(day)) if day else None
    )
    if scan_filter is None:
        return table.scan(snapshot_id=snapshot.snapshot_id).to_arrow()
    return table.scan(snapshot_id=snapshot.snapshot_id, row_filter=scan_filter).to_arrow()


# --- writing the catalog ----------------------------------------------------------------------


def upsert_dataset(
    conn: sa.Connection, spec: UseCaseSpec, dataset: str, table: Table, settings: Settings
) -> str:
    """Create or refresh the dataset row (owner, description, tags come from the spec)."""
    name = dataset_name(spec, dataset)
    now = datetime.now(UTC)
    values = {
        "usecase": spec.name,
        "kind": dataset,
        "table_identifier": lake.table_identifier(spec.table_name(dataset), settings),
        "location": table.location(),
        "owner": spec.owner,
        "description": spec.description.strip()
        if dataset == "features"
        else f"Labels of {spec.name}, delivered separately",
        "tags": list(spec.tags),
        "updated_at": now,
    }
    updated = conn.execute(
        sa.update(store.datasets).where(store.datasets.c.name == name).values(**values)
    )
    if updated.rowcount == 0:
        conn.execute(sa.insert(store.datasets).values(name=name, created_at=now, **values))
    return name


def add_edge(
    conn: sa.Connection,
    source: str,
    relation: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Record a lineage edge once (re-recording the same edge is a no-op)."""
    exists = conn.execute(
        sa.select(store.lineage.c.id).where(
            store.lineage.c.source == source,
            store.lineage.c.relation == relation,
            store.lineage.c.target == target,
        )
    ).first()
    if exists is None:
        conn.execute(
            sa.insert(store.lineage).values(
                source=source,
                relation=relation,
                target=target,
                details=details or {},
                created_at=datetime.now(UTC),
            )
        )


def _record(
    conn: sa.Connection, spec: UseCaseSpec, dataset: str, name: str, table: Table, snap: Snapshot
) -> VersionRecord:
    v = store.versions.c
    props = snap.summary.additional_properties if snap.summary else {}
    existing = conn.execute(
        sa.select(
            v.version,
            v.partition,
            v.total_rows,
            v.partition_rows,
            v.rejected_rows,
            v.schema_changes,
        ).where(v.dataset == name, v.snapshot_id == snap.snapshot_id)
    ).first()
    if existing is not None:
        return VersionRecord(
            name,
            existing.version,
            snap.snapshot_id,
            existing.partition,
            existing.total_rows,
            existing.partition_rows,
            existing.rejected_rows,
            existing.schema_changes,
            False,
        )
    prev = conn.execute(
        sa.select(v.version, v.schema).where(v.dataset == name).order_by(v.version.desc()).limit(1)
    ).first()
    schema = schema_of(table, snap)
    changes = schema_diff(prev.schema if prev else None, schema)
    day = props.get("mlstack.day")
    rows = _partition_rows(table, spec, dataset, snap, day)
    version = (prev.version if prev else 0) + 1
    total = int(props.get("total-records", 0) or 0)
    rejected = int(props.get("mlstack.rejected", 0) or 0)
    producer = props.get("mlstack.producer", "unknown")
    conn.execute(
        sa.insert(store.versions).values(
            dataset=name,
            version=version,
            snapshot_id=snap.snapshot_id,
            partition=f"day={day}" if day else None,
            operation=str(snap.summary.operation.value if snap.summary else "unknown"),
            total_rows=total,
            partition_rows=rows.num_rows,
            rejected_rows=rejected,
            schema=schema,
            schema_changes=changes,
            stats=column_stats(rows, spec.dataset_schema(dataset).id_column),
            producer=producer,
            snapshot_at=datetime.fromtimestamp(snap.timestamp_ms / 1000, UTC),
            created_at=datetime.now(UTC),
        )
    )
    ref = version_ref(name, version)
    add_edge(
        conn, f"job:{producer}", "produced", ref, {"snapshot_id": snap.snapshot_id, "day": day}
    )
    if prev is not None:
        add_edge(conn, version_ref(name, prev.version), "precedes", ref)
    return VersionRecord(
        name,
        version,
        snap.snapshot_id,
        f"day={day}" if day else None,
        total,
        rows.num_rows,
        rejected,
        changes,
        True,
    )


def sync(
    spec: UseCaseSpec,
    dataset: str = "features",
    *,
    settings: Settings | None = None,
    sources: dict[int, list[str]] | None = None,
) -> list[VersionRecord]:
    """Record every version of the dataset's table not yet in the catalog; return all touched.

    ``sources``: the files an ingestion read, by the snapshot it committed; each becomes a
    lineage edge into that snapshot's version.
    """
    s = settings or get_settings()
    table = lake.load_table(spec.table_name(dataset), s)
    records = []
    with store.engine(s).begin() as conn:
        name = upsert_dataset(conn, spec, dataset, table, s)
        for snap in _final_snapshots(table):
            records.append(_record(conn, spec, dataset, name, table, snap))
        for rec in records:
            for src in (sources or {}).get(rec.snapshot_id) or []:
                add_edge(conn, f"file:{src}", "loaded_into", version_ref(name, rec.version))
    new = [r for r in records if r.created]
    log.info("Catalogued %s: %d new version(s), %d known", name, len(new), len(records) - len(new))
    return records


def record_snapshot(
    spec: UseCaseSpec,
    dataset: str,
    snapshot_id: int,
    *,
    settings: Settings | None = None,
    sources: list[str] | None = None,
) -> VersionRecord:
    """Make sure ``snapshot_id`` (and every earlier version) is catalogued, ``sources`` (the
    files its ingestion read) as its lineage; return its record."""
    records = sync(spec, dataset, settings=settings, sources={snapshot_id: sources or []})
    for rec in records:
        if rec.snapshot_id == snapshot_id:
            return rec
    raise DatasetNotFound(
        f"snapshot {snapshot_id} of {spec.table_name(dataset)} is not a committed version; "
        f"known snapshots: {[r.snapshot_id for r in records][-5:]}"
    )
