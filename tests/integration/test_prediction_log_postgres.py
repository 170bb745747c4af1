"""The prediction logger's batch inserts on a real PostgreSQL: a batch goes as multi-row
statements, not one round trip per row, and stays idempotent (replays neither fail nor
duplicate; the label received last wins)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from mlstack import store
from mlstack.gateway.prediction_log import PredictionLogger
from sqlalchemy.engine.interfaces import ExecuteStyle

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 4, tzinfo=UTC)


def _prediction(i: int) -> dict[str, Any]:
    return {
        "prediction_id": f"00000000-0000-4000-8000-{i:012d}",
        "usecase": "u",
        "entity_id": f"e{i}",
        "rollout_id": None,
        "rollout_stage": None,
        "variant": "champion",
        "model_version": 1,
        "features": {"x": i, "name": f"n{i}"},
        "prediction": 0.0,
        "score": 0.1,
        "latency_ms": 1.0,
        "created_at": NOW,
    }


def _label(i: int, value: float, minute: int) -> dict[str, Any]:
    return {
        "usecase": "u",
        "prediction_id": _prediction(i)["prediction_id"],
        "entity_id": f"e{i}",
        "label": value,
        "label_at": NOW,
        "received_at": NOW + timedelta(minutes=minute),
    }


def test_batches_reach_postgres_as_multi_row_statements_and_replays_change_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    """1,200 predictions and 300 labels in one flush: each table's rows go in statements of
    up to 1,000 rows (SQLAlchemy's "insertmanyvalues"), never a statement per row; the same
    rows again (a replay) leave one row each, and an older label does not replace a newer."""
    eng = sa.create_engine(postgres_url)
    store.init_tables(eng)
    sent: list[tuple[str, ExecuteStyle]] = []

    @sa.event.listens_for(eng, "before_cursor_execute")
    def _note(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool):
        if statement.startswith("INSERT"):
            sent.append((statement.split()[2], context.execute_style))

    logger = PredictionLogger(eng, tmp_path / "spool", batch_size=5000)
    predictions = [_prediction(i) for i in range(1200)]
    logger.log("predictions", predictions)
    logger.log("feedback", [_label(i, 1.0, 2) for i in range(300)])
    logger.flush()
    logger.log("predictions", predictions[:700])  # replayed: already stored
    logger.log("feedback", [_label(i, 0.0, 1) for i in range(300)])  # older: ignored
    logger.flush()

    by_table: dict[str, list[ExecuteStyle]] = {}
    for table, style in sent:
        by_table.setdefault(table, []).append(style)
    # 1,000 + 200 rows, then the 700 again; 300 labels twice
    assert by_table["predictions"] == [ExecuteStyle.INSERTMANYVALUES] * 3
    assert by_table["feedback"] == [ExecuteStyle.INSERTMANYVALUES] * 2
    with eng.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(store.predictions)).scalar()
        labels = conn.execute(sa.select(store.feedback.c.label)).scalars().all()
    assert n == 1200
    assert len(labels) == 300 and set(labels) == {1.0}
    assert logger.pending()["queued"] == 0 and logger.stats["rejected"] == 0
