"""Reading the rollouts' records: the running rollout, the latest one and its decisions.

:mod:`mlstack.stages.rollout` owns the ``rollouts`` and ``rollout_decisions`` tables (it
starts, analyses and ends rollouts) and names these reads as before; they live here, with
nothing but the database, so ``mlstack rollout status`` and the pages load no numpy, pandas
or MLflow to show them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mlstack import store
from mlstack.settings import Settings, get_settings
from mlstack.vocabulary import json_safe

RUNNING = "running"


def running(usecase: str, settings: Settings | None = None) -> dict[str, Any] | None:
    """The use case's running rollout as a dict, or None."""
    c = store.rollouts.c
    with store.engine(settings or get_settings()).connect() as conn:
        row = conn.execute(
            sa.select(store.rollouts)
            .where(c.usecase == usecase, c.state == RUNNING)
            .order_by(c.started_at.desc())
            .limit(1)
        ).first()
    return dict(row._mapping) if row else None


def status(usecase: str, settings: Settings | None = None, limit: int = 20) -> dict[str, Any]:
    """The latest rollout of a use case and its decisions, newest first."""
    s = settings or get_settings()
    c, dc = store.rollouts.c, store.rollout_decisions.c
    with store.engine(s).connect() as conn:
        row = conn.execute(
            sa.select(store.rollouts)
            .where(c.usecase == usecase)
            .order_by(c.started_at.desc())
            .limit(1)
        ).first()
        if row is None:
            return {"usecase": usecase, "rollout": None, "decisions": []}
        decisions = conn.execute(
            sa.select(dc.id, dc.stage_index, dc.action, dc.reasons, dc.report_uri, dc.created_at)
            .where(dc.rollout_id == row.rollout_id)
            .order_by(dc.id.desc())
            .limit(limit)
        ).all()
    return {
        "usecase": usecase,
        "rollout": json_safe(dict(row._mapping)),
        "decisions": [json_safe(dict(d._mapping)) for d in decisions],
    }
