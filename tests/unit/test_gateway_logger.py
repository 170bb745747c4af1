"""The gateway's prediction logger on SQLite: batches, spool when refused, replay, no loss."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from mlstack import store
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
