"""Reading the data catalog: datasets, their versions and lineage, as the lists show them.

:mod:`mlstack.stages.catalog` owns the ``catalog_*`` tables (it records every version of an
Iceberg table) and names these reads as before; they live here, with nothing but plain SQL
(:mod:`mlstack.store_read`), so ``mlstack catalog list|show`` and the pages load no
SQLAlchemy, pyiceberg or pyarrow to show them.
"""

from __future__ import annotations

from typing import Any

from mlstack import store_read
from mlstack.exceptions import DatasetNotFound
from mlstack.settings import Settings

_VERSION = (
    'SELECT id, dataset, version, snapshot_id, "partition", operation, total_rows, '
    "partition_rows, rejected_rows, schema, schema_changes, stats, producer, snapshot_at, "
    "created_at FROM catalog_versions"
)
_LINEAGE = "SELECT id, source, relation, target, details, created_at FROM catalog_lineage"


def list_datasets(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every dataset with its latest version number, snapshot and row count."""
    return store_read.rows(
        "SELECT d.name, d.usecase, d.kind, d.owner, d.tags, d.table_identifier, latest.version, "
        "v.snapshot_id, v.total_rows, v.created_at FROM catalog_datasets AS d "
        "LEFT OUTER JOIN (SELECT dataset, MAX(version) AS version FROM catalog_versions "
        "GROUP BY dataset) AS latest ON latest.dataset = d.name "
        "LEFT OUTER JOIN catalog_versions AS v "
        "ON v.dataset = d.name AND v.version = latest.version ORDER BY d.name",
        {},
        settings,
    )


def show_dataset(name: str, settings: Settings | None = None, *, limit: int = 20) -> dict[str, Any]:
    """One dataset: its record, its latest ``limit`` versions (newest first) and its lineage."""
    found = store_read.rows(
        "SELECT name, usecase, kind, table_identifier, location, owner, description, tags, "
        "created_at, updated_at FROM catalog_datasets WHERE name = :name",
        {"name": name},
        settings,
    )
    if not found:
        known = [
            r["name"]
            for r in store_read.rows(
                "SELECT name FROM catalog_datasets ORDER BY name", {}, settings
            )
        ]
        raise DatasetNotFound(f"no dataset {name!r} in the catalog; known datasets: {known}")
    versions = store_read.rows(
        f"{_VERSION} WHERE dataset = :name ORDER BY version DESC LIMIT :limit",
        {"name": name, "limit": limit},
        settings,
    )
    edges = store_read.rows(
        f"{_LINEAGE} WHERE source LIKE :pattern OR target LIKE :pattern ORDER BY id",
        {"pattern": f"dataset:{name}@v%"},
        settings,
    )
    return {"dataset": found[0], "versions": versions, "lineage": edges}


def get_version(
    name: str, version: int | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """One version of a dataset (the latest when ``version`` is None)."""
    if version is not None:
        found = store_read.rows(
            f"{_VERSION} WHERE dataset = :name AND version = :version",
            {"name": name, "version": version},
            settings,
        )
    else:
        found = store_read.rows(
            f"{_VERSION} WHERE dataset = :name ORDER BY version DESC LIMIT 1",
            {"name": name},
            settings,
        )
    if not found:
        raise DatasetNotFound(
            f"dataset {name!r} has no version {version if version is not None else '(any)'}"
        )
    return found[0]


def schema_change_text(changes: dict[str, Any]) -> str:
    """A version's schema change in words: ``initial``, ``+added, -removed, col: a→b`` or
    ``none`` (what ``mlstack catalog show`` prints and the catalog page shows)."""
    if changes.get("initial"):
        return "initial"
    parts = [f"+{c}" for c in changes.get("added", [])]
    parts += [f"-{c}" for c in changes.get("removed", [])]
    parts += [f"{r['column']}: {r['from']}→{r['to']}" for r in changes.get("retyped", [])]
    return ", ".join(parts) or "none"


def schema_changed(changes: dict[str, Any]) -> bool:
    """Whether a version changed its table's schema (added, removed or retyped a column).

    A version's ``schema_changes`` is always a non-empty dict (``{"initial": False,
    "added": [], ...}`` when nothing changed), so its truth says nothing; the first version
    (``initial``) changed nothing either."""
    if changes.get("initial"):
        return False
    return bool(changes.get("added") or changes.get("removed") or changes.get("retyped"))


def registered_models(runs: list[str], settings: Settings | None = None) -> list[dict[str, Any]]:
    """Lineage edges ``run -registered_as-> model`` of these training runs."""
    if not runs:
        return []
    names = {f"run{i}": run for i, run in enumerate(runs)}
    return store_read.rows(
        f"{_LINEAGE} WHERE relation = 'registered_as' AND source IN "
        f"({', '.join(':' + k for k in names)})",
        names,
        settings,
    )
