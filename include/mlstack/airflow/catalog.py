"""``<usecase>__catalog``: the data catalog of a use case, kept up to date by Assets.

Scheduled on the use case's dataset Assets (any of them: ``<usecase>.<dataset>``, emitted by
``<usecase>__ingest``). Its ``record_versions`` task reads the latest event of each and
records every dataset version not yet catalogued — the Iceberg snapshot, schema, statistics,
owner and lineage (the files and the job that produced it) — in mlstack's catalog tables.
After an ingest of several days, each day's files go to that day's version.
``mlstack catalog list|show`` and the catalog page in the Airflow UI read them.

Parse time stays cheap: the catalog stage (pyiceberg, pandas) is imported inside the task.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from airflow.sdk import DAG, task
from airflow.sdk.definitions.asset import BaseAsset

from mlstack.airflow.assets import dataset_asset
from mlstack.airflow.usecase_dag import StageTasks, usecase_dag
from mlstack.specs import UseCaseSpec

log = logging.getLogger(__name__)


def build_catalog(spec: UseCaseSpec) -> DAG:
    """``<usecase>__catalog``: on any of the use case's dataset Assets, record new versions."""
    assets = [dataset_asset(spec.name, d) for d in spec.datasets()]
    schedule: BaseAsset = assets[0]
    for other in assets[1:]:
        schedule = schedule | other
    with usecase_dag(spec, "catalog", "data catalog", doc=__doc__, schedule=schedule) as dag:
        catalog_tasks(spec)
    return dag


def catalog_tasks(spec: UseCaseSpec) -> StageTasks:
    """In the DAG being defined: ``record_versions``, reading the latest event of each of the
    use case's dataset Assets."""
    assets = [dataset_asset(spec.name, d) for d in spec.datasets()]

    @task(task_id="record_versions", inlets=assets, multiple_outputs=False)
    def record_versions(**context: Any) -> list[dict[str, Any]]:
        """Record every dataset version not yet catalogued, with schema, stats and lineage."""
        from mlstack.stages import catalog  # lazy: pyiceberg, pandas

        recorded = []
        for dataset, asset in zip(spec.datasets(), assets, strict=True):
            events = context["inlet_events"][asset]
            latest = events[-1].extra if len(events) else {}
            if not latest:
                log.info("No ingestion event for %s yet", asset.name)
                continue
            days = latest.get("days") or [latest]  # an ingest of several days: each day's
            files = {
                int(d["snapshot_id"]): d.get("files") or []
                for d in days
                if d.get("snapshot_id") is not None
            }
            records = catalog.sync(spec, dataset, sources=files)
            recorded += [asdict(r) for r in records if r.created]
        return recorded

    return StageTasks.of("catalog", [record_versions()], spec)
