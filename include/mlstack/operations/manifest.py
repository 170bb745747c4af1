"""A backup's manifest: every file it holds with its size and SHA-256, and what it came from.

``manifest.json`` at the backup's top lists each file (``databases/<name>.dump``,
``buckets/<name>/<object key>``) with ``size`` and ``sha256``, the databases and buckets
backed up, the versions of what made it (:mod:`mlstack.operations.versions`), when it started
and how long it took. ``manifest.json.sha256`` holds the manifest's own checksum.
:func:`verify` reads every file back and names the first that does not match.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from mlstack.exceptions import BackupError
from mlstack.operations.target import Target

MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.json.sha256"
FORMAT = 1
_CHUNK = 1 << 20


class HashingReader:
    """A stream that counts and hashes what is read through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.size = 0
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n if n is not None and n >= 0 else -1)
        self.size += len(data)
        self.sha.update(data)
        return data

    @property
    def sha256(self) -> str:
        return self.sha.hexdigest()


@dataclass(frozen=True)
class Entry:
    """One file of the backup."""

    path: str
    size: int
    sha256: str


@dataclass
class Manifest:
    """What a backup holds and where it came from."""

    created_at: str
    databases: dict[str, str] = field(default_factory=dict)  # backup name -> server's name
    buckets: dict[str, str] = field(default_factory=dict)  # backup name -> bucket
    versions: dict[str, Any] = field(default_factory=dict)
    files: list[Entry] = field(default_factory=list)
    duration_s: float = 0.0
    format: int = FORMAT

    @property
    def size(self) -> int:
        """Bytes of every file listed."""
        return sum(e.size for e in self.files)

    def to_json(self) -> bytes:
        data = asdict(self)
        data["files"] = sorted(data["files"], key=lambda e: e["path"])
        return json.dumps(data, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        data = json.loads(raw)
        if data.get("format") != FORMAT:
            raise BackupError(f"{MANIFEST}: format {data.get('format')!r}, expected {FORMAT}")
        data["files"] = [Entry(**e) for e in data["files"]]
        return cls(**data)


def store(target: Target, rel: str, data: IO[bytes]) -> Entry:
    """Write the stream ``data`` into the backup as ``rel``: its manifest entry."""
    reader = HashingReader(data)
    target.put(rel, reader)  # type: ignore[arg-type]
    return Entry(rel, reader.size, reader.sha256)


def write(target: Target, manifest: Manifest) -> None:
    """Write ``manifest.json`` and its checksum (last: a backup without them is unfinished)."""
    import io

    raw = manifest.to_json()
    target.put(MANIFEST, io.BytesIO(raw))
    target.put(
        MANIFEST_SUM, io.BytesIO(f"{hashlib.sha256(raw).hexdigest()}  {MANIFEST}\n".encode())
    )


def read(target: Target) -> Manifest:
    """The backup's manifest, checked against its checksum; BackupError naming what is wrong."""
    try:
        with target.open(MANIFEST) as f:
            raw = f.read()
        with target.open(MANIFEST_SUM) as f:
            expected = f.read().decode().split()[0]
    except FileNotFoundError as exc:
        raise BackupError(
            f"{target.location} is no finished backup: {exc.args[0] if exc.args else exc} "
            "is missing (a backup writes its manifest last)"
        ) from exc
    if hashlib.sha256(raw).hexdigest() != expected:
        raise BackupError(f"{target.location}/{MANIFEST} does not match {MANIFEST_SUM}")
    return Manifest.from_json(raw)


def checksum(target: Target, rel: str) -> Entry:
    """Size and SHA-256 of the stored file ``rel``, read back."""
    with target.open(rel) as f:
        reader = HashingReader(f)
        while reader.read(_CHUNK):
            pass
    return Entry(rel, reader.size, reader.sha256)


def verify(target: Target, manifest: Manifest, progress: Any = None) -> None:
    """Read every file of the backup back; BackupError naming the first file that is
    missing, or whose size or SHA-256 differs from the manifest's."""
    for i, entry in enumerate(manifest.files, 1):
        try:
            found = checksum(target, entry.path)
        except FileNotFoundError as exc:
            raise BackupError(
                f"backup {target.location} is damaged: {entry.path} is missing"
            ) from exc
        if found != entry:
            raise BackupError(
                f"backup {target.location} is damaged: {entry.path} has {found.size} bytes, "
                f"sha256 {found.sha256[:16]}…; the manifest says {entry.size} bytes, "
                f"sha256 {entry.sha256[:16]}…"
            )
        if progress:
            progress(i, len(manifest.files), entry.path)
