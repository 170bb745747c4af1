"""Shape of ``<usecase>__promote``: the challenger Asset it announces, and the human approval
path when a spec asks for it (built with Airflow's HITL ApprovalOperator)."""

from __future__ import annotations

from mlstack.airflow import promote
from mlstack.specs import UseCaseSpec


def _with_approval(spec: UseCaseSpec) -> UseCaseSpec:
    data = spec.model_dump(by_alias=True, exclude={"path"})
    data["promotion"]["require_approval"] = True
    return UseCaseSpec.model_validate({**data, "path": spec.path})


def test_promote_dag_without_approval_has_no_human_step(credit_spec) -> None:
    dag = promote.build_promote(credit_spec)
    assert {t.task_id for t in dag.tasks} == {"evaluate", "announce_challenger"}
    assert [a.name for a in dag.get_task("announce_challenger").outlets] == [
        "model-challenger/credit_default"
    ]


def test_promote_dag_with_approval_asks_a_human_and_records_either_answer(credit_spec) -> None:
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    dag = promote.build_promote(_with_approval(credit_spec))
    approve = dag.get_task("approve")
    assert isinstance(approve, ApprovalOperator)
    assert approve.defaults == ["Reject"]  # a timeout counts as a rejection
    assert dag.get_task("needs_approval").downstream_task_ids == {"approve"}
    assert approve.downstream_task_ids == {"approved"}
    finalize = dag.get_task("finalize")
    assert finalize.trigger_rule == "all_done"  # runs after a Reject too, to record it
    assert {"approved", "evaluate"} <= finalize.upstream_task_ids
    assert dag.get_task("announce_challenger").upstream_task_ids == {"finalize"}
