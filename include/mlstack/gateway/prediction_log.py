"""Prediction logging that loses nothing answered: a local journal, a bounded in-memory
queue, batch inserts, a disk spool.

On the request path :meth:`PredictionLogger.log_durable` hands the rows to the local
:class:`~mlstack.gateway.journal.Journal` and waits for its writer threads (the ``write``
and, with ``fsync`` on, the group-committed ``fdatasync``), then appends them to a bounded
in-memory queue (a deque: one append under the GIL, no lock). A background thread wakes
every ``flush_interval_s`` (or as soon as ``batch_size`` rows wait), takes up to
``batch_size`` rows and inserts them in one transaction. When the database is down the
batch is written to a JSON-lines file in the spool folder, and a replay pass re-inserts
spooled files once the database answers again. When the queue is full rows go straight to
the spool. Rows written to the database or the spool are *settled* in the journal, which
then forgets them; rows of a worker that died (SIGKILL, power cut) are read back from its
journal segments by the next pass of any worker of the same spool folder.

No row can stop the writer: when an insert fails and the database still answers
``SELECT 1``, the batch is split until the rows the database refuses are found; each is
set aside in ``<spool>/rejected/`` with the reason, and the others are written. Spool
replay treats its files the same way, so one bad file never blocks the files after it.

Inserts are idempotent, so a replay after a crash between commit and settle neither fails
nor duplicates: predictions already stored (same ``prediction_id``) are skipped; a label
replaces the stored label of the same prediction (or, without a prediction id, of the same
entity and ``label_at``) unless the stored one was received later; unique indexes on the
feedback table make a duplicate label impossible, whichever worker writes it.

Spool and journal lines are JSON; values are decoded back to datetimes only in the
table's datetime columns, never inside client data.

Long (~570 lines) because the queue, the batch writer, the set-aside of refused rows and
the spool replay share one thread's state; the journal itself is :mod:`.journal`.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from mlstack.gateway.journal import Journal, LogUnavailable, unframe
from mlstack.gateway.metrics import pid_alive

log = logging.getLogger(__name__)

TABLES = {
    "predictions": store.predictions,
    "feedback": store.feedback,
    "prediction_errors": store.prediction_errors,
}
_COLUMNS = {name: frozenset(t.c.keys()) for name, t in TABLES.items()}
_DATETIMES = {
    name: frozenset(c.name for c in t.columns if isinstance(c.type, sa.DateTime))
    for name, t in TABLES.items()
}
Item = tuple[str, dict[str, Any], int]  # table, row, journal segment (-1: not journaled)

_to_json = msgspec.json.Encoder().encode
_to_json_any = msgspec.json.Encoder(enc_hook=repr).encode  # set-aside rows: whatever they hold


def _insert(engine: Engine, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows in one transaction, idempotently (see the module docstring).

    The ``features`` of predictions are JSON-encoded here with msgspec (several times
    faster than the ``json.dumps`` SQLAlchemy's JSON type calls per row, and this thread
    shares the GIL with the request path) and bound as text: SQLite stores JSON as text and
    PostgreSQL casts the text literal to the column's JSON type.

    The ``ON CONFLICT`` inserts carry a ``RETURNING`` (its rows are not read) so that
    SQLAlchemy sends the whole batch as multi-row ``VALUES`` statements ("insertmanyvalues");
    without it SQLAlchemy 2.1 sends an ``ON CONFLICT`` insert once per row, one round trip
    each (:func:`batched`).
    """
    if table is store.feedback:
        with engine.begin() as conn:
            _upsert_feedback(conn, rows)
        return
    if table is store.predictions:
        rows = [r | {"features": _to_json(r["features"]).decode()} for r in rows]
        stmt: Any = _dialect_insert(engine, table).on_conflict_do_nothing(
            index_elements=["prediction_id"]
        )
        stmt = batched(stmt.values(features=sa.bindparam("features", type_=sa.Text())), table)
    else:
        stmt = table.insert()
    with engine.begin() as conn:
        conn.execute(stmt, rows)


def batched(stmt: Any, table: sa.Table) -> Any:
    """``stmt`` (an ``INSERT .. ON CONFLICT``) with a ``RETURNING`` of the table's first key
    column, which makes SQLAlchemy execute a list of rows as batches of multi-row ``VALUES``
    instead of a statement per row. Safe for ``DO UPDATE`` only when no two rows of one
    execution hit the same row (:func:`_upsert_feedback` keeps one row per key)."""
    return stmt.returning(table.primary_key.columns[0])


