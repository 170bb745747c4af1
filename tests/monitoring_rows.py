"""Rows for monitoring read-model, CLI and page tests: metric series, a rollout's status."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from mlstack import store

NOW = datetime.now(UTC)
RID = "0b7c3f9e-1d2a-4c5b-8e6f-a1b2c3d4e5f6"
STAGES = [
    {"name": "shadow", "traffic": 0.0, "shadow": True},
    {"name": "10%", "traffic": 0.1, "shadow": False},
    {"name": "50%", "traffic": 0.5, "shadow": False},
]


def metric_rows(metric: str, values: list[float], **kw: Any) -> list[dict[str, Any]]:
    """``monitoring_metrics`` rows of credit_default, one a day from 2026-02-10."""
    return [
        {
            "usecase": "credit_default",
            "run_date": date(2026, 2, 10) + timedelta(days=i),
            "metric": metric,
            "feature": kw.get("feature"),
            "variant": kw.get("variant", "champion"),
            "model_version": kw.get("version", 1),
            "value": v,
            "threshold": kw.get("threshold"),
            "alert": i >= kw.get("alert_from", len(values)),
            "details": {},
            "created_at": NOW,
        }
        for i, v in enumerate(values)
    ]


def insert(settings: object, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into a table of the mlstack database."""
    with store.engine(settings).begin() as conn:  # type: ignore[arg-type]
        conn.execute(table.insert(), rows)


def rollout_status(state: str = "running", stage_index: int = 1) -> dict[str, Any]:
    """What ``rollout.status`` answers: the rollout, its decisions newest first."""
    uri = f"file:///lake/reports/rollouts/credit_default/{RID}/0-next_stage.html"
    looks = [("wait", 0, None, "40 labelled rows"), ("wait", 0, None, "80 labelled rows")]
    looks += [("next_stage", 0, uri, "no harm shown"), ("wait", 1, None, "not conclusive")]
    decisions = [
        {"id": i, "stage_index": st, "action": a, "reasons": [why], "report_uri": u}
        | {"created_at": f"2026-02-1{i}T10:00:00+00:00"}
        for i, (a, st, u, why) in enumerate(looks, 1)
    ]
    rollout = {"rollout_id": RID, "usecase": "credit_default", "champion_version": 1}
    rollout |= {"challenger_version": 2, "stages": STAGES, "stage_index": stage_index}
    rollout |= {"state": state, "started_at": "2026-02-10T09:00:00+00:00", "ended_at": None}
    return {"usecase": "credit_default", "rollout": rollout, "decisions": decisions[::-1]}
