"""A use case's own DAG files, shipped in its folder: ``<usecase>/dags/*.py``.

A use case whose spec declares its own DAGs (``dags: {own: [pipeline]}``) keeps the files
that define them in its folder, so they travel with it — in the team's repository and with
``mlstack deploy-usecase`` to the shared VM. ``dags/mlstack_dags.py`` loads them through the
factory (:func:`mlstack.airflow.factory.build_all`): each file runs as a module of its own
(files whose name starts with ``_`` are not loaded: :meth:`UseCaseSpec.own_dag_files
<mlstack.specs.UseCaseSpec.own_dag_files>`), and the DAGs it defines — bound to a
name or only opened with ``with DAG(...)`` — join the DAG file's globals, where Airflow's
DagBag finds them. Their ``fileloc`` is then ``dags/mlstack_dags.py``: the file Airflow
re-parses for them.

A file may define only DAGs its use case's spec declares (``<usecase>__<name>`` for a name
in ``dags.own``; deploy mode grants the use case's team exactly those). A file that fails
— an exception, or a DAG it may not define — is reported with the use case and the file,
and the other files and use cases still load: with ``MLSTACK_STRICT`` (CI) the parse fails;
otherwise it is logged, as a broken spec is. Airflow shows it as an import error of
``dags/mlstack_own_dag_errors.py`` (:func:`raise_problems`), a file that defines no DAG:
Airflow 3 marks every DAG of a file with an import error as stale (``has_import_errors``,
``is_stale``: not scheduled), so an import error of ``dags/mlstack_dags.py`` would stop
every use case's DAGs.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from airflow.sdk import DAG
from airflow.sdk.definitions._internal.contextmanager import DagContext

from mlstack.exceptions import SpecError
from mlstack.settings import get_settings
from mlstack.specs import OWN_DAGS_DIR, SPEC_FILE, UseCaseSpec, load_spec

#: Where the loaded files' modules go in ``sys.modules``: ``<prefix>.<usecase>.<file stem>``.
MODULE_PREFIX = "mlstack_own_dags"


class OwnDagError(SpecError):
    """A use case's own DAG file could not be loaded: names the use case and the file."""


def _run_module(name: str, path: Path) -> tuple[ModuleType, list[DAG]]:
    """Run ``path`` as module ``name``; the module and the DAGs it opened with ``with``
    (Airflow's auto-registration, taken here so they count as this file's, also outside a
    DagBag parse, and none of a failed file reaches the DagBag)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    registering = DagContext.current_autoregister_module_name
    DagContext.current_autoregister_module_name = name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        DagContext.current_autoregister_module_name = registering
        opened = {(d, m) for d, m in DagContext.autoregistered_dags if m is module}
        DagContext.autoregistered_dags.difference_update(opened)
    return module, [d for d, _ in opened]


def load_file(spec: UseCaseSpec, path: Path) -> dict[str, DAG]:
    """The DAGs one own DAG file of ``spec``'s use case defines, by dag_id; OwnDagError
    naming the use case and the file when it fails or defines a DAG not declared."""
    where = f"use case {spec.name}: own DAG file {path}"
    try:
        module, opened = _run_module(f"{MODULE_PREFIX}.{spec.name}.{path.stem}", path)
    except Exception as exc:
        raise OwnDagError(f"{where}: {type(exc).__name__}: {exc}") from exc
    found = {id(d): d for d in [*vars(module).values(), *opened] if isinstance(d, DAG)}
    dags = {d.dag_id: d for d in found.values()}
    undeclared = sorted(set(dags) - set(spec.own_dag_ids()))
    if undeclared:
        raise OwnDagError(
            f"{where}: defines {', '.join(undeclared)}, which {spec.path} does not declare "
            f"(dags.own: {spec.dags.own}); name each DAG <usecase>__<name> with its name in "
            "dags.own (mlstack.airflow.stages.own_dag does)"
        )
    return dags


def load_usecase(spec: UseCaseSpec) -> tuple[dict[str, DAG], list[str]]:
    """Every own DAG of ``spec``'s use case from its folder's files, and a line per file
    that failed (the others still load)."""
    dags: dict[str, DAG] = {}
    problems: list[str] = []
    for path in spec.own_dag_files():
        try:
            defined = load_file(spec, path)
        except OwnDagError as exc:
            problems.append(str(exc))
            continue
        twice = sorted(set(defined) & set(dags))
        if twice:
            problems.append(
                f"use case {spec.name}: own DAG file {path}: defines {', '.join(twice)}, "
                "which another of its files defines already"
            )
            continue
        dags.update(defined)
    return dags, problems


def problems(usecases_dir: str | Path | None = None) -> list[str]:
    """A line per own DAG file of the use cases in ``usecases_dir`` (default: the settings')
    that fails to load. Only the use cases with own DAG files have their spec read (a glob
    finds them: parse time stays flat in the number of use cases); an invalid spec is
    ``dags/mlstack_dags.py``'s to report, as the factory does."""
    root = Path(usecases_dir or get_settings().usecases_dir)
    found: list[str] = []
    for folder in sorted({p.parent.parent for p in root.glob(f"*/{OWN_DAGS_DIR}/*.py")}):
        if not (folder / SPEC_FILE).is_file():
            continue
        try:
            spec = load_spec(folder)
        except SpecError:
            continue
        found += load_usecase(spec)[1]
    return found


def raise_problems(usecases_dir: str | Path | None = None) -> None:
    """OwnDagError listing the own DAG files that fail, if any: what
    ``dags/mlstack_own_dag_errors.py`` runs, so Airflow shows them as that file's import
    error — a file that defines no DAG, so no DAG is marked as having import errors."""
    found = problems(usecases_dir)
    if found:
        raise OwnDagError("\n".join(found))
