"""The journal's group commit: an answer waits for a sync that started after its row was
written and has finished; several sync rounds run at once; a failed sync fails its waiters
and every row written before it, and the journal carries on in a new segment."""

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
from mlstack.gateway.journal import Journal, LogUnavailable

ROW = {"prediction_id": "p", "usecase": "u", "score": 0.5}


class SlowDisk:
    """``os.fdatasync`` stand-in: records how many bytes of the file each sync covered
    (its size when the sync started) once it finished, after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.durable_bytes: dict[tuple[int, int], int] = {}  # (dev, inode) -> bytes on disk
        self.running = 0
        self.most_at_once = 0
        self.fail_next = 0

    def __call__(self, fd: int) -> None:
        st = os.fstat(fd)
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
                self.durable_bytes[key] = max(self.durable_bytes.get(key, 0), st.st_size)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> SlowDisk:
    fake = SlowDisk(0.01)
    monkeypatch.setattr(journal_module.os, "fdatasync", fake)
    return fake


def test_every_answer_waits_for_a_finished_sync_of_its_row(tmp_path: Path, disk: SlowDisk) -> None:
    j = Journal(tmp_path / "j", sync_threads=2)
    j.open()
    early: list[str] = []

    async def request(k: int) -> None:
        for _ in range(20):
            j.append("predictions", [ROW | {"prediction_id": f"{k}"}])
            seg = j._segments[j._active]
            st = os.fstat(seg.fd)
            written = st.st_size  # this row's last byte
            fut = j.durable()
            assert fut is not None
            await fut
            if disk.durable_bytes.get((st.st_dev, st.st_ino), 0) < written:
                early.append(f"request {k} answered before its row was on disk")
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(request(k) for k in range(16)))

    asyncio.run(main())
    j.close()
    assert early == []
    # group commit: far fewer syncs than rows; pipelining: two rounds were in flight at once
    assert j.stats["appended"] == 320 and j.stats["syncs"] < 320
    assert disk.most_at_once == 2


def test_a_failed_sync_fails_its_waiters_then_the_journal_recovers(
    tmp_path: Path, disk: SlowDisk
) -> None:
    j = Journal(tmp_path / "j", sync_threads=1)
    j.open()
    first = j._active

    async def answer() -> Any:
        j.append("predictions", [ROW])
        fut = j.durable()
        assert fut is not None
        return await fut

    disk.fail_next = 1
    with pytest.raises(LogUnavailable, match="journal fsync failed.*Input/output error"):
        asyncio.run(answer())
    assert j.error is not None and j.error.startswith("journal fsync failed")
    asyncio.run(answer())  # a new segment, synced: the error is gone
    assert j._active != first and j.error is None
    j.close()
