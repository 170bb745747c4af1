"""Monitoring on embedded backends: a champion trained on calm days, then the scripted shock.
Drift is found on the shocked features, metrics form a time series, reports land in the lake,
and the retrain policy alerts on drift first and asks for a retrain once evidence allows."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from mlstack import lake, store
from mlstack.stages import monitor, promote, retrain, train
from monitor_helpers import ingest_days, shocked_credit
from train_helpers import build_lake

pytestmark = pytest.mark.integration

CALM_DAYS = 14
SHOCK_DAY = 16
LAST_DAY = 22


def test_monitor_day_by_day_shock_alerts_first_then_requests_retrain(
    embedded_settings, credit_spec
):
    spec = shocked_credit(credit_spec, SHOCK_DAY)
    build_lake(spec, CALM_DAYS, embedded_settings)
    train.train(spec)
    assert promote.apply(spec, promote.evaluate(spec)).outcome == "champion"
    start = spec.simulator.start
    decisions = {}
    for i in range(CALM_DAYS, LAST_DAY + 1):  # a day lands, then it is monitored
        ingest_days(spec, i, i, embedded_settings)
        result = monitor.run(spec, start + timedelta(days=i))
        assert result.source == "lake" and result.rows > 900
        decisions[i] = retrain.evaluate(spec, result.evidence)
    story = {i: (d.decision, d.reason) for i, d in decisions.items()}

    assert all(decisions[i].decision == "none" for i in range(CALM_DAYS, SHOCK_DAY)), story
    assert decisions[SHOCK_DAY].decision == "alert", story  # drift alone: alert only
    assert set(decisions[SHOCK_DAY].evidence.as_dict()["drifted_features"][0]) >= {"column"}
    first = min(i for i, d in decisions.items() if d.decision == "retrain")
    assert first > SHOCK_DAY, story
    assert any("waiting for labels" in decisions[i].reason for i in range(SHOCK_DAY, first)), story
    request = decisions[first].request()
    assert request["root_cause"].startswith("drifted features, most drifted first: ")
    assert {"income", "debt_to_income"} & {
        d["column"] for d in request["evidence"]["drifted_features"][:2]
    }
    assert all(decisions[i].decision == "blocked" for i in range(first + 1, LAST_DAY + 1))
    assert "cooldown" in decisions[LAST_DAY].reason

    income = {d: a for d, _, a in monitor.series(spec.name, "drift_score", feature="income")}
    assert not income[start + timedelta(days=CALM_DAYS)]
    assert income[start + timedelta(days=SHOCK_DAY)]
    realised = monitor.series(spec.name, "realised_business_value_per_row")
    assert realised and realised[-1][0] == start + timedelta(days=LAST_DAY - 2)  # labels 2 d late
    keys = lake.list_keys(f"reports/{spec.name}/", embedded_settings)
    assert sum(k.endswith("monitor.html") for k in keys) == LAST_DAY + 1 - CALM_DAYS
    with store.engine(embedded_settings).connect() as conn:
        sent = conn.execute(
            sa.select(sa.func.count()).where(store.retrain_requests.c.decision == "retrain")
        ).scalar_one()
    assert sent == 1
