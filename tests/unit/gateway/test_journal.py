"""The journal's guarantee: an answer (its future done) comes only after its row is in the
segment file and, with fsync, after a sync that started once the row was written has
finished; group commit and pipelining; the event loop never waits for the disk; a failed
sync fails its waiters and every row written before it that is not known durable, and the
journal carries on in a new segment."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from mlstack.gateway import journal as journal_module
from mlstack.gateway.journal import Journal, LogUnavailable, read_lines, unframe

ROW = {"prediction_id": "p", "usecase": "u", "score": 0.5}
WAIT_S = 30  # a bound on waits that only a broken journal reaches (no timing assertion)


class SlowDisk:
    """``os.fdatasync`` stand-in: records how many bytes of the file each sync covered
    (its rows when the sync started: up to the space allocated ahead of them) once it
    finished, after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.durable_bytes: dict[tuple[int, int], int] = {}  # (dev, inode) -> bytes on disk
        self.running = 0
        self.most_at_once = 0
        self.fail_next = 0

    def __call__(self, fd: int) -> None:
        st = os.fstat(fd)
        rows_bytes = len(b"".join(read_lines(Path(f"/proc/self/fd/{fd}"))))
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.delay)
            with self.lock:
                if self.fail_next:
                    self.fail_next -= 1
                    raise OSError(errno.EIO, "Input/output error")
                key = (st.st_dev, st.st_ino)
                self.durable_bytes[key] = max(self.durable_bytes.get(key, 0), rows_bytes)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> SlowDisk:
    fake = SlowDisk(0.01)
    monkeypatch.setattr(journal_module.os, "fdatasync", fake)
    return fake


def _line_end(path: Path, prediction_id: str) -> int:
    """Offset just past the journal line of ``prediction_id`` in ``path`` (0: not there)."""
    offset = 0
    for line in read_lines(path):
        offset += len(line)
        if unframe(line)[1]["prediction_id"] == prediction_id:
            return offset
    return 0


def test_every_answer_waits_for_a_finished_sync_of_its_row(tmp_path: Path, disk: SlowDisk) -> None:
    j = Journal(tmp_path / "j", writers=2)
    j.open()
    early: list[str] = []

    async def request(k: int) -> None:
        for i in range(20):
            pid = f"{k}-{i}"
            seg_id = await asyncio.shield(j.append("predictions", [ROW | {"prediction_id": pid}]))
            seg = j._segments[seg_id]
            st = os.fstat(seg.fd)
            end = _line_end(seg.path, pid)
            if end == 0:
                early.append(f"{pid} answered before its row was written")
            elif disk.durable_bytes.get((st.st_dev, st.st_ino), 0) < end:
                early.append(f"{pid} answered before its row was on disk")
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(request(k) for k in range(16)))

    asyncio.run(main())
    j.close()
    assert early == []
    assert j.stats["appended"] == 320 and j.stats["syncs"] < 320  # group commit


def test_without_fsync_every_answer_waits_for_its_write(tmp_path: Path, disk: SlowDisk) -> None:
    j = Journal(tmp_path / "j", fsync=False)
    j.open()
    missing: list[str] = []

    async def request(k: int) -> None:
        for i in range(10):
            pid = f"{k}-{i}"
            seg_id = await asyncio.shield(j.append("predictions", [ROW | {"prediction_id": pid}]))
            if _line_end(j._segments[seg_id].path, pid) == 0:
                missing.append(pid)

    async def main() -> None:
        await asyncio.gather(*(request(k) for k in range(8)))

    asyncio.run(main())
    assert missing == [] and j.stats["appended"] == 80 and j.stats["syncs"] == 0
    j.close()


