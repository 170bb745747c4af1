"""Running the project's DAGs in-process with ``dag.test()``: the embedded mode's Airflow.

The demo (:mod:`mlstack.demo`) uses this to run the real DAGs on a local Airflow metadata DB
(SQLite under ``MLSTACK_HOME/airflow``) without a scheduler: :func:`prepare_airflow` points
Airflow at that folder and migrates its DB once, :func:`load_dags` loads the dags folder as
the dag-processor does, :func:`run_dag` runs one DAG and returns its tasks' return values,
:func:`run_spec_dag` builds and runs one stage's DAG from a spec variant that is not on disk.

Airflow reads its configuration (``AIRFLOW_HOME``, the DB URL) when it is first imported, so
this module imports Airflow and the DAG factory only inside the functions that run after
:func:`prepare_airflow` has set the environment — not to dodge an import loop.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlstack.exceptions import MlstackError
from mlstack.settings import Settings
from mlstack.specs import UseCaseSpec

PROJECT_DIR = Path(__file__).resolve().parents[3]
DAGS_DIR = PROJECT_DIR / "dags"


@dataclass(frozen=True)
class DagRunOutcome:
    """How one ``dag.test()`` run ended and what its tasks returned (by task id)."""

    dag_id: str
    state: str
    results: dict[str, Any] = field(default_factory=dict)


def airflow_env(settings: Settings) -> dict[str, str]:
    """Environment for an in-process Airflow on SQLite under ``settings.home``."""
    home = settings.home / "airflow"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    }


def prepare_airflow(settings: Settings, log_file: Path) -> None:
    """Point Airflow at the demo's folder and migrate its DB once (~10 s the first time)."""
    for key, value in airflow_env(settings).items():
        os.environ.setdefault(key, value)
    home = Path(os.environ["AIRFLOW_HOME"])
    marker = home / ".mlstack-migrated"
    if marker.exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    with log_file.open("a") as out:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            stdout=out,
            stderr=out,
            env=os.environ.copy(),
            check=False,
        )
    if done.returncode != 0:
        raise MlstackError(f"`airflow db migrate` failed (exit {done.returncode}); see {log_file}")
    marker.touch()


@contextlib.contextmanager
def quiet(log_file: Path) -> Iterator[None]:
    """Send Airflow's own console output to ``log_file`` while a DAG runs."""
    with (
        log_file.open("a") as out,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(out),
    ):
        yield


def load_dags() -> dict[str, Any]:
    """The project's DAGs as the dag-processor sees them (fails on import errors)."""
    from airflow.dag_processing.dagbag import DagBag  # after prepare_airflow: see the docstring

    bag = DagBag(dag_folder=str(DAGS_DIR))
    if bag.import_errors:
        raise MlstackError(f"the dags folder has import errors: {bag.import_errors}")
    return bag.dags


#: What the dags folder's DAGs depend on, as of the last time this process wrote them to the
#: metadata DB (see :func:`folder_synced_once`); None: not yet.
_synced_folder: tuple[Any, ...] | None = None


def folder_state() -> tuple[Any, ...]:
    """What parsing the dags folder depends on: the folder and use-case files, own DAG files
    included (their modification times) and the mlstack settings that change the DAGs built
    from them; and the metadata DB they were written to."""
    from airflow import settings as airflow_settings  # after prepare_airflow: see the docstring

    from mlstack.settings import get_settings

    s = get_settings()
    usecases = Path(s.usecases_dir)
    files = [*DAGS_DIR.glob("*.py"), *usecases.glob("*/*"), *usecases.glob("*/dags/*.py")]
    return (
        airflow_settings.SQL_ALCHEMY_CONN,
        str(s.usecases_dir),
        repr(s.spec_overrides),
        s.strict,
        tuple(sorted((str(f), f.stat().st_mtime_ns) for f in files if f.is_file())),
    )


@contextlib.contextmanager
def folder_synced_once() -> Iterator[None]:
    """Let ``dag.test()`` parse the dags folder and write its DAGs to the metadata DB only
    when they may have changed since it last did in this process.

    Airflow 3's ``dag.test()`` re-parses the whole dags folder and writes every DAG in it to
    the metadata DB on *each* call (so that sibling DAGs exist, apache/airflow#64884): about a
    second per run on 2 cores, most of what a one-task DAG run costs, and the demo makes
    hundreds of runs of DAGs that do not change while it runs. So the first run (and any run
    after the folder, the use-case files or the settings they are built with changed: see
    :func:`folder_state`) parses and writes as Airflow does; the others skip just that step —
    the DAG run itself (its tasks, XComs, Asset events) is untouched. Should a future Airflow
    move those functions, the patch fails to apply and every run parses as before.
    """
    from unittest import mock

    global _synced_folder
    state = folder_state()
    if state != _synced_folder:
        yield
        _synced_folder = state
        return
    patches = contextlib.ExitStack()
    try:
        for target in ("BundleDagBag", "sync_bag_to_db"):
            stub = lambda *_, **__: None  # noqa: E731
            patches.enter_context(mock.patch(f"airflow.dag_processing.dagbag.{target}", stub))
    except AttributeError:  # pragma: no cover - an Airflow without them: parse as before
        patches.close()
    with patches:
        yield


def run_once(dag: Any, conf: dict[str, Any] | None, log_file: Path) -> DagRunOutcome:
    """Run ``dag`` once with ``dag.test()`` (its console output to ``log_file``), whatever
    the outcome; the caller decides what a failed run means. The dags folder is parsed and
    written to the metadata DB only when it may have changed (:func:`folder_synced_once`)."""
    with quiet(log_file), folder_synced_once():
        run = dag.test(logical_date=None, run_conf=conf or {})
    state = str(getattr(run.state, "value", run.state))
    return DagRunOutcome(dag.dag_id, state, task_results(run))


def run_dag(
    dags: dict[str, Any], dag_id: str, conf: dict[str, Any] | None, log_file: Path
) -> dict[str, Any]:
    """Run one DAG with ``dag.test()``; return its tasks' return values; fail loudly on failure."""
    if dag_id not in dags:
        raise MlstackError(f"DAG {dag_id} does not exist; known: {sorted(dags)}")
    outcome = run_once(dags[dag_id], conf, log_file)
    if outcome.state != "success":
        raise MlstackError(
            f"DAG {dag_id} ended {outcome.state} (conf {conf}); see {log_file} for the task logs"
        )
    return outcome.results


def run_spec_dag(
    spec: UseCaseSpec, stage: str, log_file: Path, conf: dict[str, Any] | None = None
) -> DagRunOutcome:
    """Build ``<usecase>__<stage>`` from ``spec`` itself (a variant the dags folder does not
    hold, e.g. the demo's compressed rollout clock) and run it once, whatever the outcome."""
    from mlstack.airflow.factory import build_dags  # imports Airflow: see the docstring

    dag_id = f"{spec.name}__{stage}"
    dags = build_dags(spec)
    if dag_id not in dags:
        raise MlstackError(f"DAG {dag_id} does not exist; known: {sorted(dags)}")
    return run_once(dags[dag_id], conf, log_file)


def task_results(run: Any) -> dict[str, Any]:
    """Return values (XComs) of a finished run's tasks, by task id."""
    from airflow.models.xcom import XComModel  # after prepare_airflow: see the docstring
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter(
            XComModel.dag_id == run.dag_id,
            XComModel.run_id == run.run_id,
            XComModel.key == "return_value",
        )
        return {r.task_id: XComModel.deserialize_value(r) for r in rows}
