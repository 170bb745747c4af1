"""Put a backup back onto an empty stack: verify it, check the stack is empty, restore.

:func:`restore` reads the manifest and every file back first (a file whose size or SHA-256
differs is named, and nothing is touched), then refuses a stack that already holds data
(:func:`non_empty`) unless ``force``, then restores each database with pg_restore (the
dump's tables replace the stack's, in one transaction per database) and uploads each
bucket's objects. The check that everything the records name exists afterwards is
:mod:`mlstack.operations.stack_check` (the caller runs it once the services are back).
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from typing import IO

from mlstack.exceptions import BackupError
from mlstack.operations import buckets, manifest, pg
from mlstack.operations.backup import Progress, dump_path, no_progress
from mlstack.operations.manifest import Manifest
from mlstack.operations.target import Target, open_target
from mlstack.settings import Settings

#: per database: the tables whose rows make a stack "not empty". Airflow's database is not
#: asked (its scheduler starts runs as soon as the stack is up); MLflow's always has its
#: Default experiment, so its runs and registered models count; mlstack's every table but the
#: Iceberg catalog's namespace row that `mlstack init` writes.
DATA_TABLES: dict[str, tuple[str, ...]] = {
    "mlflow": ("runs", "registered_models", "model_versions"),
    "mlstack": (
        "catalog_datasets",
        "catalog_versions",
        "registry_versions",
        "promotion_decisions",
        "predictions",
        "feedback",
        "rollouts",
        "monitoring_metrics",
        "monitoring_alerts",
        "retrain_requests",
        "model_digests",
        "iceberg_tables",
    ),
}

#: which of the listed tables exist
_EXISTING_SQL = """
SELECT table_name FROM information_schema.tables
WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name IN ({names})
ORDER BY table_name
"""


@dataclass(frozen=True)
class RestorePlan:
    """A verified backup and where its parts go."""

    location: str
    manifest: Manifest
    databases: list[pg.Database]
    bucket_names: dict[str, str]  # backup name -> the stack's bucket


def table_counts(db: pg.Database, tables: tuple[str, ...]) -> dict[str, int]:
    """Rows of each of ``tables`` that exists in ``db`` (two psql calls)."""
    if not tables:
        return {}
    names = ", ".join(f"'{t}'" for t in tables)
    existing = [row[0] for row in pg.query(db, _EXISTING_SQL.format(names=names))]
    if not existing:
        return {}
    counts = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM \"{t}\"" for t in existing)
    return {row[0]: int(row[1]) for row in pg.query(db, counts)}


def non_empty(plan: RestorePlan, settings: Settings) -> list[str]:
    """What already holds data on the stack (``database mlstack: catalog_versions 12 rows``,
    ``bucket lake: has objects``); [] for an empty stack."""
    from mlstack.lake import s3_client

    found = []
    for db in plan.databases:
        counts = table_counts(db, DATA_TABLES.get(db.name, ()))
        found += [f"database {db.name}: {t} has {n} rows" for t, n in counts.items() if n]
    client = s3_client(settings)
    for name, bucket in plan.bucket_names.items():
        if not buckets.is_empty(client, bucket):
            found.append(f"bucket {name} ({bucket}): has objects")
    return found


def verified_plan(
    location: str,
    databases: list[pg.Database],
    bucket_names: dict[str, str],
    settings: Settings,
    progress: Progress = no_progress,
) -> RestorePlan:
    """The backup at ``location``, every file read back and matched against its manifest,
    with the stack's databases and buckets it will go to; BackupError naming the first bad
    file, or a database or bucket the stack has and the backup lacks (or the other way)."""
    target = open_target(location, settings)
    found = manifest.read(target)
    _same_names("databases", found.databases, {db.name for db in databases})
    _same_names("buckets", found.buckets, set(bucket_names))
    manifest.verify(target, found, functools.partial(progress, "verify"))
    return RestorePlan(target.location, found, databases, bucket_names)


def _same_names(what: str, in_backup: dict[str, str], on_stack: set[str]) -> None:
    if set(in_backup) != on_stack:
        raise BackupError(
            f"the backup holds {what} {sorted(in_backup)}, the restore was given "
            f"{sorted(on_stack)}: name the same ones"
        )


def restore(
    plan: RestorePlan,
    settings: Settings,
    *,
    force: bool = False,
    progress: Progress = no_progress,
) -> None:
    """Restore a verified backup onto the stack. Refuses a stack that holds data unless
    ``force`` (then its buckets are emptied first and the dumps replace its tables)."""
    from mlstack.lake import ensure_bucket, s3_client

    found = non_empty(plan, settings)
    if found and not force:
        raise BackupError(
            "the stack is not empty, so the restore would mix two states:\n  "
            + "\n  ".join(found)
            + "\nrestore onto a fresh stack (`make clean` then `make up`), or pass --force "
            "to replace what is there"
        )
    target = open_target(plan.location, settings)
    for i, db in enumerate(plan.databases, 1):
        pg.restore_from(db, functools.partial(_copy, target, dump_path(db.name)))
        progress("databases", i, len(plan.databases), db.name)
    client = s3_client(settings)
    for name, bucket in plan.bucket_names.items():
        ensure_bucket(bucket, settings)  # a MinIO that started on an empty volume has none
        if force:
            buckets.empty(client, bucket)
        entries = buckets.entries_of(name, plan.manifest.files)
        step = functools.partial(progress, f"bucket {name}")
        buckets.copy_back(client, bucket, name, entries, target, step)


def _copy(target: Target, rel: str, out: IO[bytes]) -> None:
    """Stream the backup's file ``rel`` into ``out``."""
    with target.open(rel) as src:
        shutil.copyfileobj(src, out, 1 << 20)
