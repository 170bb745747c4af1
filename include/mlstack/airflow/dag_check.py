"""The DAG parse a use case's CI runs (``mlstack usecases check-dags``): mlstack's DAGs of
a use-case folder loaded by Airflow's own DagBag, as the dag-processor loads them — the
generated ones, and the hand-written ones of use cases that declare their own
(``dags: {own: [...]}``): from the use case's folder first (``<usecase>/dags/*.py``,
:mod:`mlstack.airflow.own_dags`), then from the files of the DAG folder that name such a use
case (where own DAGs lived before; one defining a DAG its folder defines too is a
duplicate, as in the dag-processor)."""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mlstack.exceptions import InvalidInput
from mlstack.settings import scoped_environ
from mlstack.specs import UseCaseSpec, discover

#: The file the dags folder holds for the generated DAGs and the use cases' own (replaced
#: here by one bound to the checked use-case folder).
GENERATED_FILE = "mlstack_dags.py"
#: mlstack's files in the dags folder: not searched for hand-written DAGs.
DAGS_FILES = (GENERATED_FILE, "mlstack_own_dag_errors.py")


def dags_folder_files(specs: dict[str, UseCaseSpec], dags_folder: str | Path) -> list[Path]:
    """The Python files under ``dags_folder`` that name (as a quoted string) a use case of
    ``specs`` with its own DAGs: the files that may define those DAGs."""
    names = [name for name, spec in specs.items() if spec.dags.own]
    folder = Path(dags_folder)
    if not names or not folder.is_dir():
        return []
    quoted = re.compile("|".join(rf"""(["']){re.escape(n)}\1""" for n in names))
    return [
        path
        for path in sorted(folder.rglob("*.py"))
        if path.name not in DAGS_FILES and quoted.search(path.read_text(encoding="utf-8"))
    ]


@contextlib.contextmanager
def _reading(usecases_dir: Path) -> Iterator[None]:
    """Settings for the parse: the checked use-case folder, strict (a broken spec raises in
    a hand-written DAG file as in the factory); the caller's settings back afterwards."""
    with scoped_environ(MLSTACK_USECASES_DIR=str(usecases_dir), MLSTACK_STRICT="1"):
        yield


def _missing_own(specs: dict[str, UseCaseSpec], found: set[str], files: list[Path]) -> list[str]:
    """A line for each declared own DAG that no file defined."""
    lines = []
    for spec in specs.values():
        looked = [*spec.own_dag_files(), *files]
        where = ", ".join(str(f) for f in looked) or "no file"
        lines += [
            f"{spec.path}: dags.own declares {dag_id.split('__', 1)[1]!r}, but no DAG file "
            f"defines {dag_id} (looked in: {where}); write it in "
            f"{spec.folder}/dags/ with mlstack.airflow.stages.own_dag"
            for dag_id in spec.own_dag_ids()
            if dag_id not in found
        ]
    return lines


def check_dags(
    usecases_dir: str | Path, dags_folder: str | Path | None = None
) -> dict[str, list[str]]:
    """Parse mlstack's DAGs of every use case in ``usecases_dir`` with Airflow's DagBag, as
    the dag-processor does: the generated ones, and the own DAGs of the use cases that
    declare them — from the use case's folder (``<usecase>/dags/*.py``), then from the files
    of ``dags_folder`` (default: Airflow's DAG folder) that name the use case; {use case: its
    dag ids}. InvalidInput lists the
    import errors and the declared own DAGs no file defines."""
    from airflow import settings as airflow_settings
    from airflow.dag_processing.dagbag import DagBag

    usecases = Path(usecases_dir).resolve()
    specs, _errors = discover(usecases)  # the generated file's parse reports the errors
    with tempfile.TemporaryDirectory(prefix="mlstack-dags-") as folder, _reading(usecases):
        (Path(folder) / GENERATED_FILE).write_text(
            '"""mlstack\'s Airflow DAGs of every use case (a DAG file: safe mode reads it)."""\n'
            "from mlstack.airflow.factory import build_all\n\n"
            f"globals().update(build_all({str(usecases)!r}, strict=True))\n",
            encoding="utf-8",
        )
        bag = DagBag(dag_folder=folder)
        files = dags_folder_files(specs, dags_folder or airflow_settings.DAGS_FOLDER)
        for path in files:
            bag.process_file(str(path))
    problems = [str(e) for e in bag.import_errors.values()]
    problems += _missing_own(specs, set(bag.dag_ids), files) if not problems else []
    if problems:
        raise InvalidInput("the DAGs do not parse:\n" + "\n".join(problems))
    if not bag.dag_ids:
        raise InvalidInput(f"no DAGs: {usecases_dir} has no use case (*/usecase.yaml)")
    found: dict[str, list[str]] = {}
    for dag_id in sorted(bag.dag_ids):
        found.setdefault(dag_id.split("__")[0], []).append(dag_id)
    return found
