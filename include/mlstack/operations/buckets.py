"""The buckets' side of a backup: which objects to copy, copying them out and back.

Consistency with the databases: the backup dumps the databases first and copies the buckets
after. On a versioned bucket (``lake`` and ``mlflow`` are, where the S3 server supports it:
:func:`mlstack.lake.ensure_bucket`) it copies each object's version that was current when
the dumps ended, and keeps an object deleted while they ran (a dump's snapshot may still
name it); objects written after the dumps are left out, as nothing in the dumps names them.
On an unversioned bucket it copies the objects there at copy time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlstack.operations.manifest import Entry, store
from mlstack.operations.target import Target

log = logging.getLogger(__name__)

#: the prefix of a bucket's objects in the backup
BUCKETS = "buckets"
#: the file a folder-marker object (a key ending in ``/``, as pyarrow writes) is kept as
FOLDER_MARKER = ".folder-marker"


def backup_path(name: str, key: str) -> str:
    """Where object ``key`` of bucket ``name`` is kept in the backup (a folder marker as a
    file inside its folder: a folder cannot be a file too)."""
    return f"{BUCKETS}/{name}/{key}{FOLDER_MARKER if key.endswith('/') else ''}"


def object_key(name: str, path: str) -> str:
    """The object key of the backup's file ``path`` of bucket ``name``."""
    return path.removeprefix(f"{BUCKETS}/{name}/").removesuffix(FOLDER_MARKER)


@dataclass(frozen=True)
class ObjectVersion:
    """One object to copy: its key, the version (None: the current object) and size."""

    key: str
    version_id: str | None
    size: int


def is_versioned(client: Any, bucket: str) -> bool:
    """True when the bucket keeps object versions and this login may read them (deploy mode's
    per-service logins may not: then the current objects are copied, with a warning)."""
    from botocore.exceptions import ClientError

    try:
        return client.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"
    except ClientError as exc:
        log.warning(
            "bucket %s: versions not readable (%s); copying its current objects", bucket, exc
        )
        return False


def current_objects(client: Any, bucket: str) -> list[ObjectVersion]:
    """The bucket's objects now."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [
        ObjectVersion(o["Key"], None, int(o["Size"]))
        for page in pages
        for o in page.get("Contents", [])
    ]


def objects_as_of(
    client: Any, bucket: str, since: datetime, until: datetime
) -> list[ObjectVersion]:
    """The versioned bucket's objects as the databases' dumps saw them: per key the newest
    version written by ``until`` (the dumps' end); a key deleted after ``since`` (the dumps'
    start) keeps its last version before the deletion."""
    since = since.replace(microsecond=0)  # S3 times may be whole seconds
    by_key: dict[str, list[tuple[datetime, str | None, int]]] = {}
    pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket)
    for page in pages:
        for v in page.get("Versions", []):
            by_key.setdefault(v["Key"], []).append((v["LastModified"], v["VersionId"], v["Size"]))
        for m in page.get("DeleteMarkers", []):
            by_key.setdefault(m["Key"], []).append((m["LastModified"], None, -1))
    chosen = []
    for key, versions in sorted(by_key.items()):
        before = sorted((v for v in versions if v[0] <= until), key=lambda v: v[0])
        while before and before[-1][2] < 0 and before[-1][0] >= since:
            before.pop()  # deleted while the dumps ran: the version before the deletion
        if before and before[-1][2] >= 0:
            chosen.append(ObjectVersion(key, before[-1][1], before[-1][2]))
    return chosen


def objects_to_copy(
    client: Any, bucket: str, since: datetime, until: datetime
) -> list[ObjectVersion]:
    """What a backup copies of ``bucket`` (see the module's docstring)."""
    if is_versioned(client, bucket):
        return objects_as_of(client, bucket, since, until)
    return current_objects(client, bucket)


def copy_out(
    client: Any,
    bucket: str,
    name: str,
    objects: list[ObjectVersion],
    target: Target,
    progress: Callable[[int, int, str], None],
) -> list[Entry]:
    """Copy ``objects`` of ``bucket`` into the backup under ``buckets/<name>/``."""
    entries = []
    for i, obj in enumerate(objects, 1):
        extra = {"VersionId": obj.version_id} if obj.version_id else {}
        body = client.get_object(Bucket=bucket, Key=obj.key, **extra)["Body"]
        with body:
            entries.append(store(target, backup_path(name, obj.key), body))
        progress(i, len(objects), obj.key)
    return entries


def copy_back(
    client: Any,
    bucket: str,
    name: str,
    entries: list[Entry],
    target: Target,
    progress: Callable[[int, int, str], None],
) -> None:
    """Upload the backup's ``buckets/<name>/`` files into ``bucket`` under their keys."""
    for i, entry in enumerate(entries, 1):
        key = object_key(name, entry.path)
        with target.open(entry.path) as data:
            client.upload_fileobj(data, bucket, key)
        progress(i, len(entries), key)


def entries_of(name: str, entries: list[Entry]) -> list[Entry]:
    """The manifest entries of bucket ``name``."""
    prefix = f"{BUCKETS}/{name}/"
    return [e for e in entries if e.path.startswith(prefix)]


def is_empty(client: Any, bucket: str) -> bool:
    """True when the bucket holds no object (earlier versions do not count), or does not
    exist yet (a MinIO that started on an empty volume)."""
    from botocore.exceptions import ClientError

    try:
        return not client.list_objects_v2(Bucket=bucket, MaxKeys=1).get("Contents")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return True
        raise


def empty(client: Any, bucket: str) -> int:
    """Delete every current object of ``bucket`` (a versioned bucket keeps their versions);
    returns how many."""
    keys = [o.key for o in current_objects(client, bucket)]
    for i in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[i : i + 1000]]
        client.delete_objects(Bucket=bucket, Delete={"Objects": batch})
    return len(keys)
