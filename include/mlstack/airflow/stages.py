"""The public API for hand-written DAGs: mlstack's stage tasks and the Assets between them.

A use case whose spec names its own DAGs (``dags: {own: [pipeline]}``) gets no generated
stage DAGs; a file in the use case's folder, ``<usecase>/dags/pipeline.py`` (loaded by
``dags/mlstack_dags.py``: :mod:`mlstack.airflow.own_dags`), builds ``<usecase>__pipeline``
from the same tasks the generated DAGs are made of, in the shape the team wants::

    from mlstack.airflow import stages

    spec = stages.own_usecase("customer_churn")
    if spec is not None:  # absent from this deployment's use cases: no DAG, no error
        with stages.own_dag(spec, "pipeline", "ingest to monitoring", doc=__doc__,
                            schedule=None, params={"day": stages.day_param("run")}):
            (stages.ingest(spec) >> stages.catalog(spec) >> stages.train(spec)
             >> stages.promote(spec) >> stages.monitor(spec))

Each stage function adds that stage's tasks to the DAG being defined and returns a
:class:`StageTasks`; ``a >> b`` runs ``b`` after ``a`` unless a task of ``a`` failed (a
stage with nothing to do skips, and the next one still runs). Its ``first`` and ``last``
tasks chain to tasks of your own; ``emits`` and ``consumes`` list its Assets.

=========  ======================================  ======================================
stage      tasks (ids)                             Assets emitted / consumed
=========  ======================================  ======================================
ingest     ``land`` (simulator use cases),         emits ``<usecase>.<dataset>`` (extra:
           ``ingest_<dataset>``                    snapshot id, counts, files)
catalog    ``record_versions``                     consumes the dataset Assets
train      ``train``                               emits ``model-candidate/<usecase>``;
                                                   consumes ``retrain-request/<usecase>``
promote    ``evaluate`` (+ approval steps),        emits ``model-challenger/<usecase>``;
           ``announce_challenger``                 consumes ``model-candidate/<usecase>``
rollout    ``start``, ``watch`` (a sensor)         consumes ``model-challenger/<usecase>``
monitor    ``monitor`` (+ ``policy_says_retrain``,  emits ``retrain-request/<usecase>``
           ``request_retrain`` at maturity 5)      (at maturity 5)
=========  ======================================  ======================================

The tasks read the run as in the generated DAGs: the DAG param ``day`` (ingest, monitor;
else the run's logical date), ``version`` (promote, rollout; else the alias), ``snapshot``
and ``labels_snapshot`` (train; else the current ones) — a DAG without a param gets the
default. Task ids are unique across stages, so every stage fits once in one DAG.
Parsing stays cheap: nothing heavy is imported until a task runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from mlstack.airflow.assets import (
    candidate_asset,
    challenger_asset,
    dataset_asset,
    retrain_request_asset,
)
from mlstack.airflow.catalog import catalog_tasks as catalog
from mlstack.airflow.ingest import ingest_tasks as ingest
from mlstack.airflow.monitor import monitor_tasks as monitor
from mlstack.airflow.promote import promote_tasks as promote
from mlstack.airflow.rollout import rollout_tasks as rollout
from mlstack.airflow.train import train_tasks as train
from mlstack.airflow.usecase_dag import StageTasks, day_param, run_day, usecase_dag
from mlstack.exceptions import SpecError
from mlstack.settings import get_settings
from mlstack.specs import SPEC_FILE, UseCaseSpec, load_spec

__all__ = [
    "STAGES",
    "StageTasks",
    "candidate_asset",
    "catalog",
    "challenger_asset",
    "dataset_asset",
    "day_param",
    "ingest",
    "monitor",
    "own_dag",
    "own_usecase",
    "promote",
    "retrain_request_asset",
    "rollout",
    "run_day",
    "train",
]

log = logging.getLogger(__name__)

#: Every stage's task factory, in the order the stages run.
STAGES = {
    "ingest": ingest,
    "catalog": catalog,
    "train": train,
    "promote": promote,
    "rollout": rollout,
    "monitor": monitor,
}


def own_usecase(name: str, usecases_dir: str | Path | None = None) -> UseCaseSpec | None:
    """The spec of use case ``name`` for a hand-written DAG file, or None when this
    deployment's use-case folder (``MLSTACK_USECASES_DIR``) does not hold it — the embedded
    demo's folder holds only the demo's use case — so the file then defines no DAG.

    An invalid spec is logged and gives None, like the factory's skipped specs; with
    ``MLSTACK_STRICT`` (CI) it raises. A spec that does not declare its own DAGs
    (``dags.own``) raises: the factory would generate its stage DAGs as well.
    """
    settings = get_settings()
    folder = Path(usecases_dir or settings.usecases_dir) / name
    if not (folder / SPEC_FILE).exists():
        log.info("Use case %s is not in %s: its own DAGs are not defined", name, folder.parent)
        return None
    try:
        spec = load_spec(folder)
    except SpecError as exc:
        if settings.strict:
            raise
        log.error("Skipping the own DAGs of use case %s: %s", name, exc)
        return None
    if spec.generated_dags:
        raise SpecError(
            f"{spec.path}: a hand-written DAG uses use case {name!r}, but its spec declares no "
            "own DAGs, so the factory generates its stage DAGs too (every stage would run "
            "twice); add `dags: {own: [<dag name>]}` to the spec"
        )
    return spec


def own_dag(
    spec: UseCaseSpec,
    name: str,
    what: str,
    *,
    doc: str | None,
    schedule: Any,
    **options: Any,
) -> DAG:
    """``<usecase>__<name>`` with the house rules of the generated DAGs — one run at a time,
    no catch-up, tags ``mlstack``, the use case and ``name``, the spec's owner and retries,
    ``doc_md`` from the spec and ``doc`` — for a name the spec's ``dags.own`` declares (deploy
    mode grants the use case's team exactly those DAG ids). ``options``: ``start_date``,
    ``params`` and default-arg overrides, as :func:`~mlstack.airflow.usecase_dag.usecase_dag`
    takes them."""
    if name not in spec.dags.own:
        raise SpecError(
            f"{spec.path}: DAG {spec.name}__{name} is not declared; add {name!r} to dags.own "
            f"(it declares {spec.dags.own}) so deploy mode grants its team access"
        )
    return usecase_dag(spec, name, what, doc=doc, schedule=schedule, **options)
