"""The monitor DAG through ``dag.test()`` on embedded backends: a calm day skips the request;
the shock day (policy: one day of estimated drop suffices) emits ``retrain-request/<usecase>``
with its evidence, the Asset the train DAG is scheduled on; the train DAG acting on that
request trains on exactly its window and tags the model with the request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from mlstack import registry
from mlstack.airflow.monitor import build_monitor
from mlstack.airflow.train import build_train
from mlstack.stages import promote, train
from monitor_helpers import ingest_days, shocked_credit
from train_helpers import build_lake, spec_variant

pytestmark = pytest.mark.integration

CALM_DAYS = 14


def _states(dr) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dr.get_task_instances()}


def test_monitor_dag_shock_day_emits_retrain_request_with_evidence(
    airflow_db, embedded_settings, credit_spec
):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    spec = shocked_credit(credit_spec, CALM_DAYS, sustained_days=1, min_fresh_labels=0)
    training = spec.training.model_dump()
    training["split"] |= {"window_days": 8}  # the request's window: 8 days before the change
    spec = spec_variant(spec, training=training)
    build_lake(spec, CALM_DAYS, embedded_settings)
    train.train(spec)
    promote.apply(spec, promote.evaluate(spec))
    dag = build_monitor(spec)
    start = spec.simulator.start

    calm = dag.test(run_conf={"day": str(start + timedelta(days=CALM_DAYS - 1))})
    assert _states(calm) == {
        "monitor": "success",
        "policy_says_retrain": "success",
        "request_retrain": "skipped",
    }

    ingest_days(spec, CALM_DAYS, CALM_DAYS, embedded_settings)
    shocked = dag.test(run_conf={"day": str(start + timedelta(days=CALM_DAYS))})
    assert _states(shocked)["request_retrain"] == "success"
    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == f"retrain-request/{spec.name}")
            .filter(AssetEvent.source_run_id == shocked.run_id)  # the session's DB is shared
            .all()
        )
        extras = [e.extra for e in events]
    assert len(extras) == 1
    assert extras[0]["decision"] == "retrain"
    assert extras[0]["root_cause"].startswith("drifted features")
    assert extras[0]["evidence"]["metric"] == "business_value_per_row"
    assert extras[0]["request_id"] is not None

    # the train DAG acting on the request (under the scheduler the Asset triggers it; a
    # dag.test() run is manual, so it names the request)
    window = extras[0]["training_window"]
    trained = build_train(spec).test(run_conf={"retrain_request": "latest"})
    assert _states(trained) == {"train": "success"}
    candidate = registry.get_alias(spec.name, "candidate")
    run = registry.client().get_run(str(candidate.run_id))
    params, tags = run.data.params, run.data.tags
    assert params["training_window"] == f"{window['start']}..{window['end']}"
    newest_label = start + timedelta(days=CALM_DAYS - 2)  # labels arrive 2 days late
    assert params["train_days"].split("..")[0] == window["start"]  # not the lake's first day
    assert window["start"] > str(start)
    assert params["holdout_days"].split("..")[1] == str(newest_label)
    assert tags["mlstack.trigger"] == "retrain-request"
    assert tags["mlstack.retrain_request.id"] == str(extras[0]["request_id"])
    assert tags["mlstack.retrain_request.root_cause"].startswith("drifted features")
    assert candidate.tags["mlstack.retrain_request.id"] == str(extras[0]["request_id"])


def test_a_range_run_monitors_each_day_in_order_and_stops_at_the_retrain_request(
    airflow_db, embedded_settings, credit_spec
):
    """``day``..``through``: each day monitored in turn (its own metrics), the summaries of
    the days before the last under ``earlier``; the run stops after the day whose decision
    is ``retrain`` and emits that day's request; the day after it is left for the next run."""
    import sqlalchemy as sa
    from mlstack import store
    from mlstack.airflow.runner import task_results

    spec = shocked_credit(credit_spec, CALM_DAYS, sustained_days=1, min_fresh_labels=0)
    build_lake(spec, CALM_DAYS, embedded_settings)
    train.train(spec)
    promote.apply(spec, promote.evaluate(spec))
    ingest_days(spec, CALM_DAYS, CALM_DAYS + 1, embedded_settings)  # the shock day, one more
    start = spec.simulator.start
    first, shock = start + timedelta(days=CALM_DAYS - 2), start + timedelta(days=CALM_DAYS)
    after = shock + timedelta(days=1)

    run = build_monitor(spec).test(run_conf={"day": str(first), "through": str(after)})
    assert _states(run)["request_retrain"] == "success"
    out = task_results(run)["monitor"]
    assert out["run_date"] == str(shock) and out["decision"] == "retrain"
    earlier = out["earlier"]
    assert [s["run_date"] for s in earlier] == [str(first), str(first + timedelta(days=1))]
    assert all(s["decision"] != "retrain" for s in earlier)
    assert task_results(run)["request_retrain"]["decision"] == "retrain"
    m = store.monitoring_metrics.c
    with store.engine(embedded_settings).connect() as conn:
        days = conn.execute(
            sa.select(m.run_date).distinct().where(m.usecase == spec.name).order_by(m.run_date)
        )
        monitored = {str(d) for d in days.scalars()}
    # realised metrics are dated by their labelled day (2 days earlier), the rest by the day
    assert {str(first), str(first + timedelta(days=1)), str(shock)} <= monitored
    assert str(after) not in monitored
