"""A backup's files: the manifest names the file that does not match, retention keeps the
newest backups, bucket keys map to files and back, and a versioned bucket is copied as the
dumps saw it (moto's S3)."""

from __future__ import annotations

import io
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mlstack.exceptions import BackupError
from mlstack.operations import buckets, manifest, target
from mlstack.operations.manifest import Manifest


def _backup(root: Path) -> target.FolderTarget:
    t = target.FolderTarget(root)
    files = [manifest.store(t, rel, io.BytesIO(data)) for rel, data in FILES.items()]
    manifest.write(t, Manifest(created_at="2026-12-01T00:00:00+00:00", files=files))
    return t


FILES = {"databases/mlstack.dump": b"dump", "buckets/lake/reports/a.html": b"<html>"}


def test_a_damaged_file_is_named(tmp_path: Path) -> None:
    t = _backup(tmp_path)
    found = manifest.read(t)
    manifest.verify(t, found)
    assert {e.path for e in found.files} == set(FILES)
    (tmp_path / "buckets/lake/reports/a.html").write_bytes(b"<html!")
    with pytest.raises(BackupError, match="buckets/lake/reports/a.html has 6 bytes"):
        manifest.verify(t, found)
    (tmp_path / "buckets/lake/reports/a.html").write_bytes(b"<html>")
    (tmp_path / "databases/mlstack.dump").unlink()
    with pytest.raises(BackupError, match="databases/mlstack.dump is missing"):
        manifest.verify(t, found)


def test_an_edited_or_missing_manifest_is_refused(tmp_path: Path) -> None:
    t = _backup(tmp_path)
    (tmp_path / manifest.MANIFEST).write_bytes(b"{}")
    with pytest.raises(BackupError, match="does not match"):
        manifest.read(t)
    (tmp_path / manifest.MANIFEST_SUM).unlink()
    with pytest.raises(BackupError, match="no finished backup"):
        manifest.read(t)


def test_retention_keeps_the_newest(tmp_path: Path, embedded_settings) -> None:
    names = ["20261101T030000Z", "20261102T030000Z", "20261103T030000Z"]
    for name in names:
        _backup(tmp_path / name)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "x").write_text("not a backup")
    assert target.prune(str(tmp_path), 2, embedded_settings) == names[:1]
    assert target.backup_names(str(tmp_path), embedded_settings) == names[1:]
    assert (tmp_path / "notes" / "x").exists()


def test_folder_markers_map_to_files_and_back() -> None:
    for key in ["warehouse/t/", "warehouse/t/data/a.parquet"]:
        assert buckets.object_key("lake", buckets.backup_path("lake", key)) == key
    assert buckets.backup_path("lake", "a/").endswith("/a/.folder-marker")


def test_versioned_bucket_is_copied_as_the_dumps_saw_it(s3_endpoint: str, monkeypatch) -> None:
    from mlstack import lake
    from support import use_settings

    s = use_settings(
        monkeypatch, s3_endpoint_url=s3_endpoint, s3_access_key_id="t", s3_secret_access_key="t"
    )
    client = lake.s3_client(s)
    bucket = f"v-{uuid.uuid4().hex[:8]}"
    assert lake.ensure_bucket(bucket, s) and buckets.is_versioned(client, bucket)
    for key in ("kept", "overwritten", "deleted-during", "deleted-before"):
        client.put_object(Bucket=bucket, Key=key, Body=b"old")
    client.delete_object(Bucket=bucket, Key="deleted-before")
    time.sleep(1.1)  # S3 times are whole seconds
    since = datetime.now(UTC)
    client.delete_object(Bucket=bucket, Key="deleted-during")
    until = datetime.now(UTC) + timedelta(seconds=1)
    time.sleep(2.1)
    client.put_object(Bucket=bucket, Key="overwritten", Body=b"new")
    client.put_object(Bucket=bucket, Key="written-after", Body=b"new")
    chosen = {o.key: o for o in buckets.objects_to_copy(client, bucket, since, until)}
    assert set(chosen) == {"kept", "overwritten", "deleted-during"}
    old = client.get_object(
        Bucket=bucket, Key="overwritten", VersionId=chosen["overwritten"].version_id
    )
    assert old["Body"].read() == b"old"
