"""``<usecase>__train``: a model trained on exact snapshots, registered as ``candidate``.

Runs on ``training.schedule`` (maturity 3 and up, or ``automation.scheduled_training``), on
the Asset ``retrain-request/<usecase>`` that the monitor's retrain policy emits (maturity 5,
or ``automation.retrain_on_monitoring``), and by hand (params: ``snapshot`` and ``labels_snapshot``
ids, ``retrain_request``). It trains on exact Iceberg snapshots — on a request's
``training_window`` when a request triggered the run — logs the MLflow run, registers the
version with alias ``candidate`` (tagged with the request it answers) and emits the Asset
``model-candidate/<usecase>`` with the version and its metrics, which schedules
``<usecase>__promote``. A scheduled run with too little data skips; a requested one fails
and says why.

Parse time stays cheap: the stages (pandas, sklearn, MLflow, pyiceberg) are imported inside
the task.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Asset, Param, task
from airflow.sdk.definitions.timetables.assets import AssetOrTimeSchedule
from airflow.sdk.definitions.timetables.trigger import CronTriggerTimetable
from airflow.sdk.exceptions import AirflowSkipException

from mlstack.airflow.assets import candidate_asset, retrain_request_asset
from mlstack.airflow.usecase_dag import (
    StageTasks,
    producer,
    run_param,
    run_type,
    usecase_dag,
)
from mlstack.exceptions import NotEnoughData
from mlstack.specs import UseCaseSpec

log = logging.getLogger(__name__)


def train_schedule(spec: UseCaseSpec) -> Any:
    """What starts training by itself: ``training.schedule`` when ``scheduled_training`` is
    on, the retrain-request Asset when ``retrain_on_monitoring`` is, both, or nothing (None:
    by hand only)."""
    on = spec.switches()
    cron = spec.training.schedule if on["scheduled_training"] else None
    request = retrain_request_asset(spec.name) if on["retrain_on_monitoring"] else None
    if cron and request is not None:
        return AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(cron, timezone="UTC"), assets=request
        )
    if cron:
        return CronTriggerTimetable(cron, timezone="UTC")
    return request


def _snapshot_param(what: str) -> Param:
    return run_param(
        ["null", "integer"], f"{what} snapshot id to train on; empty = the current one"
    )


def _request(context: dict[str, Any], asset: Asset) -> dict[str, Any]:
    """The retrain request this run acts on ({} for scheduled and plain manual runs).

    A run the Asset triggered acts on its latest event, read through the task's inlet (the
    way that works under the scheduler and ``dag.test()`` alike); a run another Asset
    triggered (a hand-written DAG scheduled on a dataset) acts on none. A manual run acts on
    one only when its ``retrain_request`` param says so: ``latest`` (the Asset's latest
    event) or a request id (read back from mlstack's ``retrain_requests`` table).
    """
    wanted = (context.get("params") or {}).get("retrain_request")
    if wanted in (None, ""):
        if run_type(context) != "asset_triggered" or not _triggered_by(context, asset):
            return {}
        wanted = "latest"
    if str(wanted).strip().lower() != "latest":
        from mlstack.stages import retrain  # lazy: runs inside the task (database access)

        return retrain.load_request(int(wanted))
    events = context["inlet_events"][asset]
    if not len(events):
        raise ValueError(f"no {asset.name} event to act on yet")
    return dict(events[-1].extra or {})


def _triggered_by(context: dict[str, Any], asset: Asset) -> bool:
    """Whether an event of ``asset`` is among those that triggered the run."""
    triggering = context.get("triggering_asset_events") or {}
    return any(getattr(a, "name", None) == asset.name for a in triggering)


def skips_when_data_short(run_type: str, *, requested: bool) -> bool:
    """Whether a train run with too little data skips instead of failing.

    Only a schedule's tick skips (a fresh stack's first weekly run has no labels yet); a
    human or a retrain request asked for a model, so they fail and say why.
    """
    return run_type == "scheduled" and not requested


def build_train(spec: UseCaseSpec) -> DAG:
    """``<usecase>__train``: exact snapshot → fit → MLflow run → alias candidate → Asset."""
    with usecase_dag(
        spec,
        "train",
        "training",
        doc=__doc__,
        schedule=train_schedule(spec),
        retries=1,
        params={
            "snapshot": _snapshot_param("Features"),
            "labels_snapshot": _snapshot_param("Labels"),
            "retrain_request": run_param(
                ["null", "string", "integer"],
                "Act on a retrain request: 'latest' or its id (train on its "
                "training_window, tag the run with it); empty = none (runs the Asset "
                "triggered use the latest request by themselves)",
            ),
        },
    ) as dag:
        train_tasks(spec)
    return dag


def train_tasks(spec: UseCaseSpec) -> StageTasks:
    """In the DAG being defined: ``train``, which reads the params ``snapshot``,
    ``labels_snapshot`` and ``retrain_request`` when the DAG has them (else: the current
    snapshots, no request unless a retrain-request event triggered the run) and emits
    ``model-candidate/<usecase>``."""
    request = retrain_request_asset(spec.name)
    candidate = candidate_asset(spec.name)

    @task(
        task_id="train",
        multiple_outputs=True,
        inlets=[request],
        outlets=[candidate],
        execution_timeout=timedelta(hours=2),
    )
    def train_model(**context: Any) -> dict[str, Any]:
        """Train on exact snapshots and register the model with alias ``candidate``."""
        from mlstack.stages import retrain, train  # lazy: sklearn, MLflow, pyiceberg

        params = context.get("params") or {}
        req = _request(context, request)
        tags = {
            "mlstack.trigger": "retrain-request" if req else run_type(context),
            "mlstack.producer": producer(context),
        }
        if req:
            tags["mlstack.request"] = json.dumps(req, default=str)[:4000]
            tags |= retrain.request_tags(req)
            log.info("Acting on retrain request %s: %s", req.get("request_id"), req)
        try:
            result = train.train(
                spec,
                snapshot_id=params.get("snapshot"),
                labels_snapshot_id=params.get("labels_snapshot"),
                run_tags=tags,
                window=retrain.training_window(req) if req else None,
            )
        except NotEnoughData as exc:
            if not skips_when_data_short(run_type(context), requested=bool(req)):
                raise
            raise AirflowSkipException(f"nothing to train on yet: {exc}") from exc
        extra = {
            "usecase": spec.name,
            "version": result.version,
            "run_id": result.run_id,
            "primary_metric": result.primary_metric,
            "value": result.metrics[f"holdout_{result.primary_metric}"],
            **result.snapshot.tags(),
        }
        context["outlet_events"][candidate].extra = extra
        return result.to_dict()

    return StageTasks.of("train", [train_model()], spec)
