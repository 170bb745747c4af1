"""Make one consistent backup of the stack: its databases, then its buckets, then the manifest.

:func:`create` writes a new backup folder, named by its UTC start (``20261201T184500Z``),
under a location (a folder, or ``s3://bucket/prefix``):

    databases/<name>.dump        pg_dump's custom format, per database (airflow, mlflow, mlstack)
    buckets/<name>/<object key>  every object of the bucket (lake, mlflow), as of the dumps
    manifest.json                each file's size and SHA-256, what was backed up, the versions
    manifest.json.sha256         the manifest's checksum, written last

The databases are dumped first, the buckets copied after, as
:mod:`mlstack.operations.buckets` explains; that order makes every object a dumped record
names part of the backup. The manifest comes last, so a backup cut short has none and no
restore takes it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mlstack.operations import buckets, manifest, pg, versions
from mlstack.operations.manifest import Entry, Manifest
from mlstack.operations.target import child, open_target
from mlstack.settings import Settings

#: the prefix of the database dumps in the backup
DATABASES = "databases"

#: progress(step, done, total, detail): one call per file written
Progress = Callable[[str, int, int, str], None]


def no_progress(step: str, done: int, total: int, detail: str) -> None:
    """The default progress: say nothing."""


@dataclass(frozen=True)
class BackupResult:
    """Where a backup went, what it holds, how long it took."""

    location: str
    manifest: Manifest

    @property
    def size(self) -> int:
        return self.manifest.size

    @property
    def duration_s(self) -> float:
        return self.manifest.duration_s


def dump_path(name: str) -> str:
    """The backup's file of database ``name``."""
    return f"{DATABASES}/{name}.dump"


def create(
    location: str,
    databases: list[pg.Database],
    bucket_names: dict[str, str],
    settings: Settings,
    *,
    progress: Progress = no_progress,
    now: datetime | None = None,
) -> BackupResult:
    """Back up ``databases`` and the buckets (backup name -> bucket) into a new folder under
    ``location``; returns where it went and its manifest."""
    started = time.monotonic()
    since = now or datetime.now(UTC)
    name = since.strftime("%Y%m%dT%H%M%SZ")
    target = open_target(child(location, name), settings)
    files = _dump_all(target, databases, progress)
    until = datetime.now(UTC) + timedelta(seconds=1)  # S3 times are whole seconds
    files += _copy_buckets(target, bucket_names, settings, since, until, progress)
    server = _server_version(databases[0]) if databases else None
    result = Manifest(
        created_at=since.isoformat(timespec="seconds"),
        databases={db.name: db.dbname for db in databases},
        buckets=dict(bucket_names),
        versions=versions.record(server),
        files=files,
    )
    result.duration_s = round(time.monotonic() - started, 3)
    manifest.write(target, result)
    return BackupResult(target.location, result)


def _dump_all(target: Any, databases: list[pg.Database], progress: Progress) -> list[Entry]:
    """pg_dump every database into the backup, one after the other."""
    entries = []
    for i, db in enumerate(databases, 1):
        with pg.dump_stream(db) as stream:
            entry = manifest.store(target, dump_path(db.name), stream)
        entries.append(entry)
        progress("databases", i, len(databases), f"{db.name} ({entry.size} bytes)")
    return entries


def _copy_buckets(
    target: Any,
    bucket_names: dict[str, str],
    settings: Settings,
    since: datetime,
    until: datetime,
    progress: Progress,
) -> list[Entry]:
    """Copy every bucket's objects (as of the dumps) into the backup."""
    from mlstack.lake import s3_client

    client = s3_client(settings)
    entries: list[Entry] = []
    for name, bucket in bucket_names.items():
        objects = buckets.objects_to_copy(client, bucket, since, until)
        step = functools.partial(progress, f"bucket {name}")
        entries += buckets.copy_out(client, bucket, name, objects, target, step)
    return entries


def _server_version(db: pg.Database) -> str | None:
    """PostgreSQL's server version, for the record."""
    rows = pg.query(db, "SHOW server_version")
    return rows[0][0] if rows else None
