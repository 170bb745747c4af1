"""The gateway's local journal: every answered prediction and accepted label is on disk
before its answer is sent.

The request path encodes its rows and appends them to the process's current segment file
with one ``write`` (the kernel holds them from then on: a SIGKILL of the worker loses
nothing). With ``fsync`` on (the default) the answer also waits for a ``fdatasync`` of the
segment that started after its row was written and has finished, so a power cut loses
nothing answered either. Syncs are group commits (one round flushes every row written
before it, whatever the number of requests waiting) and pipelined: up to
:data:`SYNC_THREADS` rounds run at once, so a row written while a round is on the disk
starts the next round at once instead of waiting for the running one to end. Each append
is numbered; a waiter is answered once a finished round covered its number. Rounds start at
least :data:`ROUND_GAP_S` apart, so under load one round answers many requests (group
commit with a commit delay, as PostgreSQL's ``commit_delay``), and every request waiting
for one round shares one future.

Rows then go to the database through :class:`~mlstack.gateway.prediction_log.PredictionLogger`
as before; it tells the journal when a row is *settled* (committed, spooled, or set aside).
A segment whose rows are all settled is deleted once the process has moved to a newer one.
Each segment is held under an exclusive ``flock`` by the process writing it; a segment
nobody holds belongs to a dead process, and :meth:`Journal.orphans` hands its rows back
(the logger inserts them idempotently) before deleting it.

A line is ``<crc32 hex> <JSON [table, row]>``: a line torn by a power cut fails its
checksum and is skipped (it was never acknowledged, so never answered).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from mlstack.exceptions import MlstackError

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode
SUFFIX = ".journal"
SYNC_THREADS = 2  # sync rounds that may run at once (see Journal._sync_loop)
ROUND_GAP_S = 0.001  # least time between the starts of two sync rounds (see _sync_loop)


class LogUnavailable(MlstackError):
    """A row could not be made durable (journal or spool not writable): answer 503."""


def frame(table: str, row: dict[str, Any]) -> bytes:
    """One journal line: checksum, space, JSON ``[table, row]``, newline."""
    payload = _encode([table, row])
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def unframe(line: bytes) -> tuple[str, dict[str, Any]]:
    """``(table, row)`` of a journal line; ValueError if torn or not a journal line."""
    line = line.rstrip(b"\n")
    if len(line) < 10 or line[8:9] != b" ":
        raise ValueError("not a journal line")
    payload = line[9:]
    if int(line[:8], 16) != zlib.crc32(payload):
        raise ValueError("checksum mismatch (torn write)")
    table, row = msgspec.json.decode(payload)
    if not isinstance(table, str) or not isinstance(row, dict):
        raise ValueError("not a [table, row] pair")
    return table, row


@dataclass
class _Segment:
    path: Path
    fd: int
    size: int = 0
    appended: int = 0
    settled: int = 0
    last_write: int = 0  # the journal's write number of the last append to this segment
    synced_upto: int = 0  # every write numbered up to this is on disk

    @property
    def synced(self) -> bool:
        """True when every write to this segment is on disk."""
        return self.synced_upto >= self.last_write


Futures = dict[asyncio.AbstractEventLoop, "asyncio.Future[None]"]  # one per event loop


class Journal:
    """Append-only, group-committed segments in ``directory``; one per process at a time."""

    def __init__(
        self,
        directory: Path,
        *,
        fsync: bool = True,
        segment_bytes: int = 64 << 20,
        sync_threads: int = SYNC_THREADS,
        round_gap_s: float = ROUND_GAP_S,
    ) -> None:
        self.directory = Path(directory)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.sync_threads = max(1, sync_threads)
        self.round_gap_s = max(0.0, round_gap_s)
        self._segments: dict[int, _Segment] = {}
        self._active = -1
        self._seq = 0
        self._lock = threading.Lock()  # segments and counters (event loop + writer thread)
        self._cond = threading.Condition()  # waiters and sync rounds (event loop + syncers)
        self._next: Futures = {}  # answered by the next round to start
        self._rounds: dict[int, Futures] = {}  # rounds on the disk: their target -> futures
        self._gathering = False  # a syncer waits out the round gap before its round starts
        self._last_start = 0.0  # time.monotonic() when the last round took its target
        self._written = 0  # numbers every append (under _lock)
        self._covered = 0  # the highest write a sync round has started for
        self._durable = 0  # every write up to this number is on disk
        self._failed = 0  # writes up to this number may be lost (a sync of theirs failed)
        self._stop = False
        self._syncers: list[threading.Thread] = []
        self.error: str | None = None  # the last write/sync failure, until one succeeds
        self._broken = False  # the current segment failed: the next append starts a new one
        self.stats = {"appended": 0, "syncs": 0, "recovered": 0, "torn_lines": 0}

    # --- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Create the folder, start a segment and the syncer threads."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for tmp in self.directory.glob(".*.tmp"):  # a crash between create and rename
            fd = os.open(tmp, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                tmp.unlink(missing_ok=True)
            except BlockingIOError:
                pass
            finally:
                os.close(fd)
        self._rotate()
        if self.fsync and not self._syncers:
            self._stop = False
            for i in range(self.sync_threads):
                t = threading.Thread(target=self._sync_loop, name=f"journal-sync-{i}", daemon=True)
                t.start()
                self._syncers.append(t)

    def close(self) -> None:
        """Stop the syncers; delete the segments whose rows are all settled, keep the others
        (the next start replays them)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for t in self._syncers:
            t.join(10)
        self._syncers = []
        with self._lock:
            for seg in list(self._segments.values()):
                self._sync(seg)
                if seg.settled >= seg.appended:
                    seg.path.unlink(missing_ok=True)
                else:
                    log.warning(
                        "Journal %s keeps %d unsettled rows for the next start",
                        seg.path.name,
                        seg.appended - seg.settled,
                    )
                os.close(seg.fd)
            self._segments.clear()
            self._active = -1

    def alive(self) -> bool:
        """True while every syncer runs (or none is needed)."""
        return not self.fsync or (
            len(self._syncers) == self.sync_threads and all(t.is_alive() for t in self._syncers)
        )

    # --- request path ----------------------------------------------------------------------

    def append(self, table: str, rows: list[dict[str, Any]]) -> int:
        """Write ``rows`` to the current segment; return its id (for :meth:`settle`).

        Raises :class:`LogUnavailable` when the disk refuses (full, read-only, gone).
        """
        data = b"".join([frame(table, r) for r in rows])
        with self._lock:
            try:
                if (
                    self._broken
                    or self._active < 0
                    or self._segments[self._active].size >= self.segment_bytes
                ):
                    self._rotate()
                    self._broken = False
                seg = self._segments[self._active]
                view = memoryview(data)
                while view:  # a regular file takes it whole, but be exact
                    n = os.write(seg.fd, view)
                    view = view[n:]
            except OSError as exc:
                self._broken = True
                self.error = f"journal not writable in {self.directory}: {exc}"
                raise LogUnavailable(self.error) from exc
            self._written += 1
            seg.last_write = self._written
            seg.size += len(data)
            seg.appended += len(rows)
            self.stats["appended"] += len(rows)
            if self.error and self.error.startswith("journal not writable"):
                self.error = None
            return self._active

    def durable(self) -> asyncio.Future[None] | None:
        """A future done when everything appended so far is on disk (None without fsync).

        It fails with :class:`LogUnavailable` when a sync of those rows failed. Every
        request waiting for the same round shares one future (one per event loop)."""
        if not self.fsync:
            return None
        loop = asyncio.get_running_loop()
        with self._cond:
            if self._written <= self._durable:  # a round made it durable already
                fut: asyncio.Future[None] = loop.create_future()
                fut.set_result(None)
                return fut
            if self._written <= self._failed:  # a sync failed after this was written
                fut = loop.create_future()
                fut.set_exception(LogUnavailable(self.error or "journal fsync failed"))
                return fut
            if self._written <= self._covered:  # the last round started covers it
                group = self._rounds[self._covered]
            else:  # no round under way covers it: the next one will, start it
                group = self._next
                self._cond.notify()
            fut = group.get(loop)  # type: ignore[assignment]
            if fut is None:
                fut = group[loop] = loop.create_future()
        return fut

    # --- writer thread ---------------------------------------------------------------------

    def settle(self, seg_id: int, n: int) -> None:
        """``n`` rows of segment ``seg_id`` are in the database, the spool or set aside."""
        if seg_id < 0:
            return
        with self._lock:
            seg = self._segments.get(seg_id)
            if seg is None:
                return
            seg.settled += n
            if seg_id != self._active and seg.settled >= seg.appended:
                self._retire(seg_id)

    def unsettled(self) -> int:
        """Rows of this process's segments not yet in the database or the spool."""
        with self._lock:
            return sum(s.appended - s.settled for s in self._segments.values())

    def segment_files(self) -> list[Path]:
        """Every segment in the folder (this process's and others')."""
        return sorted(self.directory.glob(f"*{SUFFIX}"))

    def orphans(self) -> Iterator[tuple[Path, list[tuple[str, dict[str, Any]]]]]:
        """Segments left by dead processes, claimed one at a time: yields ``(path, rows)``;
        the caller makes the rows durable elsewhere, then the segment is deleted (when the
        caller raises, the segment stays for a later pass)."""
        mine = {s.path for s in self._segments.values()}
        for path in self.segment_files():
            if path in mine:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its process is alive
                if not path.exists():  # claimed and finished by another process meanwhile
                    continue
                rows = []
                with os.fdopen(os.dup(fd), "rb") as f:
                    for line in f:
                        try:
                            rows.append(unframe(line))
                        except (ValueError, msgspec.DecodeError) as exc:
                            self.stats["torn_lines"] += 1
                            log.warning("Journal %s: skipped a line (%s)", path.name, exc)
                yield path, rows
                path.unlink(missing_ok=True)
                self.stats["recovered"] += len(rows)
                if rows:
                    log.warning(
                        "Recovered %d rows from %s, left by a process that died", len(rows), path
                    )
            finally:
                os.close(fd)

    # --- internals -------------------------------------------------------------------------

    def _rotate(self) -> None:
        """Start a new segment (called with ``_lock`` held, or before any thread runs)."""
        self._seq += 1
        name = f"{time.time_ns()}.{os.getpid()}.{self._seq}"
        tmp = self.directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for the segment's life: alive = locked
        path = self.directory / f"{name}{SUFFIX}"
        os.rename(tmp, path)  # only locked segments carry the name others look for
        if self.fsync:
            dfd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        old = self._active
        self._segments[self._seq] = _Segment(path, fd)
        self._active = self._seq
        if old >= 0:
            prev = self._segments[old]
            if prev.settled >= prev.appended:
                self._sync(prev)
                self._retire(old)

    def _retire(self, seg_id: int) -> None:
        seg = self._segments.pop(seg_id)
        seg.path.unlink(missing_ok=True)
        os.close(seg.fd)

    def _sync(self, seg: _Segment) -> None:
        if not seg.synced:
            os.fdatasync(seg.fd)
            seg.synced_upto = seg.last_write

    def _sync_loop(self) -> None:
        """One syncer: wait for a write no round covers yet, sync every segment written
        since its last completed sync, then answer the requests waiting for that round.

        Several syncers run at once (pipelining): a request written while a round is on the
        disk starts the next round on another syncer instead of waiting for the running one
        to finish (concurrent fdatasyncs of one file are cheap on Linux). Rounds start at
        least ``round_gap_s`` apart: under load each round then covers the requests of a
        whole gap (at most one round per gap), while a lone request, which comes more than a
        gap after the last round, starts its round at once."""
        while True:
            with self._cond:
                while not self._stop and (self._written <= self._covered or self._gathering):
                    self._cond.wait()
                if self._written <= self._covered:  # stopping, and nothing left to sync
                    return
                self._gather()
                target = self._covered = self._written
                futures, self._next = self._next, {}
                self._rounds[target] = futures
            with self._lock:  # dup: a segment retired meanwhile keeps a valid descriptor
                todo = [(s, os.dup(s.fd)) for s in self._segments.values() if not s.synced]
            error: str | None = None
            for _seg, fd in todo:
                try:
                    os.fdatasync(fd)
                except OSError as exc:  # the disk lost them: never answer as if durable
                    error = f"journal fsync failed in {self.directory}: {exc}"
                finally:
                    os.close(fd)
            if error is None:
                with self._lock:
                    for seg, _ in todo:
                        seg.synced_upto = max(seg.synced_upto, min(target, seg.last_write))
            self._finish_round(target, error)

    def _gather(self) -> None:
        """Wait out what is left of the round gap (called with ``_cond`` held; other syncers
        wait meanwhile, requests keep appending)."""
        left = self._last_start + self.round_gap_s - time.monotonic()
        if left > 0 and not self._stop:
            self._gathering = True
            self._cond.release()
            try:
                time.sleep(left)
            finally:
                self._cond.acquire()
                self._gathering = False
        self._last_start = time.monotonic()

    def _finish_round(self, target: int, error: str | None) -> None:
        """Answer the requests of the round that synced every write up to ``target``: done,
        or :class:`LogUnavailable` when this or an earlier sync failed after they were
        written (then every request still waiting fails with it)."""
        with self._cond:
            self.stats["syncs"] += 1
            futures = [self._rounds.pop(target, {})]
            if error is not None:
                # Linux may drop the failed pages and report the next fsync as a success:
                # nothing written so far can be trusted, so fail it all and start afresh.
                self.error = error
                self._broken = True
                self._failed = self._written
                futures += [*self._rounds.values(), self._next]
                self._rounds, self._next = {}, {}
            elif self.error and self.error.startswith("journal fsync"):
                self.error = None
            ok = error is None and target > self._failed
            if ok:
                self._durable = max(self._durable, target)
            failure = None if ok else LogUnavailable(self.error or "journal fsync failed")
        for group in futures:
            for loop, fut in group.items():
                with contextlib.suppress(RuntimeError):  # the loop closed while we synced
                    loop.call_soon_threadsafe(_resolve, fut, failure)


def _resolve(fut: asyncio.Future[None], failure: LogUnavailable | None) -> None:
    """Answer a round's future (on its loop): done, or the failure."""
    if fut.done():
        return
    if failure is None:
        fut.set_result(None)
    else:
        fut.set_exception(failure)
