"""DAG factory: every valid use-case spec becomes its DAGs; this module only assembles them.

Each stage's DAG is built by the module named for it — :mod:`~mlstack.airflow.ingest`,
:mod:`~mlstack.airflow.catalog`, :mod:`~mlstack.airflow.train`,
:mod:`~mlstack.airflow.promote`, :mod:`~mlstack.airflow.rollout`,
:mod:`~mlstack.airflow.monitor` — on the shared ground of
:mod:`~mlstack.airflow.usecase_dag` (DAG shape, run helpers) and
:mod:`~mlstack.airflow.assets` (the Assets that chain them); the spec's extra tasks are placed
by :mod:`~mlstack.airflow.extra_tasks`. Nothing imports this module
back but the dags folder and the demo's runner.

Parse time stays cheap: specs are read from disk, nothing else; pandas, pyiceberg,
sklearn, mlflow and friends are imported inside tasks. One broken spec is logged and
skipped so the others still load, unless ``MLSTACK_STRICT`` is set (CI), where it fails.
A use case whose spec names its own DAGs (``dags.own``) gets none generated: its own DAG
files, in its folder's ``dags/``, are loaded instead (:mod:`~mlstack.airflow.own_dags`), a
failing one reported with the same policy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from airflow.sdk import DAG

from mlstack.airflow import extra_tasks, own_dags
from mlstack.airflow.catalog import build_catalog
from mlstack.airflow.ingest import build_ingest
from mlstack.airflow.monitor import build_monitor
from mlstack.airflow.promote import build_promote
from mlstack.airflow.rollout import build_rollout
from mlstack.airflow.train import build_train
from mlstack.exceptions import SpecError
from mlstack.settings import get_settings
from mlstack.specs import UseCaseSpec, discover

log = logging.getLogger(__name__)

#: One builder per lifecycle stage, in the order the stages run.
BUILDERS: dict[str, Callable[[UseCaseSpec], DAG]] = {
    "ingest": build_ingest,
    "catalog": build_catalog,
    "train": build_train,
    "promote": build_promote,
    "rollout": build_rollout,
    "monitor": build_monitor,
}


def build_dags(spec: UseCaseSpec) -> dict[str, DAG]:
    """All DAGs of one use case, by dag_id, with the spec's extra tasks placed in them.

    Every stage has its DAG at every maturity level; the level (and ``automation:``) decides
    what triggers each one — see :mod:`mlstack.automation`."""
    built = (extra_tasks.place(spec, stage, build(spec)) for stage, build in BUILDERS.items())
    return {d.dag_id: d for d in built}


def build_all(usecases_dir: str | None = None, *, strict: bool | None = None) -> dict[str, DAG]:
    """DAGs of every valid use case, by dag_id: the generated ones, and for a use case whose
    spec names its own (``dags.own``) those its folder's DAG files define
    (:mod:`~mlstack.airflow.own_dags`). Invalid specs and failing own DAG files are logged
    (or raised when strict); ``dags/mlstack_own_dag_errors.py`` makes the failing files an
    import error in Airflow."""
    settings = get_settings()
    specs, errors = discover(usecases_dir or settings.usecases_dir)
    strict = settings.strict if strict is None else strict
    if errors and strict:
        raise SpecError("\n".join(str(e) for e in errors.values()))
    for name, err in errors.items():
        log.error("Skipping use case %s: %s", name, err)
    dags: dict[str, DAG] = {}
    unloaded: list[str] = []
    for spec in specs.values():
        if spec.generated_dags:
            dags.update(build_dags(spec))
        own, problems = own_dags.load_usecase(spec)
        dags.update(own)
        unloaded += problems
    if unloaded and strict:
        raise own_dags.OwnDagError("\n".join(unloaded))
    for problem in unloaded:
        log.error("Skipping an own DAG file: %s", problem)
    return dags
