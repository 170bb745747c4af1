"""The gateway's prediction logger and journal on SQLite: batches, spool when refused,
replay, no loss; no row stops the writer; a SIGKILLed process's journal is recovered once."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from mlstack import store
from mlstack.gateway import journal as journal_module
from mlstack.gateway.journal import Journal, LogUnavailable
from mlstack.gateway.prediction_log import PredictionLogger

EMPTY = {"queued": 0, "spool_files": 0, "journal_unsettled": 0}


def _rows(n: int, start: int = 0) -> list[dict]:
    now = datetime.now(UTC)
    return [
        {
            "prediction_id": f"p{i}",
            "usecase": "u",
            "entity_id": f"e{i}",
            "rollout_id": None,
            "variant": "champion",
            "model_version": 1,
            "features": {"x": i},
            "prediction": 0.0,
            "score": 0.1,
            "latency_ms": 1.0,
            "created_at": now,
        }
        for i in range(start, start + n)
    ]


def _count(eng: sa.Engine) -> int:
    with eng.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(store.predictions)).scalar())


def test_logger_database_refuses_then_returns_replays_everything(tmp_path: Path) -> None:
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    logger = PredictionLogger(eng, tmp_path / "spool", batch_size=100)
    logger.log("predictions", _rows(250))  # no tables yet: the database refuses
    logger.flush()
    assert logger.stats["spooled"] == 250 and not logger.db_ok
    assert len(logger.spooled_files()) == 3
    store.metadata.create_all(eng)
    logger.log("predictions", _rows(50, start=250))
    logger.flush()
    assert logger.replay() == 250
    assert _count(eng) == 300 and logger.pending() == {
        "queued": 0,
        "spool_files": 0,
        "journal_unsettled": 0,
    }


def test_logger_full_queue_spools_instead_of_dropping(tmp_path: Path) -> None:
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.metadata.create_all(eng)
    logger = PredictionLogger(eng, tmp_path / "spool", queue_size=10)
    logger.log("predictions", _rows(25))
    assert logger.pending() == {"queued": 10, "spool_files": 1, "journal_unsettled": 0}
    logger.stop()  # a clean stop with the database up replays the spool too
    assert _count(eng) == 25 and logger.pending() == {
        "queued": 0,
        "spool_files": 0,
        "journal_unsettled": 0,
    }


def test_logger_replay_twice_does_not_duplicate(tmp_path: Path) -> None:
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.metadata.create_all(eng)
    logger = PredictionLogger(eng, tmp_path / "spool")
    logger.log("predictions", _rows(5))
    logger.flush()
    logger._spool("predictions", _rows(5))  # as if a crash left an already-written batch
    assert logger.replay() == 5
    assert _count(eng) == 5


# --- no row can stop the writer; replay never stalls; crash recovery -----------------------


def _engine(tmp_path: Path) -> sa.Engine:
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.metadata.create_all(eng)
    return eng


def test_logger_bad_rows_are_set_aside_and_the_batch_is_written(tmp_path: Path) -> None:
    eng = _engine(tmp_path)
    logger = PredictionLogger(eng, tmp_path / "spool")
    rows = _rows(20)
    rows[3]["usecase"] = None  # NOT NULL: the database refuses this row only
    rows[11]["features"] = {"x": object()}  # cannot even be encoded
    logger.log("predictions", rows)
    logger.flush()
    assert _count(eng) == 18 and logger.db_ok and logger.pending() == EMPTY
    assert logger.stats["rejected"] == 2 and logger.stats["written"] == 18
    reasons = [
        json.loads(line)["reason"]
        for f in logger.rejected_dir.glob("*.jsonl")
        for line in f.read_text().splitlines()
    ]
    assert len(reasons) == 2
    assert any("NOT NULL" in r for r in reasons) and any("object" in r for r in reasons)


def test_logger_writer_thread_survives_and_keeps_writing(tmp_path: Path) -> None:
    eng = _engine(tmp_path)
    logger = PredictionLogger(eng, tmp_path / "spool", flush_interval_s=0.01)
    logger.start()
    bad = _rows(1, start=100)
    bad[0]["features"] = {"x": object()}
    logger.log("predictions", bad)
    logger.log("predictions", _rows(5))
    for _ in range(200):  # bounded wait for the thread's flush
        if _count(eng) == 5:
            break
        time.sleep(0.02)
    assert logger.alive() and _count(eng) == 5 and logger.stats["rejected"] == 1
    logger.stop()


def test_logger_spool_replay_keeps_client_data_and_skips_bad_files(tmp_path: Path) -> None:
    eng = _engine(tmp_path)
    logger = PredictionLogger(eng, tmp_path / "spool")
    rows = _rows(3)
    rows[0]["features"] = {"__dt__": "not a date", "x": 1}  # a client's dict stays data
    logger._spool("feedback", [{"usecase": "u", "label": 1.0}])  # refused: no label_at
    (logger.spool_dir / "nosuchtable.1.1.x.jsonl").write_text('{"a": 1}\n')
    garbage = logger.spool_dir / "predictions.2.1.y.jsonl"
    garbage.write_bytes(b"{not json\n")
    logger._spool("predictions", rows)
    assert logger.replay() == 3
    assert _count(eng) == 3 and logger.spooled_files() == []
    with eng.connect() as conn:
        feats = conn.execute(
            sa.select(store.predictions.c.features).where(store.predictions.c.prediction_id == "p0")
        ).scalar_one()
    assert feats == {"__dt__": "not a date", "x": 1}
    assert logger.stats["rejected"] == 2  # the feedback row and the garbage line, with reasons
    assert (logger.rejected_dir / "nosuchtable.1.1.x.jsonl").exists()


def test_logger_claims_of_dead_processes_go_back_to_the_spool(tmp_path: Path) -> None:
    eng = _engine(tmp_path)
    logger = PredictionLogger(eng, tmp_path / "spool")
    logger._spool("predictions", _rows(4))
    (path,) = logger.spooled_files()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    path.rename(path.with_suffix(f".replaying-{dead}"))
    logger.start()
    logger.stop()
    assert _count(eng) == 4 and logger.pending() == EMPTY


def test_logger_feedback_last_received_wins_across_replays(tmp_path: Path) -> None:
    eng = _engine(tmp_path)
    logger = PredictionLogger(eng, tmp_path / "spool")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def label(value: float, minute: int) -> dict:
        at = t0.replace(minute=minute)
        return {
            "usecase": "u",
            "prediction_id": "p1",
            "entity_id": None,
            "label": value,
            "label_at": at,
            "received_at": at,
        }

    logger.log("feedback", [label(1.0, 1), label(0.0, 2)])
    logger.flush()
    logger._spool("feedback", [label(1.0, 1)])  # an old row replayed late
    logger.replay()
    with eng.connect() as conn:
        labels = conn.execute(sa.select(store.feedback.c.label)).scalars().all()
    assert labels == [0.0]


_CHILD = """
import sys, asyncio, os, signal
from datetime import UTC, datetime
from pathlib import Path
from mlstack.gateway.journal import Journal

