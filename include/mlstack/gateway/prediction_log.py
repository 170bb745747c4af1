"""Durable prediction logging: a bounded in-memory queue, batch inserts, a disk spool.

The request path only appends rows to a bounded in-memory buffer (a deque: one append
under the GIL, no lock, no thread wake-up per row). A background thread wakes every
``flush_interval_s`` (or as soon as ``batch_size`` rows wait), takes up to ``batch_size``
rows at a time and inserts them in one transaction. When the database
refuses (down, restarting), the batch is written to a JSON-lines file in the spool
folder, and a replay pass re-inserts spooled files once the database answers again.
When the queue is full the row goes straight to the spool: rows are never dropped.

Inserts of predictions ignore rows whose ``prediction_id`` is already stored, so a replay
after a crash between commit and file removal cannot fail or duplicate.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlstack import store

log = logging.getLogger(__name__)

TABLES = {
    "predictions": store.predictions,
    "feedback": store.feedback,
    "prediction_errors": store.prediction_errors,
}
Row = tuple[str, dict[str, Any]]


_to_json = msgspec.json.Encoder().encode


def _insert(engine: Engine, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows in one statement; predictions already stored are skipped.

    The ``features`` of predictions are JSON-encoded here with msgspec (several times
    faster than the ``json.dumps`` SQLAlchemy's JSON type calls per row, and this thread
    shares the GIL with the request path) and bound as text: SQLite stores JSON as text and
    PostgreSQL casts the text literal to the column's JSON type.
    """
    if table is store.predictions:
        rows = [r | {"features": _to_json(r["features"]).decode()} for r in rows]
        if engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(table).on_conflict_do_nothing(index_elements=["prediction_id"])
        elif engine.dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=["prediction_id"])
        else:
            stmt = table.insert()
        stmt = stmt.values(features=sa.bindparam("features", type_=sa.Text()))
    else:
        stmt = table.insert()
    with engine.begin() as conn:
        conn.execute(stmt, rows)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"__dt__": value.isoformat()}
    return value


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: datetime.fromisoformat(v["__dt__"]) if isinstance(v, dict) and "__dt__" in v else v
        for k, v in row.items()
    }


class PredictionLogger:
    """Queue → batch insert → spool on failure → replay. Thread-safe; one per process."""

    def __init__(
        self,
        engine: Engine,
        spool_dir: Path,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.25,
        queue_size: int = 50_000,
        replay_interval_s: float = 5.0,
    ) -> None:
        self.engine = engine
        self.spool_dir = Path(spool_dir)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.replay_interval_s = replay_interval_s
        self.queue_size = queue_size
        self._queue: deque[Row] = deque()
        self._wake = threading.Event()  # set when a full batch waits, or to stop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._spool_lock = threading.Lock()
        self.stats = {"written": 0, "spooled": 0, "replayed": 0, "db_errors": 0}
        self.db_ok = True

    # --- request path ----------------------------------------------------------------------

    def log(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        """Queue rows for ``table``; spool them at once when the queue is full."""
        q = self._queue
        rows = list(rows)
        room = self.queue_size - len(q)
        q.extend((table, row) for row in rows[: max(room, 0)])
        if room < len(rows):
            self._spool(table, rows[max(room, 0) :])
        if len(q) >= self.batch_size:
            self._wake.set()

    # --- background ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread (idempotent); reclaim files a crashed replay left claimed."""
        for stale in self.spool_dir.glob("*.replaying-*"):
            if time.time() - stale.stat().st_mtime > 60:
                stale.rename(stale.with_suffix(".jsonl"))
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="prediction-logger", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything queued (to the database or the spool), then stop the thread; with
        the database up, replay the spool too, so a clean stop leaves nothing behind."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.flush()
        if self.db_ok:
            self.replay()

    def _run(self) -> None:
        last_replay = 0.0
        while not self._stop.is_set():
            self._flush_once(wait=self.flush_interval_s)
            if time.monotonic() - last_replay >= self.replay_interval_s:
                last_replay = time.monotonic()
                self.replay()

    def _take(self, wait: float) -> list[Row]:
        q = self._queue
        if wait > 0 and len(q) < self.batch_size:
            self._wake.wait(wait)
        self._wake.clear()
        batch: list[Row] = []
        take = q.popleft
        try:
            for _ in range(min(len(q), self.batch_size)):
                batch.append(take())
        except IndexError:  # another flush took the rest
            pass
        return batch

    def _flush_once(self, wait: float = 0.0) -> int:
        batch = self._take(wait)
        if not batch:
            return 0
        by_table: dict[str, list[dict[str, Any]]] = {}
        for table, row in batch:
            by_table.setdefault(table, []).append(row)
        for table, rows in by_table.items():
            self._write(table, rows)
        return len(batch)

    def flush(self) -> None:
        """Write every queued row now (to the database, or the spool if it refuses)."""
        while self._flush_once() > 0:
            pass

    def _write(self, table: str, rows: list[dict[str, Any]]) -> bool:
        try:
            _insert(self.engine, TABLES[table], rows)
        except sa.exc.SQLAlchemyError as exc:
            self.stats["db_errors"] += 1
            if self.db_ok:
                log.warning("Database refused %d %s rows (%s); spooling", len(rows), table, exc)
            self.db_ok = False
            self._spool(table, rows)
            return False
        if not self.db_ok:
            log.info("Database is back; writing %s rows again", table)
        self.db_ok = True
        self.stats["written"] += len(rows)
        return True

    # --- spool -----------------------------------------------------------------------------

    def _spool(self, table: str, rows: list[dict[str, Any]]) -> None:
        name = f"{table}.{time.time_ns()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        tmp = self.spool_dir / f".{name}.tmp"
        with self._spool_lock, tmp.open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps({k: _encode(v) for k, v in row.items()}) + "\n")
            out.flush()
            os.fsync(out.fileno())
        tmp.rename(self.spool_dir / f"{name}.jsonl")
        self.stats["spooled"] += len(rows)

    def spooled_files(self) -> list[Path]:
        """Spool files waiting for replay, oldest first."""
        return sorted(self.spool_dir.glob("*.jsonl"))

    def replay(self) -> int:
        """Insert spooled files into the database (oldest first); stop at the first refusal."""
        done = 0
        for path in self.spooled_files():
            claimed = path.with_suffix(f".replaying-{os.getpid()}")
            try:
                path.rename(claimed)  # another worker may have taken it
            except FileNotFoundError:
                continue
            table = path.name.split(".", 1)[0]
            with claimed.open(encoding="utf-8") as f:
                rows = [_decode(json.loads(line)) for line in f if line.strip()]
            try:
                _insert(self.engine, TABLES[table], rows)
            except sa.exc.SQLAlchemyError:
                claimed.rename(path)
                self.db_ok = False
                break
            claimed.unlink()
            self.db_ok = True
            done += len(rows)
        if done:
            self.stats["replayed"] += done
            log.info("Replayed %d spooled rows", done)
        return done

    def gauges(self) -> dict[str, float]:
        """The log's state for ``/metrics``: queue, spool, database, rows by fate."""
        pending = self.pending()
        return {
            "log_queue_rows": float(pending["queued"]),
            "log_spool_files": float(pending["spool_files"]),
            "database_up": 1.0 if self.db_ok else 0.0,
            **{f"logged_rows_{k}": float(v) for k, v in self.stats.items()},
        }

    def pending(self) -> dict[str, int]:
        """Rows queued in memory and files waiting in the spool."""
        return {"queued": len(self._queue), "spool_files": len(self.spooled_files())}
