"""The DAG parse a use case's CI runs (``mlstack usecases check-dags``): mlstack's DAGs of
a use-case folder loaded by Airflow's own DagBag, as the dag-processor loads them."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlstack.exceptions import InvalidInput


def check_dags(usecases_dir: str | Path) -> dict[str, list[str]]:
    """Parse mlstack's DAGs of every use case in ``usecases_dir`` with Airflow's DagBag, as
    the dag-processor does; {use case: its dag ids}. InvalidInput lists the import errors."""
    from airflow.dag_processing.dagbag import DagBag

    with tempfile.TemporaryDirectory(prefix="mlstack-dags-") as folder:
        (Path(folder) / "mlstack_dags.py").write_text(
            '"""mlstack\'s Airflow DAGs of every use case (a DAG file: safe mode reads it)."""\n'
            "from mlstack.airflow.factory import build_all\n\n"
            f"globals().update(build_all({str(Path(usecases_dir).resolve())!r}, strict=True))\n",
            encoding="utf-8",
        )
        bag = DagBag(dag_folder=folder)
    if bag.import_errors:
        raise InvalidInput(
            "the DAGs do not parse:\n" + "\n".join(str(e) for e in bag.import_errors.values())
        )
    if not bag.dag_ids:
        raise InvalidInput(f"no DAGs: {usecases_dir} has no use case (*/usecase.yaml)")
    found: dict[str, list[str]] = {}
    for dag_id in sorted(bag.dag_ids):
        found.setdefault(dag_id.split("__")[0], []).append(dag_id)
    return found