def _dialect_insert(engine: Engine | sa.Connection, table: sa.Table) -> Any:
    """The dialect's INSERT with ``ON CONFLICT`` (mlstack's database is SQLite or PostgreSQL)."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    raise NotImplementedError(
        f"the prediction log needs SQLite or PostgreSQL, not {engine.dialect.name}: "
        "set MLSTACK_DATABASE_URL to one of them"
    )


def _upsert_feedback(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """One stored label per prediction (or per entity and ``label_at`` without a prediction
    id), guarded by the table's unique indexes: the one received last wins, whatever order
    batches, replays and workers come in (``ON CONFLICT .. DO UPDATE .. WHERE``)."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:  # within the batch the later row wins (one statement may not hit a row twice)
        key: tuple[Any, ...] = (r["usecase"], r["prediction_id"])
        if r.get("prediction_id") is None:
            key = (r["usecase"], None, r.get("entity_id"), r["label_at"])
        if key not in latest or r["received_at"] >= latest[key]["received_at"]:
            latest[key] = r
    by_prediction = [r for k, r in latest.items() if k[1] is not None]
    by_entity = [r for k, r in latest.items() if k[1] is None]
    targets = (
        (by_prediction, ["usecase", "prediction_id"], store.FEEDBACK_BY_PREDICTION),
        (by_entity, ["usecase", "entity_id", "label_at"], store.FEEDBACK_BY_ENTITY),
    )
    for part, columns, where in targets:
        if not part:
            continue
        stmt = _dialect_insert(conn, store.feedback)
        stmt = stmt.on_conflict_do_update(
            index_elements=columns,
            index_where=where,
            set_={k: stmt.excluded[k] for k in ("entity_id", "label", "label_at", "received_at")},
            where=store.feedback.c.received_at <= stmt.excluded.received_at,
        )
        conn.execute(batched(stmt, store.feedback), part)


