"""DAG factory: every valid use-case spec becomes its DAGs.

``<usecase>__ingest``  land (demo simulators only) → one ingest task per dataset, each
                       emitting the dataset's Asset with the snapshot id and counts.
``<usecase>__catalog`` scheduled on those Assets: records every new dataset version.

Parse time stays cheap: specs are read from disk, nothing else; pandas, pyiceberg,
sklearn, mlflow and friends are imported inside tasks. One broken spec is logged and
skipped so the others still load, unless ``MLSTACK_STRICT`` is set (CI), where it fails.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, Param, task
from airflow.sdk.definitions.asset import BaseAsset

from mlstack.airflow import lifecycle, monitor, rollout
from mlstack.exceptions import SpecError
from mlstack.settings import get_settings
from mlstack.specs import UseCaseSpec, discover

log = logging.getLogger(__name__)

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)
RETRIES = 2


def dataset_asset(usecase: str, dataset: str) -> Asset:
    """The Asset a dataset's ingestion emits (one per Iceberg table)."""
    return Asset(
        name=f"{usecase}.{dataset}", uri=f"mlstack://datasets/{usecase}/{dataset}", group="dataset"
    )


def default_args(spec: UseCaseSpec) -> dict[str, Any]:
    """Owner and retry policy shared by every task of a use case."""
    return {"owner": spec.owner, "retries": RETRIES, "retry_delay": timedelta(minutes=1)}


def run_day(context: dict[str, Any]) -> date:
    """The day a run works on: the ``day`` param, else the logical date, else today (UTC)."""
    param = (context.get("params") or {}).get("day")
    if param:
        try:
            return date.fromisoformat(str(param))
        except ValueError as exc:
            raise SpecError(f"DAG param day={param!r} is not a date; use YYYY-MM-DD") from exc
    for key in ("logical_date", "data_interval_start"):
        value = context.get(key)
        if value is not None:
            return value.date()
    return datetime.now(UTC).date()


def producer(context: dict[str, Any]) -> str:
    """Lineage name of the running job: ``<dag_id>/<task_id>``."""
    ti = context["ti"]
    return f"{ti.dag_id}/{ti.task_id}"


def _doc(spec: UseCaseSpec, what: str) -> str:
    return (
        f"### {spec.name}: {what}\n\n{spec.description.strip()}\n\nOwner: **{spec.owner}**. "
        f"Spec: `{spec.path}`.\n\n{__doc__}"
    )


def usecase_dag(
    spec: UseCaseSpec,
    stage: str,
    what: str,
    *,
    schedule: Any,
    start_date: datetime = DEFAULT_START,
    params: dict[str, Param] | None = None,
    **default_arg_overrides: Any,
) -> DAG:
    """``<usecase>__<stage>``: one run at a time, no catch-up, tagged with the use case and
    the stage, the spec's owner and retries (``default_arg_overrides`` change them), documented."""
    return DAG(
        dag_id=f"{spec.name}__{stage}",
        schedule=schedule,
        start_date=start_date,
        catchup=False,
        max_active_runs=1,
        tags=["mlstack", spec.name, stage, *spec.tags],
        default_args={**default_args(spec), **default_arg_overrides},
        params=params or {},
        doc_md=_doc(spec, what),
    )


def day_param(what: str) -> Param:
    """The ``day`` param of a daily DAG: a date, empty = the run's logical date."""
    return Param(
        None,
        type=["null", "string"],
        format="date",
        description=f"Day to {what} (YYYY-MM-DD); empty = the run's logical date",
    )


def build_ingest(spec: UseCaseSpec) -> DAG:
    """``<usecase>__ingest``: land (demo only) then ingest each dataset of one day."""
    start = (
        datetime.combine(spec.simulator.start, datetime.min.time(), UTC)
        if spec.simulator
        else DEFAULT_START
    )
    with usecase_dag(
        spec,
        "ingest",
        "ingestion",
        schedule=spec.schedule,
        start_date=start,
        params={"day": day_param("ingest")},
    ) as dag:
        landed = None
        if spec.simulator is not None:

            @task(task_id="land")
            def land(**context: Any) -> list[str]:
                """Demo upstream: the simulator lands the day's files, unless they already are."""
                from mlstack.sources import land as land_files

                return land_files(spec, run_day(context), only_missing=True)

            landed = land()

        for dataset in spec.datasets():
            asset = dataset_asset(spec.name, dataset)

            @task(task_id=f"ingest_{dataset}", outlets=[asset])
            def ingest(
                dataset: str = dataset, asset: Asset = asset, **context: Any
            ) -> dict[str, Any]:
                """Validate one day, quarantine rejects, replace the day's Iceberg partition."""
                from mlstack.stages.ingest import ingest_day

                result = ingest_day(spec, run_day(context), dataset, producer=producer(context))
                context["outlet_events"][asset].extra = result.to_dict()
                return result.to_dict()

            step = ingest()
            if landed is not None:
                landed >> step
    return dag


def build_catalog(spec: UseCaseSpec) -> DAG:
    """``<usecase>__catalog``: on any of the use case's dataset Assets, record new versions."""
    assets = [dataset_asset(spec.name, d) for d in spec.datasets()]
    schedule: BaseAsset = assets[0]
    for other in assets[1:]:
        schedule = schedule | other
    with usecase_dag(spec, "catalog", "data catalog", schedule=schedule) as dag:

        @task(task_id="record_versions", inlets=assets)
        def record_versions(**context: Any) -> list[dict[str, Any]]:
            """Record every dataset version not yet catalogued, with schema, stats and lineage."""
            from dataclasses import asdict

            from mlstack.stages import catalog

            recorded = []
            for dataset, asset in zip(spec.datasets(), assets, strict=True):
                events = context["inlet_events"][asset]
                latest = events[-1].extra if len(events) else {}
                if not latest:
                    log.info("No ingestion event for %s yet", asset.name)
                    continue
                records = catalog.sync(spec, dataset, sources=latest.get("files"))
                recorded += [asdict(r) for r in records if r.created]
            return recorded

        record_versions()
    return dag


BUILDERS = (build_ingest, build_catalog, *lifecycle.BUILDERS, *rollout.BUILDERS, *monitor.BUILDERS)


def build_dags(spec: UseCaseSpec) -> dict[str, DAG]:
    """All DAGs of one use case, by dag_id."""
    return {d.dag_id: d for d in (builder(spec) for builder in BUILDERS)}


def build_all(usecases_dir: str | None = None, *, strict: bool | None = None) -> dict[str, DAG]:
    """DAGs of every valid use case; invalid specs are logged (or raised when strict)."""
    settings = get_settings()
    specs, errors = discover(usecases_dir or settings.usecases_dir)
    strict = settings.strict if strict is None else strict
    if errors and strict:
        raise SpecError("\n".join(str(e) for e in errors.values()))
    for name, err in errors.items():
        log.error("Skipping use case %s: %s", name, err)
    dags: dict[str, DAG] = {}
    for spec in specs.values():
        dags.update(build_dags(spec))
    return dags
