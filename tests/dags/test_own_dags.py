"""Hand-written DAGs from the public stage API (:mod:`mlstack.airflow.stages`): the example
``customer_churn__pipeline`` (in its use case's folder, ``customer_churn/dags/pipeline.py``)
chains the stages' tasks with their Assets, the factory generates nothing for a use case with
``dags.own`` and loads its own DAG files instead, a broken one is reported with the use case
and the file without hiding any other DAG, and a dags folder whose use-case folder lacks the
example (the embedded demo's) defines no DAG for it and still loads."""

from __future__ import annotations

import runpy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
USECASES = ROOT / "include" / "usecases"
EXAMPLE_DAG = USECASES / "customer_churn" / "dags" / "pipeline.py"


def use_usecases(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    from mlstack.settings import get_settings

    monkeypatch.setenv("MLSTACK_USECASES_DIR", str(folder))
    get_settings.cache_clear()


def test_example_dag_chains_every_stage_it_composes(dagbag) -> None:
    dag = dagbag.dags["customer_churn__pipeline"]
    upstream = {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks}
    assert upstream == {
        "ingest_features": [],
        "record_versions": ["ingest_features"],
        "train": ["record_versions"],
        "evaluate": ["train"],
        "announce_challenger": ["evaluate"],
        "monitor": ["announce_challenger"],
    }
    rules = {t.task_id: str(getattr(t.trigger_rule, "value", t.trigger_rule)) for t in dag.tasks}
    # a stage runs after the one before it unless that one failed (a skip does not stop it)
    assert {k for k, v in rules.items() if v == "none_failed"} == {
        "record_versions",
        "train",
        "evaluate",
        "monitor",
    }
    assert type(dag.timetable).__name__ == "NullTimetable"  # maturity 1: runs when triggered
    assert set(dag.params) == {"day"}
    assert {"mlstack", "customer_churn", "pipeline"} <= set(dag.tags)


def test_stage_tasks_name_the_assets_they_emit_and_consume(tmp_path: Path) -> None:
    from airflow.sdk import DAG
    from mlstack.airflow import stages
    from mlstack.specs import get_spec

    spec = get_spec("customer_churn", USECASES)
    with DAG("composed", schedule=None):
        built = {name: factory(spec) for name, factory in stages.STAGES.items()}

    def names(assets: list[Any]) -> list[str]:
        return [a.name for a in assets]

    assert names(built["ingest"].emits) == ["customer_churn.features"]
    assert names(built["catalog"].consumes) == ["customer_churn.features"]
    assert names(built["train"].emits) == ["model-candidate/customer_churn"]
    assert names(built["train"].consumes) == ["retrain-request/customer_churn"]
    assert names(built["promote"].consumes) == ["model-candidate/customer_churn"]
    assert names(built["promote"].emits) == ["model-challenger/customer_churn"]
    assert names(built["rollout"].consumes) == ["model-challenger/customer_churn"]
    assert [t.task_id for t in built["rollout"].first] == ["start"]
    assert [t.task_id for t in built["rollout"].last] == ["watch"]
    assert built["monitor"].emits == []  # the retrain request only at maturity 5


def test_the_factory_generates_nothing_for_a_usecase_with_its_own_dags() -> None:
    from mlstack.airflow.access import usecase_dag_ids
    from mlstack.airflow.factory import build_all
    from mlstack.specs import get_spec

    built = build_all(str(USECASES), strict=True)
    # its own DAG file, from its folder, defines its only DAG
    assert [d for d in built if d.startswith("customer_churn__")] == ["customer_churn__pipeline"]
    assert {"credit_default__ingest", "diabetes__ingest"} <= set(built)
    # deploy mode grants the team exactly the declared hand-written DAG
    assert usecase_dag_ids(get_spec("customer_churn", USECASES)) == ["customer_churn__pipeline"]


def test_a_usecases_folder_without_the_example_defines_no_dag_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded demo's folder holds only its own use case: the example's file loads."""
    shutil.copytree(USECASES / "credit_default", tmp_path / "credit_default")
    use_usecases(monkeypatch, tmp_path)
    defined = runpy.run_path(str(EXAMPLE_DAG))
    assert defined["spec"] is None and "dag" not in defined


def test_a_handwritten_dag_for_a_spec_without_dags_own_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlstack.exceptions import SpecError

    folder = tmp_path / "customer_churn"
    shutil.copytree(USECASES / "customer_churn", folder)
    raw = yaml.safe_load((folder / "usecase.yaml").read_text())
    del raw["dags"]
    (folder / "usecase.yaml").write_text(yaml.safe_dump(raw))
    use_usecases(monkeypatch, tmp_path)
    with pytest.raises(SpecError, match=r"every stage would run twice\); add `dags: \{own:"):
        runpy.run_path(str(EXAMPLE_DAG))


def test_an_undeclared_own_dag_name_is_refused() -> None:
    from mlstack.airflow import stages
    from mlstack.exceptions import SpecError
    from mlstack.specs import get_spec

    spec = get_spec("customer_churn", USECASES)
    with pytest.raises(SpecError, match=r"customer_churn__nightly is not declared; add 'nightly'"):
        stages.own_dag(spec, "nightly", "x", doc=None, schedule=None)


# --- own DAG files in the use case's folder (<usecase>/dags/*.py), as Airflow loads them ----

REPORT_DAG = """
from airflow.sdk import task
from mlstack.airflow import stages

spec = stages.own_usecase("customer_churn")
with stages.own_dag(spec, "report", "a report", doc="customer_churn__report", schedule=None):

    @task(multiple_outputs=False)
    def report() -> str:
        return "reported"

    report()
"""


def churn_with(folder: Path, declared: list[str], files: dict[str, str]) -> Path:
    """``folder`` holding credit_default and a copy of customer_churn declaring ``declared``
    own DAGs, with ``files`` (name: code) added to its dags/."""
    shutil.copytree(USECASES / "credit_default", folder / "credit_default")
    churn = folder / "customer_churn"
    shutil.copytree(USECASES / "customer_churn", churn)
    spec = churn / "usecase.yaml"
    spec.write_text(spec.read_text().replace("own: [pipeline]", f"own: [{', '.join(declared)}]"))
    for name, code in files.items():
        (churn / "dags" / name).write_text(code)
    return churn


def test_an_own_dag_file_in_the_usecase_folder_is_in_the_dagbag_and_runs(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dags folder's DagBag holds the DAG a use case's own file defines (with the
    generated ones), as a DAG of dags/mlstack_dags.py, the file a worker loads to run it;
    ``dag.test()`` runs it; a ``_``-prefixed file in dags/ is a helper, not loaded."""
    from airflow.dag_processing.dagbag import DagBag

    churn_with(
        tmp_path,
        ["pipeline", "report"],
        {"report.py": REPORT_DAG, "_helpers.py": "raise RuntimeError('not a DAG file')\n"},
    )
    use_usecases(monkeypatch, tmp_path)
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    assert {"customer_churn__pipeline", "customer_churn__report"} <= set(bag.dags)
    assert len([d for d in bag.dags if d.startswith("credit_default__")]) == 6
    report = bag.dags["customer_churn__report"]
    assert report.fileloc == str(ROOT / "dags" / "mlstack_dags.py")
    assert {"mlstack", "customer_churn", "report"} <= set(report.tags)

    run = report.test(logical_date=None)
    assert str(getattr(run.state, "value", run.state)) == "success"
    (ti,) = run.get_task_instances()
    assert ti.xcom_pull(task_ids="report") == "reported"


BROKEN = "raise RuntimeError('the billing table moved')\n"
UNDECLARED = """
from airflow.sdk import DAG

with DAG("customer_churn__other", schedule=None):
    pass
"""


def test_a_broken_own_dag_file_is_an_import_error_naming_the_usecase_and_hides_no_dag(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing own DAG file (an exception, a DAG it may not define) is an import error of
    dags/mlstack_own_dag_errors.py naming the use case and the file; every other DAG — the
    use case's good file's, the other use cases' — is still parsed and written to the
    metadata DB neither stale nor marked as having import errors (Airflow 3 marks every
    DAG of a file with an import error so, which is why the error is not mlstack_dags.py's).
    With MLSTACK_STRICT (CI) the parse fails naming them."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from mlstack.airflow.factory import build_all
    from mlstack.airflow.own_dags import OwnDagError

    churn = churn_with(tmp_path, ["pipeline"], {"broken.py": BROKEN, "other.py": UNDECLARED})
    use_usecases(monkeypatch, tmp_path)
    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    bundle = manager.get_bundle("dags-folder")
    bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)

    assert list(bag.import_errors) == ["mlstack_own_dag_errors.py"]
    error = bag.import_errors["mlstack_own_dag_errors.py"]
    assert (
        f"use case customer_churn: own DAG file {churn / 'dags' / 'broken.py'}: "
        "RuntimeError: the billing table moved"
    ) in error
    assert (
        f"use case customer_churn: own DAG file {churn / 'dags' / 'other.py'}: defines "
        f"customer_churn__other, which {churn / 'usecase.yaml'} does not declare"
    ) in error
    kept = {"customer_churn__pipeline", "credit_default__ingest", "credit_default__train"}
    assert kept <= set(bag.dags) and "customer_churn__other" not in bag.dags

    sync_bag_to_db(bag, bundle.name, None)
    with create_session() as session:
        rows = session.query(DagModel).filter(DagModel.dag_id.in_(kept)).all()
        assert {(r.dag_id, r.has_import_errors, r.is_stale) for r in rows} == {
            (d, False, False) for d in kept
        }

    with pytest.raises(OwnDagError, match=r"use case customer_churn: own DAG file .*broken\.py"):
        build_all(str(tmp_path), strict=True)


# --- `mlstack usecases check-dags` parses the own DAGs a spec declares ----------------------


@pytest.fixture
def checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A use-case folder with credit_default (generated DAGs) and customer_churn (its own)."""
    folder = tmp_path / "usecases"
    for name in ("credit_default", "customer_churn"):
        shutil.copytree(USECASES / name, folder / name)
    use_usecases(monkeypatch, folder)
    return folder


def check_dags(*args: str) -> Any:
    from click.testing import CliRunner
    from mlstack.cli import main

    return CliRunner().invoke(main, ["usecases", "check-dags", *args])


def test_check_dags_parses_the_own_dags_beside_the_generated_ones(
    checked: Path, tmp_path: Path
) -> None:
    """From the use case's own folder: the DAG folder given holds nothing."""
    (tmp_path / "empty").mkdir()
    result = check_dags("--dags-folder", str(tmp_path / "empty"))
    assert result.exit_code == 0, result.output
    assert "customer_churn: 1 DAGs (customer_churn__pipeline)" in result.output
    assert "credit_default: 6 DAGs (credit_default__catalog, " in result.output


def test_check_dags_reports_an_own_dag_file_that_does_not_parse(
    checked: Path, tmp_path: Path
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "churn_nightly.py").write_text(
        "from mlstack.airflow import stages\n\n"
        'spec = stages.own_usecase("customer_churn")\n'
        'with stages.own_dag(spec, "nightly", "undeclared", doc=None, schedule=None):\n'
        "    stages.ingest(spec)\n"
    )
    result = check_dags("--dags-folder", str(dags))
    assert result.exit_code == 2, result.output
    assert "the DAGs do not parse" in result.output
    assert "DAG customer_churn__nightly is not declared; add 'nightly' to dags.own" in (
        result.output
    )


def test_check_dags_reports_a_declared_own_dag_no_file_defines(
    checked: Path, tmp_path: Path
) -> None:
    spec = checked / "customer_churn" / "usecase.yaml"
    spec.write_text(spec.read_text().replace("own: [pipeline]", "own: [pipeline, report]"))
    result = check_dags("--dags-folder", str(ROOT / "dags"))
    assert result.exit_code == 2, result.output
    assert (
        f"{spec}: dags.own declares 'report', but no DAG file defines customer_churn__report "
        f"(looked in: {checked / 'customer_churn' / 'dags' / 'pipeline.py'}); write it in "
        f"{checked / 'customer_churn'}/dags/ with mlstack.airflow.stages.own_dag"
    ) in " ".join(result.output.split())


def test_check_dags_reports_a_broken_own_dag_file_of_the_usecase_folder(checked: Path) -> None:
    broken = checked / "customer_churn" / "dags" / "broken.py"
    broken.write_text(BROKEN)
    result = check_dags()
    assert result.exit_code == 2, result.output
    assert (
        f"use case customer_churn: own DAG file {broken}: RuntimeError: the billing table moved"
    ) in " ".join(result.output.split())