journal = Journal(Path(sys.argv[1]), fsync=True)
journal.open()
async def main():
    now = datetime.now(UTC).isoformat()
    for i in range(50):
        await journal.append("predictions", [{"prediction_id": f"k{i}", "usecase": "u",
            "entity_id": None, "variant": "champion", "model_version": 1,
            "features": {"__dt__": "x"}, "prediction": 1.0, "score": 0.5,
            "latency_ms": 1.0, "created_at": now}])
    print("answered", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
asyncio.run(main())
"""


def test_journal_rows_of_a_sigkilled_process_are_recovered_once(tmp_path: Path) -> None:
    jdir = tmp_path / "spool" / "journal"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(jdir)], env=env, capture_output=True, timeout=120
    )
    assert child.returncode == -signal.SIGKILL and b"answered" in child.stdout
    (segment,) = jdir.glob("*.journal")
    rows_end = segment.read_bytes().find(b"\0")  # the rows, then the space allocated ahead
    assert rows_end > 0
    with segment.open("r+b") as f:  # a power cut mid-line: the next round's write, torn
        f.seek(rows_end)
        f.write(b'0badc0de {"torn": ')
    eng = _engine(tmp_path)
    journal = Journal(jdir)
    journal.open()
    logger = PredictionLogger(eng, tmp_path / "spool", journal=journal)
    assert logger.recover() == 50 and journal.stats["torn_lines"] == 1
    assert logger.recover() == 0  # the segment is gone: nothing twice
    assert _count(eng) == 50
    with eng.connect() as conn:
        feats = conn.execute(sa.select(store.predictions.c.features).limit(1)).scalar_one()
    assert feats == {"__dt__": "x"}
    journal.close()
    assert list(jdir.glob("*.journal")) == []


def test_journal_segments_are_deleted_once_settled(tmp_path: Path) -> None:
    eng = _engine(tmp_path)
    journal = Journal(tmp_path / "j", fsync=False, segment_bytes=2_000)
    journal.open()
    logger = PredictionLogger(eng, tmp_path / "spool", journal=journal)

    async def answer() -> None:
        for k in range(10):
            await logger.log_durable("predictions", _rows(3, start=3 * k))

    asyncio.run(answer())
    assert len(journal.segment_files()) > 1 and journal.unsettled() == 30
    logger.flush()
    assert journal.unsettled() == 0 and len(journal.segment_files()) == 1  # the active one
    journal.close()
    assert journal.segment_files() == [] and _count(eng) == 30


@pytest.mark.parametrize("refused", ["write", "allocation"])
def test_journal_refusing_disk_is_a_log_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: str
) -> None:
    """A full disk refuses the row's write (/dev/full: ENOSPC from the kernel) or, with fsync,
    the allocation of a segment's space ahead (posix_fallocate's ENOSPC, simulated)."""
    journal = Journal(tmp_path / "j")
    journal.open()
    seg = journal._segments[journal._active]
    if refused == "write":
        os.close(seg.fd)
        seg.fd = os.open("/dev/full", os.O_WRONLY)  # every write: ENOSPC, from the kernel
        seg.allocated = 1 << 30  # as if allocated: the write is what fails
    else:

        def full(fd: int, offset: int, length: int) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(journal_module.os, "posix_fallocate", full)
    logger = PredictionLogger(_engine(tmp_path), tmp_path / "spool", journal=journal)
    with pytest.raises(LogUnavailable, match="journal not writable"):
        asyncio.run(logger.log_durable("predictions", _rows(1)))
    assert journal.error and "No space left" in journal.error
    monkeypatch.undo()
    assert logger.pending()["queued"] == 0  # refused: not logged
    asyncio.run(logger.log_durable("predictions", _rows(1)))  # on in a new segment
    assert journal.error is None and logger.pending()["queued"] == 1
    journal.close()


def test_a_cancelled_request_leaves_the_others_of_its_round_answered(tmp_path: Path) -> None:
    """Requests of one round share a future: a request cancelled while it waits (its client
    gone) must not cancel it for the others."""
    journal = Journal(tmp_path / "j", writers=1, round_gap_s=0.5)
    journal.open()
    logger = PredictionLogger(_engine(tmp_path), tmp_path / "spool", journal=journal)

    async def main() -> None:
        await logger.log_durable("predictions", _rows(1, start=2))  # the next round waits
        gone = asyncio.ensure_future(logger.log_durable("predictions", _rows(1)))
        stays = asyncio.ensure_future(logger.log_durable("predictions", _rows(1, start=1)))
        await asyncio.sleep(0)  # both handed over
        gone.cancel()
        await stays

    asyncio.run(main())
    assert logger.pending()["queued"] == 2
    journal.close()


def test_logger_resent_labels_are_stored_once_and_the_database_refuses_duplicates(
    tmp_path: Path,
) -> None:
    """A label sent again (same batch, later batch, replayed from the spool) is one row; the
    unique indexes refuse a duplicate that bypasses the writer."""
    eng = _engine(tmp_path)
    logger = PredictionLogger(eng, tmp_path / "spool")
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def label(value: float, prediction_id: str | None, entity_id: str | None) -> dict:
        return {
            "usecase": "u",
            "prediction_id": prediction_id,
            "entity_id": entity_id,
            "label": value,
            "label_at": at,
            "received_at": at.replace(minute=int(value)),
        }

    by_prediction, by_entity = label(1.0, "p1", "e1"), label(1.0, None, "e2")
    logger.log("feedback", [by_prediction, by_entity, by_prediction, by_entity])
    logger.flush()
    logger.log("feedback", [label(2.0, "p1", "e1"), label(2.0, None, "e2")])
    logger.flush()
    logger._spool("feedback", [by_prediction, by_entity])  # older, replayed late
    logger.replay()
    f = store.feedback.c
    with eng.connect() as conn:
        rows = conn.execute(sa.select(f.prediction_id, f.entity_id, f.label)).all()
    assert sorted(rows, key=str) == sorted([("p1", "e1", 2.0), (None, "e2", 2.0)], key=str)
    for dup in (by_prediction, by_entity):
        with pytest.raises(sa.exc.IntegrityError), eng.begin() as conn:
            conn.execute(store.feedback.insert(), [dup])
