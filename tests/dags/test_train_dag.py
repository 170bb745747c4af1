"""Shape of ``<usecase>__train``: the Assets in and out, its params, which retrain request
a run acts on, and when too little data skips instead of failing."""

from __future__ import annotations

import pytest
from mlstack.airflow import train
from mlstack.airflow.assets import retrain_request_asset


def test_train_dag_emits_candidate_asset_and_reads_retrain_request(credit_spec) -> None:
    dag = train.build_train(credit_spec)
    task = dag.get_task("train")
    assert [a.name for a in task.outlets] == ["model-candidate/credit_default"]
    assert [a.name for a in task.inlets] == ["retrain-request/credit_default"]
    assert set(dag.params) == {"snapshot", "labels_snapshot", "retrain_request"}


class _Event:
    def __init__(self, extra: dict) -> None:
        self.extra = extra


def _context(run_type: str, events: list, triggered_by: str | None = None, **params) -> dict:
    """A task context: the request Asset's events as the inlet's, and for an Asset-triggered
    run the events of ``triggered_by`` (default: the request Asset) as the triggering ones."""
    from types import SimpleNamespace

    from airflow.sdk import Asset

    asset = retrain_request_asset("credit_default")
    trigger = asset if triggered_by is None else Asset(name=triggered_by)
    return {
        "dag_run": SimpleNamespace(run_type=run_type),
        "params": params,
        "inlet_events": {asset: events},
        "triggering_asset_events": {trigger: events} if run_type == "asset_triggered" else {},
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
    asset = retrain_request_asset("credit_default")
    events = [_Event({"request_id": 1}), _Event({"request_id": 2})]
    params = {} if param is None else {"retrain_request": param}
    assert train._request(_context(run_type, events, **params), asset) == expected


def test_a_run_another_asset_triggered_acts_on_no_request() -> None:
    """A hand-written DAG scheduled on a dataset Asset trains without a request."""
    asset = retrain_request_asset("credit_default")
    events = [_Event({"request_id": 1})]
    context = _context("asset_triggered", events, triggered_by="credit_default.features")
    assert train._request(context, asset) == {}


def test_train_dag_asked_for_the_latest_request_when_none_exists_fails() -> None:
    asset = retrain_request_asset("credit_default")
    with pytest.raises(ValueError, match="no retrain-request/credit_default event"):
        train._request(_context("manual", [], retrain_request="latest"), asset)


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
    assert train.skips_when_data_short(run_type, requested=requested) is skips
