"""Shape of the lifecycle DAGs: assets in and out, and the human approval path when a spec
asks for it (built with Airflow's HITL ApprovalOperator)."""

from __future__ import annotations

import pytest
from mlstack.airflow import lifecycle
from mlstack.specs import UseCaseSpec


def _with_approval(spec: UseCaseSpec) -> UseCaseSpec:
    data = spec.model_dump(by_alias=True, exclude={"path"})
    data["promotion"]["require_approval"] = True
    return UseCaseSpec.model_validate({**data, "path": spec.path})


def test_train_dag_emits_candidate_asset_and_reads_retrain_request(credit_spec) -> None:
    dag = lifecycle.build_train(credit_spec)
    task = dag.get_task("train")
    assert [a.name for a in task.outlets] == ["model-candidate/credit_default"]
    assert [a.name for a in task.inlets] == ["retrain-request/credit_default"]
    assert set(dag.params) == {"snapshot", "labels_snapshot", "retrain_request"}


class _Event:
    def __init__(self, extra: dict) -> None:
        self.extra = extra


def _context(run_type: str, events: list, **params) -> dict:
    from types import SimpleNamespace

    asset = lifecycle.retrain_request_asset("credit_default")
    return {
        "dag_run": SimpleNamespace(run_type=run_type),
        "params": params,
        "inlet_events": {asset: events},
    }


@pytest.mark.parametrize(
    ("run_type", "param", "expected"),
    [
        ("asset_triggered", None, {"request_id": 2}),  # the Asset's latest event
        ("scheduled", None, {}),  # a schedule's tick never acts on an old request
        ("manual", None, {}),  # a plain manual run keeps its behaviour
        ("manual", "latest", {"request_id": 2}),  # dag.test() and humans name it
    ],
)
def test_train_dag_acts_on_a_retrain_request_only_when_triggered_or_asked(
    run_type, param, expected
) -> None:
    asset = lifecycle.retrain_request_asset("credit_default")
    events = [_Event({"request_id": 1}), _Event({"request_id": 2})]
    params = {} if param is None else {"retrain_request": param}
    assert lifecycle._request(_context(run_type, events, **params), asset) == expected


def test_train_dag_asked_for_the_latest_request_when_none_exists_fails() -> None:
    asset = lifecycle.retrain_request_asset("credit_default")
    with pytest.raises(ValueError, match="no retrain-request/credit_default event"):
        lifecycle._request(_context("manual", [], retrain_request="latest"), asset)


def test_promote_dag_without_approval_has_no_human_step(credit_spec) -> None:
    dag = lifecycle.build_promote(credit_spec)
    assert {t.task_id for t in dag.tasks} == {"evaluate", "announce_challenger"}
    assert [a.name for a in dag.get_task("announce_challenger").outlets] == [
        "model-challenger/credit_default"
    ]


def test_promote_dag_with_approval_asks_a_human_and_records_either_answer(credit_spec) -> None:
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    dag = lifecycle.build_promote(_with_approval(credit_spec))
    approve = dag.get_task("approve")
    assert isinstance(approve, ApprovalOperator)
    assert approve.defaults == ["Reject"]  # a timeout counts as a rejection
    assert dag.get_task("needs_approval").downstream_task_ids == {"approve"}
    assert approve.downstream_task_ids == {"approved"}
    finalize = dag.get_task("finalize")
    assert finalize.trigger_rule == "all_done"  # runs after a Reject too, to record it
    assert {"approved", "evaluate"} <= finalize.upstream_task_ids
    assert dag.get_task("announce_challenger").upstream_task_ids == {"finalize"}


@pytest.mark.parametrize(
    ("run_type", "requested", "skips"),
    [
        ("scheduled", False, True),
        ("manual", False, False),
        ("asset_triggered", True, False),
        ("scheduled", True, False),
    ],
)
def test_train_with_too_little_data_skips_only_on_schedule(run_type, requested, skips) -> None:
    from mlstack.airflow.lifecycle import skips_when_data_short

    assert skips_when_data_short(run_type, requested=requested) is skips
