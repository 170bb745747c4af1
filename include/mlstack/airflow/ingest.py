"""``<usecase>__ingest``: one day of a use case's data into its Iceberg tables.

On the spec's ``schedule`` (maturity 2 and up, or ``automation.scheduled_ingest``) and by
hand (param ``day``; with ``through``, every day of ``day..through`` in one run, each day
its own commit and snapshot, as a catch-up). For demo use cases a ``land`` task
first has the simulator land the day's files (only those missing). Then one
``ingest_<dataset>`` task per dataset validates the day's files against the spec's schema,
sends rejected rows to quarantine with their reasons, replaces the day's partition of the
dataset's Iceberg table (a rerun replaces, never duplicates) and emits the dataset's Asset
``<usecase>.<dataset>`` with the snapshot id, the counts and the files it read — which
schedules ``<usecase>__catalog``. A range's event and return value are its last day's,
with every day's under ``days``.

Parse time stays cheap: the stage modules (pandas, pyiceberg, ...) are imported inside the
task bodies, not here.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Asset, task

from mlstack.airflow.assets import dataset_asset
from mlstack.airflow.usecase_dag import (
    StageTasks,
    day_param,
    producer,
    run_days,
    simulator_start,
    through_param,
    usecase_dag,
)
from mlstack.specs import UseCaseSpec


def build_ingest(spec: UseCaseSpec) -> DAG:
    """``<usecase>__ingest``: land (demo only) then ingest each dataset of one day."""
    with usecase_dag(
        spec,
        "ingest",
        "ingestion",
        doc=__doc__,
        schedule=spec.schedule if spec.switches()["scheduled_ingest"] else None,
        start_date=simulator_start(spec),
        params={"day": day_param("ingest"), "through": through_param("ingest")},
    ) as dag:
        ingest_tasks(spec)
    return dag


def ingest_tasks(spec: UseCaseSpec) -> StageTasks:
    """In the DAG being defined: ``land`` (demo use cases only), then one
    ``ingest_<dataset>`` task per dataset, each emitting the dataset's Asset (see the module
    docstring for a run of several days)."""
    landed = None
    if spec.simulator is not None:

        @task(task_id="land", multiple_outputs=False)
        def land(**context: Any) -> list[str]:
            """Demo upstream: the simulator lands each day's files, unless they already are."""
            # lazy: keeps DAG parsing free of the data libraries
            from mlstack.sources import land as land_files

            return [
                key for day in run_days(context) for key in land_files(spec, day, only_missing=True)
            ]

        landed = land()

    steps: list[Any] = [landed] if landed is not None else []
    for dataset in spec.datasets():
        asset = dataset_asset(spec.name, dataset)

        @task(task_id=f"ingest_{dataset}", outlets=[asset], multiple_outputs=True)
        def ingest(dataset: str = dataset, asset: Asset = asset, **context: Any) -> dict[str, Any]:
            """Validate each day, quarantine rejects, replace the day's Iceberg partition."""
            from mlstack import sources  # lazy: pandas, pyiceberg
            from mlstack.airflow.connections import connection_url
            from mlstack.stages.ingest import ingest_day

            sources.connection_url = connection_url  # a sql source's conn_id, read here
            done = [
                ingest_day(spec, day, dataset, producer=producer(context)).to_dict()
                for day in run_days(context)
            ]
            result = done[-1] if len(done) == 1 else {**done[-1], "days": done}
            context["outlet_events"][asset].extra = result
            return result

        step = ingest()
        if landed is not None:
            landed >> step
        steps.append(step)
    return StageTasks.of("ingest", steps, spec)
