"""Where backups are kept: a local folder or an S3 prefix (``s3://bucket/prefix``).

A :class:`Target` holds one backup's files by relative path (``manifest.json``,
``databases/mlstack.dump``, ``buckets/lake/<key>``); :func:`open_target` picks the kind from
the location. S3 targets use the configured S3 endpoint and credentials (``MLSTACK_S3_*``).
Backups sit side by side under the location, one folder per backup named by its UTC time
(:func:`backup_names`), which is what retention prunes (:func:`prune`).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import urlparse

from mlstack.settings import Settings

#: a backup's folder name: its UTC start, e.g. 20261201T184500Z
BACKUP_NAME = re.compile(r"\d{8}T\d{6}Z")


class Target(Protocol):
    """One backup's files by relative path."""

    location: str

    def put(self, rel: str, data: IO[bytes]) -> None:
        """Store the stream ``data`` (read to its end) as ``rel``; atomic per file."""

    def open(self, rel: str) -> IO[bytes]:
        """The stored file ``rel``, for reading; FileNotFoundError when it is not there."""

    def names(self) -> list[str]:
        """Relative paths of every stored file, sorted."""


class FolderTarget:
    """A backup in a local folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def put(self, rel: str, data: IO[bytes]) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".tmp-{uuid.uuid4().hex}"
        with tmp.open("wb") as out:
            shutil.copyfileobj(data, out, 1 << 20)
        os.replace(tmp, path)

    def open(self, rel: str) -> IO[bytes]:
        return (self.root / rel).open("rb")

    def names(self) -> list[str]:
        files = (p for p in self.root.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))
        return sorted(p.relative_to(self.root).as_posix() for p in files)


class S3Target:
    """A backup under ``s3://bucket/prefix``."""

    def __init__(self, url: str, settings: Settings) -> None:
        from mlstack.lake import s3_client

        parsed = urlparse(url)
        self.bucket, self.prefix = parsed.netloc, parsed.path.strip("/")
        self.location = url
        self.client = s3_client(settings)

    def _key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def put(self, rel: str, data: IO[bytes]) -> None:
        self.client.upload_fileobj(data, self.bucket, self._key(rel))

    def open(self, rel: str) -> IO[bytes]:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(rel))["Body"]
        except self.client.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(f"{self.location}/{rel}") from exc

    def names(self) -> list[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=base
        )
        return sorted(o["Key"][len(base) :] for page in pages for o in page.get("Contents", []))


def open_target(location: str, settings: Settings) -> Target:
    """The target at ``location``: ``s3://bucket/prefix`` or a folder path."""
    if location.startswith("s3://"):
        return S3Target(location.rstrip("/"), settings)
    return FolderTarget(Path(location).expanduser().resolve())


def child(location: str, name: str) -> str:
    """The location of the backup ``name`` under ``location``."""
    return f"{location.rstrip('/')}/{name}"


def backup_names(location: str, settings: Settings) -> list[str]:
    """The backups under ``location`` (folders named by their UTC time), oldest first."""
    rels = open_target(location, settings).names()
    return sorted({r.split("/", 1)[0] for r in rels if BACKUP_NAME.fullmatch(r.split("/", 1)[0])})


def prune(location: str, keep: int, settings: Settings) -> list[str]:
    """Delete all but the newest ``keep`` backups under ``location``; returns those deleted."""
    if keep < 1:
        raise ValueError("retention must keep at least one backup")
    old = backup_names(location, settings)[:-keep]
    for name in old:
        _delete(child(location, name), settings)
    return old


def _delete(location: str, settings: Settings) -> None:
    """Remove one backup (its folder, or every object under its S3 prefix)."""
    target = open_target(location, settings)
    if isinstance(target, FolderTarget):
        shutil.rmtree(target.root)
        return
    assert isinstance(target, S3Target)
    keys = [target._key(rel) for rel in target.names()]
    for i in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[i : i + 1000]]
        target.client.delete_objects(Bucket=target.bucket, Delete={"Objects": batch})
