"""The train → promote DAGs through ``dag.test()`` (the real DAGs, in-process), for every
built-in use case, on the embedded backends."""

from __future__ import annotations

import pytest
from mlstack import registry
from mlstack.stages import promote
from train_helpers import build_lake

pytestmark = pytest.mark.integration


def run(dagbag, dag_id: str, conf: dict | None = None):
    """Run a DAG like the scheduler would, in-process; return the finished run."""
    dr = dagbag.dags[dag_id].test(logical_date=None, run_conf=conf or {})
    assert str(getattr(dr.state, "value", dr.state)) == "success", f"{dag_id} failed"
    return dr


def states(dr) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dr.get_task_instances()}


@pytest.mark.parametrize(("usecase", "days"), [("diabetes", 20), ("credit_default", 42)])
def test_train_then_promote_dags_make_champion_then_refuse_a_no_better_model(
    dagbag, embedded_settings, usecase: str, days: int
) -> None:
    from mlstack.specs import get_spec

    spec = get_spec(usecase)
    build_lake(spec, days, embedded_settings)

    run(dagbag, f"{usecase}__train")
    assert set(registry.aliases_of(usecase)) == {"candidate"}
    first = run(dagbag, f"{usecase}__promote")
    assert states(first)["announce_challenger"] == "skipped"  # a champion, not a challenger
    assert registry.aliases_of(usecase) == {"champion": 1}

    # the same snapshot and seed again: identical metrics, so min_delta refuses it
    run(dagbag, f"{usecase}__train")
    run(dagbag, f"{usecase}__promote")
    assert registry.aliases_of(usecase) == {"champion": 1}
    latest = promote.history(usecase)[0]
    assert (latest["model_version"], latest["outcome"]) == (2, "refused")
    assert any("improvement +0.0000" in r for r in latest["reasons"]), latest["reasons"]
    assert latest["actor"] == f"{usecase}__promote/evaluate"
    assert registry.get_version(usecase, 2).tags["mlstack.trigger"] == "manual"

    # nothing awaits a decision now: the promote DAG skips instead of failing
    idle = run(dagbag, f"{usecase}__promote")
    assert states(idle)["evaluate"] == "skipped"


def test_train_dag_is_scheduled_by_spec_or_retrain_request(dagbag) -> None:
    credit = dagbag.dags["credit_default__train"].timetable
    assert "retrain-request/credit_default" in str(credit.asset_condition)
    assert credit.timetable.expression == "0 0 * * 0"  # training.schedule @weekly
    diabetes = dagbag.dags["diabetes__train"].timetable
    assert "retrain-request/diabetes" in str(diabetes.asset_condition)
    promote_dag = dagbag.dags["credit_default__promote"]
    assert promote_dag.timetable.asset_condition.name == "model-candidate/credit_default"
