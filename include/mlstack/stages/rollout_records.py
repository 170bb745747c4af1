"""Reading the rollouts' records: the running rollout, the latest one and its decisions.

:mod:`mlstack.stages.rollout` owns the ``rollouts`` and ``rollout_decisions`` tables (it
starts, analyses and ends rollouts) and names these reads as before; they live here, with
nothing but plain SQL (:mod:`mlstack.store_read`), so ``mlstack rollout status`` and the
pages load no numpy, pandas, MLflow or SQLAlchemy to show them.
"""

from __future__ import annotations

from typing import Any

from mlstack import store_read
from mlstack.settings import Settings
from mlstack.vocabulary import json_safe

RUNNING = "running"
_ROLLOUT = (
    "SELECT rollout_id, usecase, champion_version, challenger_version, stages, stage_index, "
    "state, started_at, stage_started_at, ended_at, actor FROM rollouts"
)


def running(usecase: str, settings: Settings | None = None) -> dict[str, Any] | None:
    """The use case's running rollout as a dict, or None."""
    found = store_read.rows(
        f"{_ROLLOUT} WHERE usecase = :usecase AND state = :state ORDER BY started_at DESC LIMIT 1",
        {"usecase": usecase, "state": RUNNING},
        settings,
    )
    return found[0] if found else None


def status(usecase: str, settings: Settings | None = None, limit: int = 20) -> dict[str, Any]:
    """The latest rollout of a use case and its decisions, newest first."""
    found = store_read.rows(
        f"{_ROLLOUT} WHERE usecase = :usecase ORDER BY started_at DESC LIMIT 1",
        {"usecase": usecase},
        settings,
    )
    if not found:
        return {"usecase": usecase, "rollout": None, "decisions": []}
    decisions = store_read.rows(
        "SELECT id, stage_index, action, reasons, report_uri, created_at FROM rollout_decisions "
        "WHERE rollout_id = :rollout_id ORDER BY id DESC LIMIT :limit",
        {"rollout_id": found[0]["rollout_id"], "limit": limit},
        settings,
    )
    return {
        "usecase": usecase,
        "rollout": json_safe(found[0]),
        "decisions": [json_safe(d) for d in decisions],
    }
