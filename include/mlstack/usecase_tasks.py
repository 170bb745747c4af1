"""Extra tasks a use case adds to its generated DAGs: what such a task receives and how it
stops a run.

A use case's ``hooks.py`` (or a plugin package) registers a callable of the ``tasks`` kind;
the spec's ``tasks:`` places it before or after a stage. In the stage's DAG it is called with
one :class:`TaskContext` — the use case, the run's day, the DAG params, the extras of the
Asset events that triggered the run (a candidate's version and snapshots, an ingestion's
snapshot), the results of the stage's own tasks (for a task placed after) and its options —
and may return a JSON-able value (its XCom). To stop the run it raises :class:`StopRun`
with the reason; nothing downstream of it runs (a task before ``promote`` that stops means
no promotion).

    from mlstack.plugins import register
    from mlstack.usecase_tasks import StopRun, TaskContext

    @register("tasks", "fairness_check")
    def fairness_check(ctx: TaskContext) -> dict:
        gap = ...
        if gap > ctx.options.get("max_gap", 0.05):
            raise StopRun(f"approval-rate gap {gap:.2f} between regions")
        return {"gap": gap}

This module imports no Airflow: :mod:`mlstack.airflow.extra_tasks` builds the tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mlstack.exceptions import StopRun
from mlstack.specs import UseCaseSpec

__all__ = ["StopRun", "TaskContext"]


@dataclass(frozen=True)
class TaskContext:
    """What an extra task knows about the run it is part of."""

    spec: UseCaseSpec
    stage: str
    position: str  # before | after
    dag_id: str
    run_id: str
    day: date
    params: dict[str, Any] = field(default_factory=dict)
    #: Extras of the Asset events that triggered this run (empty for manual runs).
    events: list[dict[str, Any]] = field(default_factory=list)
    #: For a task placed after a stage: each of the stage's last tasks' result, by task id.
    upstream: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def usecase(self) -> str:
        """The use case's name."""
        return self.spec.name

    def _first(self, key: str) -> Any:
        """``key`` from the params, else the stage's results, else the triggering events."""
        if self.params.get(key) is not None:
            return self.params[key]
        for found in [*self.upstream.values(), *reversed(self.events)]:
            if isinstance(found, dict) and found.get(key) is not None:
                return found[key]
        return None

    @property
    def model_version(self) -> int | None:
        """The model version the run is about (param ``version``, a result, an event)."""
        found = self._first("version")
        return int(found) if found is not None else None

    @property
    def snapshot(self) -> int | None:
        """The features snapshot the run is about (a param, a result, an event), if any."""
        for key in ("snapshot", "features_snapshot", "mlstack.features_snapshot", "snapshot_id"):
            found = self._first(key)
            if found is not None:
                return int(found)
        return None