def test_the_event_loop_runs_while_the_disk_holds_a_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that blocks until the event loop has run something else: were the write on
    the loop, the loop could not run it and the write would time out."""
    loop_ran = threading.Event()
    real_pwrite = os.pwrite
    blocked: list[bool] = []

    def pwrite(fd: int, data: Any, offset: int) -> int:
        blocked.append(loop_ran.wait(WAIT_S))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(journal_module.os, "pwrite", pwrite)
    j = Journal(tmp_path / "j", fsync=False)
    j.open()

    async def main() -> int:
        fut = j.append("predictions", [ROW])
        await asyncio.sleep(0)  # the loop runs on while the writer waits
        loop_ran.set()
        return await asyncio.shield(fut)

    assert asyncio.run(main()) == j._active
    assert blocked == [True]
    j.close()


def test_a_failed_sync_fails_its_waiters_then_the_journal_recovers(
    tmp_path: Path, disk: SlowDisk
) -> None:
    j = Journal(tmp_path / "j", writers=1)
    j.open()
    first = j._active

    async def answer() -> int:
        return await asyncio.shield(j.append("predictions", [ROW]))

    disk.fail_next = 1
    with pytest.raises(LogUnavailable, match="journal fsync failed.*Input/output error"):
        asyncio.run(answer())
    assert j.error is not None and j.error.startswith("journal fsync failed")
    assert asyncio.run(answer()) != first  # a new segment, synced: the error is gone
    assert j._active != first and j.error is None
    j.close()


class TwoRounds:
    """``os.fdatasync`` stand-in that holds the first sync until a second has started
    (so two rounds are on the disk at once); the first then fails when ``fail_first``."""

    def __init__(self, fail_first: bool) -> None:
        self.fail_first = fail_first
        self.calls = 0
        self.lock = threading.Lock()
        self.first_started = threading.Event()
        self.second_started = threading.Event()
        self.first_done = threading.Event()

    def __call__(self, fd: int) -> None:
        with self.lock:
            self.calls += 1
            call = self.calls
        if call == 1:
            self.first_started.set()
            assert self.second_started.wait(WAIT_S), "no second round while one was on the disk"
            self.first_done.set()
            if self.fail_first:
                raise OSError(errno.EIO, "Input/output error")
        if call == 2:
            self.second_started.set()
            assert self.first_done.wait(WAIT_S)


def _two_rounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_first: bool) -> list[Any]:
    """Round 1 on the disk, round 2 handed over meanwhile: both rounds' outcomes."""
    fake = TwoRounds(fail_first)
    monkeypatch.setattr(journal_module.os, "fdatasync", fake)
    j = Journal(tmp_path / "j", writers=2, round_gap_s=0)
    j.open()

    async def main() -> list[Any]:
        one = asyncio.shield(j.append("predictions", [ROW | {"prediction_id": "one"}]))
        await asyncio.to_thread(fake.first_started.wait, WAIT_S)  # round 1 is on the disk
        two = asyncio.shield(j.append("predictions", [ROW | {"prediction_id": "two"}]))
        return await asyncio.gather(one, two, return_exceptions=True)

    results = asyncio.run(main())
    j.close()
    assert fake.calls == 2
    return results


def test_a_round_starts_while_another_is_on_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = _two_rounds(tmp_path, monkeypatch, fail_first=False)
    assert all(isinstance(r, int) for r in results), results


def test_a_failed_sync_fails_every_round_on_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Round 2's rows were written before round 1's sync failed: Linux may have dropped
    them and round 2's sync may still succeed, so round 2 is not answered either."""
    results = _two_rounds(tmp_path, monkeypatch, fail_first=True)
    assert all(isinstance(r, LogUnavailable) for r in results), results
    assert "Input/output error" in str(results[1])


