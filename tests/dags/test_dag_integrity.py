"""DAG integrity: the dags folder loads without errors, every DAG follows the house rules,
and parsing stays cheap (no heavy library imported at parse time)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = ["ingest", "catalog", "train", "promote", "rollout", "monitor"]
HEAVY = ["pandas", "sklearn", "mlflow", "evidently", "pyiceberg", "pyarrow", "duckdb", "boto3"]


def test_dags_folder_has_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}


def test_every_usecase_has_its_dags(dagbag) -> None:
    """Generated stage DAGs, or (``dags.own``) exactly its hand-written ones and none of those."""
    from mlstack.specs import discover

    specs, _ = discover(ROOT / "include" / "usecases")
    assert any(not s.generated_dags for s in specs.values())  # the example is covered
    for name, spec in specs.items():
        ids = {d for d in dagbag.dags if d.startswith(f"{name}__")}
        if spec.generated_dags:
            assert ids == {f"{name}__{stage}" for stage in STAGES}, name
        else:
            assert ids == set(spec.own_dag_ids()), name


@pytest.mark.parametrize("policy", ["tags", "owner", "retries", "doc"])
def test_every_dag_follows_policy(dagbag, policy: str) -> None:
    for dag_id, dag in dagbag.dags.items():
        if policy == "tags":
            assert "mlstack" in dag.tags, dag_id
        elif policy == "doc":
            assert dag.doc_md, dag_id
        else:
            for t in dag.tasks:
                if policy == "owner":
                    assert t.owner and t.owner != "airflow", f"{dag_id}.{t.task_id}"
                else:
                    assert t.retries >= 1, f"{dag_id}.{t.task_id}"


def test_every_dag_doc_describes_its_own_stage(dagbag) -> None:
    """The Airflow UI shows each DAG's own text: the first DAG id its doc names is its own
    (``<usecase>__<stage>``, or a hand-written DAG's own id), and no DAG carries another
    stage's documentation (or the factory's)."""
    for dag_id, dag in dagbag.dags.items():
        usecase, stage = dag_id.split("__")
        named = re.findall(rf"(?:<usecase>|{usecase})__(\w+)", dag.doc_md)
        assert named and named[0] == stage, f"{dag_id}: its doc first names {named[:1]}"
        assert "DAG factory" not in dag.doc_md, dag_id
    docs = [dagbag.dags[f"credit_default__{s}"].doc_md for s in STAGES]
    assert len(set(docs)) == len(STAGES)


def test_every_param_declares_draft_07_and_still_validates(dagbag) -> None:
    """The params' schemas name JSON Schema draft-07 (cheaper for Airflow to check at parse
    time); their keywords still reject what they did: a day that is no date, a version that
    is no integer."""
    from airflow.sdk.definitions.param import ParamValidationError
    from mlstack.airflow.usecase_dag import PARAM_DIALECT

    params = [p for dag in dagbag.dags.values() for p in dag.params.values()]
    assert params and all(p.schema["$schema"] == PARAM_DIALECT for p in params)
    day = dagbag.dags["credit_default__ingest"].params.get_param("day")
    assert day.resolve("2026-03-01") == "2026-03-01" and day.resolve(None) is None
    with pytest.raises(ParamValidationError, match="is not a 'date'"):
        day.resolve("2026-13-45")
    version = dagbag.dags["credit_default__promote"].params.get_param("version")
    with pytest.raises(ParamValidationError, match="is not of type 'null', 'integer'"):
        version.resolve("v2")


def test_each_task_says_multiple_outputs_as_its_return_annotation_would(dagbag) -> None:
    """The tasks pass ``multiple_outputs`` (Airflow would evaluate each function's return
    annotation at parse time otherwise): True exactly where the function returns a mapping,
    as Airflow infers it."""
    import typing
    from collections.abc import Mapping

    checked = 0
    for dag in dagbag.dags.values():
        for t in dag.tasks:
            fn = getattr(t, "python_callable", None)
            if fn is None or t.task_type == "_PythonSensorDecoratedOperator":
                continue
            returns = typing.get_type_hints(fn).get("return", typing.Any)
            origin = getattr(returns, "__origin__", returns)
            mapping = isinstance(origin, type) and issubclass(origin, Mapping)
            assert t.multiple_outputs is mapping, f"{dag.dag_id}.{t.task_id}"
            checked += 1
    assert checked > 20


def test_an_asset_is_made_once_and_shared_by_its_dags() -> None:
    from mlstack.airflow.assets import candidate_asset, dataset_asset

    assert dataset_asset("credit_default", "features") is dataset_asset(
        "credit_default", "features"
    )
    assert candidate_asset("credit_default").uri == "mlstack://models/credit_default/candidate"


def test_catalog_dag_is_scheduled_on_ingest_assets(dagbag) -> None:
    ingest = dagbag.dags["credit_default__ingest"]
    outlets = {a.name for t in ingest.tasks for a in t.outlets}
    assert outlets == {"credit_default.features", "credit_default.labels"}
    catalog = dagbag.dags["credit_default__catalog"]
    scheduled = {a.name for a in catalog.timetable.asset_condition.objects}
    assert scheduled == outlets


def test_parsing_dags_imports_no_heavy_library() -> None:
    """Parse time stays low because parsing imports none of the heavy libraries."""
    code = (
        "import sys, json, runpy\n"
        f"runpy.run_path({str(ROOT / 'dags' / 'mlstack_dags.py')!r})\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_broken_spec_is_skipped_unless_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from mlstack.airflow.factory import build_all
    from mlstack.exceptions import SpecError

    shutil.copytree(ROOT / "include" / "usecases" / "diabetes", tmp_path / "diabetes")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "usecase.yaml").write_text("name: broken\n")
    built = set(build_all(str(tmp_path), strict=False))
    assert {"diabetes__ingest", "diabetes__catalog", "diabetes__train"} <= built
    assert not any(d.startswith("broken__") for d in built)
    with pytest.raises(SpecError, match="broken/usecase.yaml: invalid use-case spec"):
        build_all(str(tmp_path), strict=True)
