"""The gateway's local journal: every answered prediction and accepted label is on disk
before its answer is sent.

The request path only encodes its rows and hands them over (:meth:`Journal.append`, no
system call on the event loop); it gets a future that is done once its rows are written
and, with ``fsync`` on (the default), ``fdatasync``'d. Writer threads (:data:`WRITERS`)
each take every row handed over so far (a *round*), write it after the last one in the
process's current segment file with one ``pwrite``, ``fdatasync`` it and then answer that
round's requests (``loop.call_soon_threadsafe``): an answer never comes before its own
row's write, nor, with fsync, before a ``fdatasync`` that started after that write has
finished, so a power cut loses nothing answered. Without fsync the answer comes after the
``pwrite`` (the kernel holds the row from then on: a SIGKILL of the worker loses nothing).
Rounds are group commits (one write and one sync for every request waiting) and pipelined:
while one writer's round is on the disk, another takes the rows that arrived meanwhile.
Rounds start at least :data:`ROUND_GAP_S` apart, so under load one round answers many
requests (group commit with a commit delay, as PostgreSQL's ``commit_delay``); every request
of a round shares one future.

With fsync, a segment's space is allocated (``posix_fallocate``) :data:`ALLOCATE_AHEAD`
bytes at a time ahead of its rows, which are written into it in place: an ``fdatasync``
then has no file size to commit, except in the round that allocates (as PostgreSQL keeps
its WAL segments' size fixed). On this project's VM a round took about a third less time
and CPU so (``bench/bench_fsync.py``, bench/results/fsync.md). Space allocated and not
written reads as NUL bytes: a reader stops at the first one (a journal line never holds
one).

Rows then go to the database through :class:`~mlstack.gateway.prediction_log.PredictionLogger`
as before; it tells the journal when a row is *settled* (committed, spooled, or set aside).
A segment whose rows are all settled is deleted once the process has moved to a newer one.
Each segment is held under an exclusive ``flock`` by the process writing it; a segment
nobody holds belongs to a dead process, and :meth:`Journal.orphans` hands its rows back
(the logger inserts them idempotently) before deleting it.

A line is ``<crc32 hex> <JSON [table, row]>``: a line torn by a power cut fails its
checksum and is skipped (it was never acknowledged, so never answered). Writes are
serialized and a failed one moves the journal to a new segment, so a torn line is always
the last of its segment.
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
#: a segment's temporary file older than this, and unlocked, was left by a process that died
#: between creating and renaming it (a live one renames it within microseconds)
STALE_TMP_S = 60.0
SUFFIX = ".journal"
WRITERS = 2  # writer threads: rounds that may be on the disk at once (see _writer_loop)
ROUND_GAP_S = 0.001  # least time between the starts of two fsync'd rounds (see _gather)
ALLOCATE_AHEAD = 1 << 20  # with fsync, bytes of a segment allocated ahead of its rows at a time


class LogUnavailable(MlstackError):
    """A row could not be made durable (journal or spool not writable): answer 503."""


def frame(table: str, row: dict[str, Any]) -> bytes:
    """One journal line: checksum, space, JSON ``[table, row]``, newline."""
    payload = _encode([table, row])
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def read_lines(path: Path) -> list[bytes]:
    """The lines of a segment file: up to its first NUL byte (the space allocated ahead of
    the rows), the last one without its newline if torn."""
    data = path.read_bytes()
    end = data.find(b"\0")
    return (data if end < 0 else data[:end]).splitlines(keepends=True)


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
    size: int = 0  # bytes of rows: the next round is written at this offset
    allocated: int = 0  # bytes of the file (rows, then space allocated ahead of them)
    appended: int = 0
    settled: int = 0
    last_write: int = 0  # the journal's write number of the last write to this segment
    synced_upto: int = 0  # every write numbered up to this is on disk

    @property
    def synced(self) -> bool:
        """True when every write to this segment is on disk."""
        return self.synced_upto >= self.last_write


Futures = dict[asyncio.AbstractEventLoop, "asyncio.Future[int]"]  # one per event loop


class Journal:
    """Append-only, group-committed segments in ``directory``; one per process at a time.

    Locks: ``_cond`` guards the rows handed over and the rounds' futures (the event loop
    holds it only to hand rows over); ``_io_lock`` serializes a round's rotate + write;
    ``_lock`` guards the segments and counters (writers, the log writer's :meth:`settle`).
    No lock is held during an ``fdatasync``, and the event loop never waits for the disk.
    """

    def __init__(
        self,
        directory: Path,
        *,
        fsync: bool = True,
        segment_bytes: int = 64 << 20,
        writers: int = WRITERS,
        round_gap_s: float = ROUND_GAP_S,
    ) -> None:
        self.directory = Path(directory)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.writers = max(1, writers)
        self.round_gap_s = max(0.0, round_gap_s) if fsync else 0.0
        self._segments: dict[int, _Segment] = {}
        self._active = -1
        self._seq = 0
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._cond = threading.Condition()
        self._pending: list[bytes] = []  # encoded rows handed over, not yet taken by a round
        self._pending_rows = 0
        self._next: Futures = {}  # answered by the round that takes the pending rows
        self._inflight: dict[int, Futures] = {}  # rounds taken and not answered, by number
        self._synced: dict[int, int] = {}  # rounds synced, waiting for an earlier one: seg id
        self._rounds = 0  # numbers the rounds
        self._gathering = False  # a writer waits out the round gap before taking its round
        self._last_start = 0.0  # time.monotonic() when the last round was taken
        self._written = 0  # numbers every write (under _lock)
        self._stop = False
        self._threads: list[threading.Thread] = []
        self.error: str | None = None  # the last write/sync failure, until a round succeeds
        self._broken = False  # the current segment failed: the next write starts a new one
        self.stats = {"appended": 0, "rounds": 0, "syncs": 0, "recovered": 0, "torn_lines": 0}

    # --- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Create the folder, start a segment and the writer threads."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for tmp in self.directory.glob(".*.tmp"):
            self._remove_stale_tmp(tmp)
        with self._lock:
            self._rotate()
        if not self._threads:
            self._stop = False
            for i in range(self.writers):
                t = threading.Thread(target=self._writer_loop, name=f"journal-{i}", daemon=True)
                t.start()
                self._threads.append(t)

    @staticmethod
    def _remove_stale_tmp(tmp: Path) -> None:
        """Delete a segment left between its create and its rename by a process that died.

        Other processes sharing the folder (a gateway's workers, replicas on one volume)
        create and rename their own at any time: a file renamed meanwhile is gone, and one
        younger than :data:`STALE_TMP_S` may be another's, created and not locked yet."""
        try:
            fd = os.open(tmp, os.O_RDONLY)
        except FileNotFoundError:  # renamed (or removed) by its process meanwhile
            return
        try:
            if time.time() - os.fstat(fd).st_mtime < STALE_TMP_S:
                return
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            tmp.unlink(missing_ok=True)
        except BlockingIOError:  # its process is alive
            pass
        finally:
            os.close(fd)

    def close(self) -> None:
        """Write and sync what was handed over, stop the writers; delete the segments whose
        rows are all settled, keep the others (the next start replays them)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(10)
        self._threads = []
        with self._io_lock, self._lock:
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
        """True while every writer thread runs."""
        return len(self._threads) == self.writers and all(t.is_alive() for t in self._threads)

    # --- request path ----------------------------------------------------------------------

    def append(self, table: str, rows: list[dict[str, Any]]) -> asyncio.Future[int]:
        """Hand ``rows`` to the writers; the future's result is their segment's id (for
        :meth:`settle`), set once they are written and, with fsync, on disk.

        The future fails with :class:`LogUnavailable` when the disk refuses (full,
        read-only, gone) or a sync of them failed. Every request of one round shares one
        future (one per event loop): await it through ``asyncio.shield``."""
        data = b"".join([frame(table, r) for r in rows])
        loop = asyncio.get_running_loop()
        with self._cond:
            if self._stop:
                raise LogUnavailable("the journal is closed (the gateway is stopping)")
            self._pending.append(data)
            self._pending_rows += len(rows)
            fut = self._next.get(loop)
            if fut is None:
                fut = self._next[loop] = loop.create_future()
            if len(self._pending) == 1:  # the first row of a round: wake a writer
                self._cond.notify()
        return fut

    # --- log writer thread -----------------------------------------------------------------

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
        with self._lock:
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
                for line in read_lines(path):
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

    # --- writer threads --------------------------------------------------------------------

    def _writer_loop(self) -> None:
        """One writer: take every row handed over so far (a round), write and sync it, then
        answer the round's requests; on stop, first finish what was handed over.

        Several writers run at once (pipelining): rows handed over while a round is on the
        disk start the next round on another writer instead of waiting for the running one
        to finish (concurrent fdatasyncs of one file are cheap on Linux)."""
        while True:
            with self._cond:
                while not self._stop and (not self._pending or self._gathering):
                    self._cond.wait()
                if not self._pending:  # stopping, and nothing left
                    return
                self._gather()
                if not self._pending:  # another writer took them meanwhile (stopping)
                    continue
                chunks, self._pending = self._pending, []
                rows, self._pending_rows = self._pending_rows, 0
                futures, self._next = self._next, {}
                self._rounds += 1
                number = self._rounds
                self._inflight[number] = futures
            seg_id, error, sync_failed = self._write_round(b"".join(chunks), rows)
            self._finish_round(number, seg_id, error, sync_failed)

    def _gather(self) -> None:
        """Wait out what is left of the round gap (called with ``_cond`` held; other writers
        wait meanwhile, requests keep handing rows over). Under load one round then covers
        the requests of a whole gap, while a lone request, which comes more than a gap after
        the last round, starts its round at once."""
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

    def _write_round(self, data: bytes, rows: int) -> tuple[int, str | None, bool]:
        """Write a round's rows after the last ones in the current segment (a new one after
        a failure; with fsync into space allocated ahead, :data:`ALLOCATE_AHEAD`) and, with fsync,
        ``fdatasync`` it: ``(segment id, error or None, True if the sync failed)``."""
        with self._io_lock:
            try:
                with self._lock:
                    if (
                        self._broken
                        or self._active < 0
                        or self._segments[self._active].size >= self.segment_bytes
                    ):
                        self._rotate()
                        self._broken = False
                    seg_id = self._active
                    seg = self._segments[seg_id]
                end = seg.size + len(data)
                if self.fsync and end > seg.allocated:  # up to the next ALLOCATE_AHEAD past it
                    allocated = (end // ALLOCATE_AHEAD + 1) * ALLOCATE_AHEAD
                    os.posix_fallocate(seg.fd, seg.allocated, allocated - seg.allocated)
                    seg.allocated = allocated
                _write_at(seg.fd, data, seg.size)
            except OSError as exc:
                self._broken = True  # a torn line must stay the last of its segment
                return -1, f"journal not writable in {self.directory}: {exc}", False
            with self._lock:
                self._written += 1
                seg.last_write = number = self._written
                seg.size += len(data)
                seg.appended += rows
                self.stats["appended"] += rows
                if not self.fsync:
                    return seg_id, None, False
                try:  # dup: a segment retired meanwhile keeps a valid descriptor
                    fd = os.dup(seg.fd)
                except OSError as exc:
                    return seg_id, f"journal fsync failed in {self.directory}: {exc}", True
        try:
            os.fdatasync(fd)
        except OSError as exc:  # the disk lost them: never answer as if durable
            return seg_id, f"journal fsync failed in {self.directory}: {exc}", True
        finally:
            os.close(fd)
        with self._lock:
            seg.synced_upto = max(seg.synced_upto, number)
        return seg_id, None, False

    def _finish_round(self, number: int, seg_id: int, error: str | None, sync_failed: bool) -> None:
        """Answer round ``number``'s requests: the segment id, or :class:`LogUnavailable`.

        Rounds are answered in the order they were taken: a round whose sync finished
        while an earlier one is still on the disk waits for it. A failed sync fails its
        own round and every other one not answered yet, synced or not (their rows were
        written before it failed and are not known durable: Linux may drop the pages it
        failed to write and report the next sync as a success), and the journal goes on
        in a new segment; a failed write fails its own round only."""
        answers: list[tuple[Futures, int, LogUnavailable | None]] = []
        with self._cond:
            self.stats["rounds"] += 1
            if self.fsync and error is None:
                self.stats["syncs"] += 1
            if error is None:
                self.error = None
                self._synced[number] = seg_id
            else:
                self.error = error
                failure = LogUnavailable(error)
                failed = [number]
                if sync_failed:
                    self._broken = True
                    failed = list(self._inflight)
                for n in failed:
                    self._synced.pop(n, None)
                    answers.append((self._inflight.pop(n, {}), seg_id, failure))
            while self._inflight and min(self._inflight) in self._synced:
                first = min(self._inflight)
                answers.append((self._inflight.pop(first), self._synced.pop(first), None))
        for group, seg, outcome in answers:
            for loop, fut in group.items():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(_resolve, fut, seg, outcome)

    # --- segments (called with _lock held) -------------------------------------------------

    def _rotate(self) -> None:
        """Start a new segment (with ``_lock`` held, and ``_io_lock`` once writers run)."""
        self._seq += 1
        name = f"{time.time_ns()}.{os.getpid()}.{self._seq}"
        tmp = self.directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
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


def _write_at(fd: int, data: bytes, offset: int) -> None:
    """All of ``data`` at ``offset`` (a regular file takes it whole, but be exact)."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _resolve(fut: asyncio.Future[int], seg_id: int, failure: LogUnavailable | None) -> None:
    """Answer a round's future (on its loop): the segment id, or the failure."""
    if fut.done():
        return
    if failure is None:
        fut.set_result(seg_id)
    else:
        fut.set_exception(failure)