def test_a_round_synced_first_waits_for_the_earlier_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Round 2's sync finishes while round 1's is still on the disk: round 2 is answered
    only after round 1 (had round 1 failed, round 2 would fail with it)."""
    release = threading.Event()
    started = threading.Event()
    calls: list[int] = []

    def fake(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            started.set()
            assert release.wait(WAIT_S)

    monkeypatch.setattr(journal_module.os, "fdatasync", fake)
    j = Journal(tmp_path / "j", writers=2, round_gap_s=0)
    j.open()

    async def main() -> list[Any]:
        one = asyncio.shield(j.append("predictions", [ROW | {"prediction_id": "one"}]))
        await asyncio.to_thread(started.wait, WAIT_S)
        two = asyncio.shield(j.append("predictions", [ROW | {"prediction_id": "two"}]))
        for _ in range(WAIT_S * 100):  # until round 2 has finished its sync
            if j.stats["rounds"] == 1:
                break
            await asyncio.sleep(0.01)
        assert j.stats["rounds"] == 1 and len(calls) == 2
        await asyncio.sleep(0.05)  # an answer handed to the loop would be in by now
        assert not one.done() and not two.done()
        release.set()
        return await asyncio.gather(one, two)

    assert all(isinstance(r, int) for r in asyncio.run(main()))
    j.close()


def test_start_removes_only_a_stale_unlocked_temporary_segment(tmp_path: Path) -> None:
    """A `.tmp` left by a process that died is removed; one just created by a process that
    has not locked it yet (workers and replicas share the folder) is left alone."""
    folder = tmp_path / "j"
    folder.mkdir()
    stale, fresh = folder / ".1.1.1.tmp", folder / ".2.2.1.tmp"
    stale.write_bytes(b"")
    fresh.write_bytes(b"")
    old = time.time() - journal_module.STALE_TMP_S - 5
    os.utime(stale, (old, old))
    j = Journal(folder)
    j.open()
    assert not stale.exists() and fresh.exists()
    j.close()


def test_start_survives_a_temporary_segment_renamed_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker renames its `.tmp` between this one's listing and its open."""
    folder = tmp_path / "j"
    folder.mkdir()
    theirs = folder / ".3.3.1.tmp"
    theirs.write_bytes(b"")
    real_open = os.open

    def renamed_first(path: Any, flags: int, *args: Any) -> int:
        if str(path) == str(theirs) and flags == os.O_RDONLY:
            theirs.rename(folder / f"3.3.1{journal_module.SUFFIX}")
        return real_open(path, flags, *args)

    monkeypatch.setattr(journal_module.os, "open", renamed_first)
    j = Journal(folder)
    j.open()
    assert j.alive()
    j.close()


@pytest.mark.parametrize("fsync", [True, False])
def test_rows_go_into_space_allocated_ahead_with_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: bool
) -> None:
    """With fsync a segment's space is allocated ahead of its rows (ALLOCATE_AHEAD at a time,
    more when a round is bigger) and each round is written into it after the last one, so a
    sync has no file size to commit; without fsync the rows are all the file. Either way the
    rows read back whole, in order, up to the space not written (NUL bytes)."""
    monkeypatch.setattr(journal_module, "ALLOCATE_AHEAD", 4096)
    j = Journal(tmp_path / "j", fsync=fsync)
    j.open()
    ids = [f"r{i}" for i in range(120)]

    async def main() -> None:
        for i in range(0, 100):  # a row per round: the file grows by ALLOCATE_AHEAD
            await asyncio.shield(j.append("predictions", [ROW | {"prediction_id": ids[i]}]))
        big = [ROW | {"prediction_id": pid, "pad": "x" * 400} for pid in ids[100:]]
        await asyncio.shield(j.append("predictions", big))  # one round over 4096 bytes

    asyncio.run(main())
    (segment,) = j.segment_files()
    data = segment.read_bytes()
    rows_end = len(b"".join(read_lines(segment)))
    assert [unframe(line)[1]["prediction_id"] for line in read_lines(segment)] == ids
    if fsync:
        assert len(data) > rows_end and len(data) % 4096 == 0 and not data[rows_end:].strip(b"\0")
    else:
        assert len(data) == rows_end
    j.close()  # (a killed process's segment is recovered: test_prediction_log)


def test_a_journal_line_never_holds_a_nul_byte(tmp_path: Path) -> None:
    """Readers stop at the first NUL byte (space allocated and not written), so a row's own
    NUL characters (a string field the gateway did not refuse, a label's entity) must be
    escaped in its line, and the rows after it still read back."""
    j = Journal(tmp_path / "j")
    j.open()
    rows = [
        ROW | {"prediction_id": "a", "features": {"city": "x\x00y"}},
        ROW | {"prediction_id": "b"},
    ]

    async def main() -> None:
        await asyncio.shield(j.append("predictions", rows))

    asyncio.run(main())
    (segment,) = j.segment_files()
    lines = read_lines(segment)
    assert b"\0" not in b"".join(lines)
    assert [unframe(line)[1] for line in lines] == rows
    j.close()
