"""Hand-written DAGs from the public stage API (:mod:`mlstack.airflow.stages`): the example
``customer_churn__pipeline`` chains the stages' tasks with their Assets, the factory builds
nothing for a use case with ``dags.own``, and a dags folder whose use-case folder lacks the
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
EXAMPLE_DAG = ROOT / "dags" / "customer_churn_pipeline.py"


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


def test_the_factory_builds_nothing_for_a_usecase_with_its_own_dags() -> None:
    from mlstack.airflow.access import usecase_dag_ids
    from mlstack.airflow.factory import build_all
    from mlstack.specs import get_spec

    built = build_all(str(USECASES), strict=True)
    assert not [d for d in built if d.startswith("customer_churn__")]
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


def test_check_dags_parses_the_own_dags_beside_the_generated_ones(checked: Path) -> None:
    result = check_dags("--dags-folder", str(ROOT / "dags"))
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
        f"(looked in: {ROOT / 'dags' / 'customer_churn_pipeline.py'})"
    ) in " ".join(result.output.split())