def decode_row(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """A spooled/journaled row back to insertable values: only the table's columns, and only
    its datetime columns turned into datetimes (client data stays as sent)."""
    out = {k: v for k, v in row.items() if k in _COLUMNS[table]}
    for k in _DATETIMES[table]:
        v = out.get(k)
        if isinstance(v, dict) and isinstance(v.get("__dt__"), str):  # spool files before 12
            v = v["__dt__"]
        if isinstance(v, str):
            out[k] = datetime.fromisoformat(v)
    return out


class PredictionLogger:
    """Journal → queue → batch insert → spool on failure → replay. One per process."""

    def __init__(
        self,
        engine: Engine,
        spool_dir: Path,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.25,
        queue_size: int = 50_000,
        replay_interval_s: float = 5.0,
        journal: Journal | None = None,
    ) -> None:
        self.engine = engine
        self.spool_dir = Path(spool_dir)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.rejected_dir = self.spool_dir / "rejected"
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.replay_interval_s = replay_interval_s
        self.queue_size = queue_size
        self.journal = journal
        self._queue: deque[Item] = deque()
        self._wake = threading.Event()  # set when a full batch waits, or to stop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._spool_lock = threading.Lock()
        self._write_lock = threading.Lock()  # the writer thread vs a flush() from outside
        self.stats = {
            "written": 0,
            "spooled": 0,
            "replayed": 0,
            "db_errors": 0,
            "rejected": 0,
            "recovered": 0,
        }
        self.db_ok = True
        self.spool_error: str | None = None
        self.last_error: str | None = None  # the writer's last unexpected failure
        self.last_replay = time.monotonic()  # when a replay pass last emptied the spool

    # --- request path ----------------------------------------------------------------------

    async def log_durable(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Journal ``rows`` (waiting for the disk when fsync is on), then queue them.

        Raises :class:`LogUnavailable` when they cannot be made durable: answer 503.
        """
        if self.journal is None:
            self.log(table, rows)
            return
        # shield: a cancelled request must not cancel the future its round's others share
        seg = await asyncio.shield(self.journal.append(table, rows))
        self._enqueue(table, rows, seg)

    def log(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        """Queue rows without journaling them (best effort: lost if the process dies)."""
        self._enqueue(table, list(rows), -1)

    def _enqueue(self, table: str, rows: list[dict[str, Any]], seg: int) -> None:
        q = self._queue
        room = max(self.queue_size - len(q), 0)
        q.extend((table, row, seg) for row in rows[:room])
        if room < len(rows):
            over = rows[room:]
            try:
                self._spool(table, over)
            except OSError as exc:
                self.spool_error = f"spool not writable in {self.spool_dir}: {exc}"
                raise LogUnavailable(
                    f"prediction log full ({len(q)} rows queued) and {self.spool_error}"
                ) from exc
            self._settle(seg, len(over))
        if len(q) >= self.batch_size:
            self._wake.set()

    # --- background ------------------------------------------------------------------------

    def start(self) -> None:
        """Recover what dead processes left (journal segments, claimed spool files), then
        start the writer thread (idempotent)."""
        self._reclaim_stale_claims()
        try:
            self.recover()
        except LogUnavailable as exc:  # the writer thread tries again at every replay pass
            log.error("%s", exc)
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="prediction-logger", daemon=True)
            self._thread.start()

    def alive(self) -> bool:
        """True while the writer thread runs."""
        return self._thread is not None and self._thread.is_alive()

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
            try:
                self._flush_once(wait=self.flush_interval_s)
                if time.monotonic() - last_replay >= self.replay_interval_s:
                    last_replay = time.monotonic()
                    self.recover()
                    self.replay()
            except Exception as exc:  # never let the writer die; say why and go on
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("Prediction log writer: unexpected failure; carrying on")
                self._stop.wait(self.flush_interval_s)

    def _take(self, wait: float) -> list[Item]:
        q = self._queue
        if wait > 0 and len(q) < self.batch_size:
            self._wake.wait(wait)
        self._wake.clear()
        batch: list[Item] = []
        take = q.popleft
        try:
            for _ in range(min(len(q), self.batch_size)):
                batch.append(take())
        except IndexError:  # another flush took the rest
            pass
        return batch

    def _flush_once(self, wait: float = 0.0) -> int:
        with self._write_lock:
            batch = self._take(wait)
            if not batch:
                return 0
            by_table: dict[str, list[Item]] = {}
            for item in batch:
                by_table.setdefault(item[0], []).append(item)
            for table, items in by_table.items():
                try:
                    ok = self._write(table, [row for _, row, _ in items])
                except OSError as exc:  # setting rows aside failed: the disk refuses
                    self.spool_error = f"spool not writable in {self.spool_dir}: {exc}"
                    ok = False
                if not ok:
                    self._queue.extendleft(reversed(items))  # spool refused too: keep them
                    self._stop.wait(self.replay_interval_s)  # and do not spin
                    return 0
                for _, _, seg in items:
                    self._settle(seg, 1)
            return len(batch)

    def flush(self) -> None:
        """Write every queued row now (to the database, or the spool if it refuses)."""
        while self._flush_once() > 0:
            pass

    def _settle(self, seg: int, n: int) -> None:
        if self.journal is not None and seg >= 0:
            self.journal.settle(seg, n)

    def _reachable(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception:
            return False
        return True

    def _write(self, table: str, rows: list[dict[str, Any]]) -> bool:
        """Rows into the database, else the spool; rows the database refuses set aside.

        False only when the database is down and the spool refuses too (keep the rows).
        """
        try:
            _insert(self.engine, TABLES[table], rows)
        except Exception as exc:
            if _row_level(exc) and self._reachable():  # the rows, not the database
                self.stats["written"] += self._isolate(table, rows, exc)
                self.db_ok = True
                return True
            self.stats["db_errors"] += 1
            if self.db_ok:
                log.warning("Database refused %d %s rows (%s); spooling", len(rows), table, exc)
            self.db_ok = False
            try:
                self._spool(table, rows)
            except OSError as err:
                self.spool_error = f"spool not writable in {self.spool_dir}: {err}"
                log.error("Cannot spool %d %s rows: %s", len(rows), table, err)
                return False
            self.spool_error = None
            return True
        if not self.db_ok:
            log.info("Database is back; writing %s rows again", table)
        self.db_ok = True
        self.stats["written"] += len(rows)
        return True

    def _isolate(self, table: str, rows: list[dict[str, Any]], exc: BaseException) -> int:
        """Write what the database takes of ``rows`` (bisecting); set the rest aside."""
        if len(rows) == 1:
            self._set_aside(table, rows, f"{type(exc).__name__}: {exc}")
            return 0
        written = 0
        mid = len(rows) // 2
        for part in (rows[:mid], rows[mid:]):
            try:
                _insert(self.engine, TABLES[table], part)
            except Exception as err:
                if not (_row_level(err) and self._reachable()):  # down meanwhile: spool them
                    self._spool(table, part)
                    continue
                written += self._isolate(table, part, err)
            else:
                written += len(part)
        return written

    def _set_aside(self, table: str, rows: list[Any], reason: str) -> None:
        """Keep rows no database will take in ``rejected/`` with the reason (never drop)."""
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        name = f"{table}.{time.time_ns()}.{os.getpid()}.{uuid.uuid4().hex[:8]}.jsonl"
        lines = [_to_json_any({"table": table, "reason": reason[:2000], "row": r}) for r in rows]
        _write_file(self.rejected_dir / name, lines)
        self.stats["rejected"] += len(rows)
        log.error("Set aside %d %s rows in %s: %s", len(rows), table, self.rejected_dir, reason)

    def recover(self) -> int:
        """Insert (or spool) the rows of journal segments left by dead processes."""
        if self.journal is None:
            return 0
        done = 0
        with self._write_lock:
            for _path, pairs in self.journal.orphans():
                by_table: dict[str, list[dict[str, Any]]] = {}
                for table, row in pairs:
                    if table not in TABLES:
                        self._set_aside(table, [row], "unknown table in journal")
                        continue
                    by_table.setdefault(table, []).append(decode_row(table, row))
                for table, rows in by_table.items():
                    for k in range(0, len(rows), self.batch_size):
                        if not self._write(table, rows[k : k + self.batch_size]):
                            raise LogUnavailable(f"cannot recover journal: {self.spool_error}")
                    done += len(rows)
        self.stats["recovered"] += done
        return done

    # --- spool -----------------------------------------------------------------------------

    def _spool(self, table: str, rows: list[dict[str, Any]]) -> None:
        name = f"{table}.{time.time_ns()}.{os.getpid()}.{uuid.uuid4().hex[:8]}.jsonl"
        with self._spool_lock:
            _write_file(self.spool_dir / name, [_to_json_any(r) for r in rows])
        self.stats["spooled"] += len(rows)

    def spooled_files(self) -> list[Path]:
        """Spool files waiting for replay, oldest first (by the time in their name)."""

        def written_at(p: Path) -> int:
            parts = p.name.split(".")
            return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0

        return sorted(self.spool_dir.glob("*.jsonl"), key=written_at)

    def _reclaim_stale_claims(self) -> None:
        """Claimed files (``.replaying-<pid>``) whose process is gone go back to the spool."""
        for claimed in self.spool_dir.glob("*.replaying-*"):
            pid = claimed.suffix.removeprefix(".replaying-")
            if pid.isdigit() and int(pid) != os.getpid() and pid_alive(int(pid)):
                continue
            with contextlib.suppress(FileNotFoundError):
                claimed.rename(claimed.with_suffix(".jsonl"))

    def replay(self) -> int:
        """Insert spooled files (oldest first); stop only when the database is down."""
        done = 0
        for path in self.spooled_files():
            claimed = path.with_suffix(f".replaying-{os.getpid()}")
            try:
                path.rename(claimed)  # another worker may have taken it
            except FileNotFoundError:
                continue
            table = path.name.split(".", 1)[0]
            if table not in TABLES:
                self.rejected_dir.mkdir(parents=True, exist_ok=True)
                claimed.rename(self.rejected_dir / path.name)
                log.error(
                    "Spool file %s names no known table; moved to %s", path, self.rejected_dir
                )
                continue
            rows, bad = _read_spool(claimed, table)
            if bad:
                self._set_aside(table, bad, f"undecodable line in spool file {path.name}")
            written = self._write_spooled(table, rows) if rows else 0
            if written is None:
                claimed.rename(path)
                break
            claimed.unlink()
            done += written
        if done:
            self.stats["replayed"] += done
            log.info("Replayed %d spooled rows", done)
        if not self.spooled_files():
            self.last_replay = time.monotonic()
        return done

    def _write_spooled(self, table: str, rows: list[dict[str, Any]]) -> int | None:
        """Like :meth:`_write` but never re-spools: rows written, None when the database is
        down."""
        try:
            _insert(self.engine, TABLES[table], rows)
        except Exception as exc:
            if not (_row_level(exc) and self._reachable()):
                self.db_ok = False
                return None
            written = self._isolate(table, rows, exc)
        else:
            written = len(rows)
        self.db_ok = True
        return written

    # --- state -----------------------------------------------------------------------------

    def gauges(self) -> dict[str, float]:
        """The log's state for ``/metrics``: queue, spool, database, rows by fate."""
        pending = self.pending()
        return {
            "log_queue_rows": float(pending["queued"]),
            "log_spool_files": float(pending["spool_files"]),
            "log_spool_bytes": float(self.spool_bytes()),
            "log_journal_unsettled_rows": float(pending["journal_unsettled"]),
            "log_writer_up": 1.0 if self.alive() else 0.0,
            "database_up": 1.0 if self.db_ok else 0.0,
            **{f"logged_rows_{k}": float(v) for k, v in self.stats.items()},
            **(
                {f"journal_{k}": float(v) for k, v in self.journal.stats.items()}
                if self.journal
                else {}
            ),
        }

    def spool_bytes(self) -> int:
        """Bytes of the spool files waiting for replay."""
        total = 0
        for path in self.spooled_files():
            with contextlib.suppress(FileNotFoundError):  # replayed meanwhile
                total += path.stat().st_size
        return total

    def pending(self) -> dict[str, int]:
        """Rows queued in memory, files waiting in the spool, journaled rows not settled."""
        return {
            "queued": len(self._queue),
            "spool_files": len(self.spooled_files()),
            "journal_unsettled": self.journal.unsettled() if self.journal else 0,
        }

    def problems(self) -> list[str]:
        """What keeps the log from its guarantee right now, in words (empty when fine)."""
        out = []
        if not self.alive():
            out.append("prediction log writer is not running")
        if self.journal is not None:
            if not self.journal.alive():
                out.append("journal writer thread is not running")
            if self.journal.error:
                out.append(self.journal.error)
        if not self.db_ok:
            out.append("database unreachable: rows spool to disk")
            if self.spool_error:
                out.append(f"{self.spool_error}: rows wait in memory")
        stalled = time.monotonic() - self.last_replay
        if self.db_ok and stalled > max(10 * self.replay_interval_s, 60):
            out.append(f"spool not draining for {stalled:.0f} s with the database up")
        return out


_SYSTEMIC = (
    sa.exc.OperationalError,  # connection lost, server restarting, SQLite "no such table"
    sa.exc.InterfaceError,
    sa.exc.DisconnectionError,
    sa.exc.TimeoutError,  # the connection pool
)


def _row_level(exc: BaseException) -> bool:
    """True when ``exc`` may come from the rows (bad value, too long, NUL, type the driver
    cannot adapt), False when it is the database's state (down, schema missing): those
    batches wait in the spool, the others are bisected to find the rows to set aside."""
    if isinstance(exc, _SYSTEMIC):
        return False
    code = str(getattr(getattr(exc, "orig", None), "pgcode", "") or "")
    return not code.startswith(("08", "42P01", "42703", "53", "57", "58"))  # connection,
    # undefined table/column, resources, operator intervention, system errors


def _write_file(path: Path, lines: list[bytes]) -> None:
    """Write a file whole or not at all: temp file, fsync, rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as out:
        out.write(b"".join(line + b"\n" for line in lines))
        out.flush()
        os.fsync(out.fileno())
    tmp.rename(path)


def _read_spool(path: Path, table: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of a spool file, and the lines that could not be decoded (as text)."""
    rows, bad = [], []
    with path.open("rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                if line[8:9] == b" " and line[:1] != b"{":
                    _, raw = unframe(line)
                else:
                    raw = msgspec.json.decode(line)
                if not isinstance(raw, dict):
                    raise ValueError("not a JSON object")
                rows.append(decode_row(table, raw))
            except (ValueError, TypeError, msgspec.DecodeError):
                bad.append(line.decode("utf-8", "replace"))
    return rows, bad
