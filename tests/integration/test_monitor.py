"""Monitoring on embedded backends: a champion trained on calm days, then the scripted shock.
Drift is found on the shocked features, metrics form a time series, reports land in the lake,
and the retrain policy alerts on drift first and asks for a retrain once evidence allows."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from mlstack import lake, store
from mlstack.monitoring import history
from mlstack.monitoring.bars import watched_metric
from mlstack.monitoring.compute import MetricRecord
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
    assert set(decisions[SHOCK_DAY].evidence.to_dict()["drifted_features"][0]) >= {"column"}
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

    income = {d: a for d, _, a in history.series(spec.name, "drift_score", feature="income")}
    assert not income[start + timedelta(days=CALM_DAYS)]
    assert income[start + timedelta(days=SHOCK_DAY)]
    realised = history.series(spec.name, "realised_business_value_per_row")
    assert realised and realised[-1][0] == start + timedelta(days=LAST_DAY - 2)  # labels 2 d late
    keys = lake.list_keys(f"reports/{spec.name}/", embedded_settings)
    assert sum(k.endswith("monitor.html") for k in keys) == LAST_DAY + 1 - CALM_DAYS
    with store.engine(embedded_settings).connect() as conn:
        sent = conn.execute(
            sa.select(sa.func.count()).where(store.retrain_requests.c.decision == "retrain")
        ).scalar_one()
    assert sent == 1

    # monitoring.reports: on_alert (the demo's) renders Evidently's report on alert days only
    on_alert = spec.model_copy(
        update={"monitoring": spec.monitoring.model_copy(update={"reports": "on_alert"})}
    )
    for i in (CALM_DAYS, SHOCK_DAY):
        again = monitor.run(on_alert, start + timedelta(days=i))
        assert bool(again.report_uri) == bool(again.alerts), (i, again.alerts)
        assert again.metrics[again.model_version], i  # the figures are computed either way
    assert again.alerts and again.report_uri  # the shock day

    # on_new_alert: a report when the day has an alert the day before had not (same version)
    on_new = spec.model_copy(
        update={"monitoring": spec.monitoring.model_copy(update={"reports": "on_new_alert"})}
    )
    reported, lasting = {}, []
    for i in range(SHOCK_DAY, LAST_DAY + 1):
        day = start + timedelta(days=i)
        again = monitor.run(on_new, day)
        version = again.model_version
        today = {a.signature() for a in again.alerts if a.model_version in (None, version)}
        before = history.alert_signatures(spec.name, day - timedelta(days=1), version)
        reported[i] = bool(again.report_uri)
        assert reported[i] == bool(today - before), (i, today, before)
        if today and not today - before:
            lasting.append(i)
    assert reported[SHOCK_DAY], reported  # the drift starts
    assert lasting and not any(reported[i] for i in lasting), reported  # and lasts: no repeat


def _log_gateway_day(spec, day, settings, skewed: str, share: float, shadow: bool = False) -> None:
    """Log the lake's rows of ``day`` as gateway requests: 30% to challenger v2, the rest to
    champion v1 (with ``shadow``: all to v1, and v2's shadow score of each); ``skewed`` served
    1.5x its lake value on ``share`` of the rows."""
    from datetime import UTC, datetime, time

    import numpy as np
    from mlstack import modeling, registry
    from mlstack.demo.traffic import to_records

    table = lake.catalog(settings).load_table(lake.table_identifier(spec.table_name(), settings))
    rows = table.scan(row_filter=f"application_date == '{day.isoformat()}'").to_pandas()
    served = rows.copy()
    rng = np.random.default_rng(1)
    changed = rng.random(len(served)) < share
    served.loc[changed, skewed] = served.loc[changed, skewed] * 1.5
    version = np.where(rng.random(len(served)) < 0.3, 2, 1)
    records = to_records(spec, served)
    if shadow:
        version = np.repeat([1, 2], len(served))
        served = pd.concat([served, served], ignore_index=True)
        records = records + records
    scores = np.empty(len(served))
    for v in (1, 2):
        model = registry.load_model(spec.name, v, settings)
        mine = version == v
        scores[mine], _ = modeling.predict(spec, model, modeling.model_input(spec, served[mine]))
    variant = {1: "champion", 2: "shadow" if shadow else "challenger"}
    at = datetime.combine(day, time(12), tzinfo=UTC)
    with store.engine(settings).begin() as conn:
        conn.execute(
            store.predictions.insert(),
            [
                {
                    "prediction_id": f"p-{i}",
                    "usecase": spec.name,
                    "entity_id": rec["application_id"],
                    "variant": variant[int(v)],
                    "model_version": int(v),
                    "features": rec,
                    "prediction": float(s > 0.5),
                    "score": float(s),
                    "latency_ms": 1.0,
                    "created_at": at,
                }
                for i, (rec, v, s) in enumerate(zip(records, version, scores, strict=True))
            ],
        )


def test_monitor_gateway_day_per_version_finds_skew_and_judges_the_champion_alone(
    embedded_settings, credit_spec
):
    from train_helpers import with_model

    spec = shocked_credit(credit_spec, 100)  # no shock in these days
    build_lake(spec, CALM_DAYS, embedded_settings)
    train.train(spec)
    assert promote.apply(spec, promote.evaluate(spec)).outcome == "champion"
    train.train(with_model(spec, "decision_tree", max_depth=3))  # v2, the challenger
    day = spec.simulator.start + timedelta(days=CALM_DAYS - 1)
    _log_gateway_day(spec, day, embedded_settings, skewed="income", share=0.2)
    metric = watched_metric(spec)
    # a terrible, alerting challenger point the day before: never the champion's evidence
    history.write_metrics(
        spec,
        2,
        [MetricRecord.of(f"estimated_{metric}", -1e6, alert=True, day=day - timedelta(days=1))],
        embedded_settings,
        variant="challenger",
    )

    result = monitor.run(spec, day)

    assert result.source == "gateway"
    assert {v: r["variant"] for v, r in result.versions.items()} == {
        1: "champion",
        2: "challenger",
    }
    assert result.versions[1]["rows"] + result.versions[2]["rows"] == result.rows
    assert 0.2 < result.versions[2]["rows"] / result.rows < 0.4
    stored = {}
    t = store.monitoring_metrics.c
    with store.engine(embedded_settings).connect() as conn:
        for r in conn.execute(
            sa.select(t.model_version, t.variant, t.metric, t.feature, t.value).where(
                t.run_date == day
            )
        ):
            stored[(r.model_version, r.variant, r.metric, r.feature)] = r.value
    assert stored[(1, "champion", "rows", None)] == result.versions[1]["rows"]
    assert stored[(2, "challenger", "rows", None)] == result.versions[2]["rows"]
    assert (2, "challenger", f"estimated_{metric}", None) in stored
    # skew: the served income differs from the lake's on ~20% of the ids, nothing else does
    income = stored[(1, "champion", "skew_mismatch_share", "income")]
    assert 0.15 < income < 0.25
    assert stored[(1, "champion", "skew_mismatch_share", "age")] == 0.0
    assert stored[(1, "champion", "skew_matched_ids", None)] == result.versions[1]["rows"]
    assert any(
        a.kind == "skew" and a.message.startswith("training-serving skew: income")
        for a in result.alerts
    ), result.alerts
    challenger_alerts = [a.message for a in result.alerts if a.model_version == 2]
    assert any(m.startswith("challenger v2: training-serving skew") for m in challenger_alerts)
    ev = result.evidence
    assert list(ev.skew) == ["income"] and ev.model_version == 1
    assert "training-serving skew: income" in retrain.root_cause(ev)
    assert ev.estimated == [(day, stored[(1, "champion", f"estimated_{metric}", None)])]
    # the skewed income drifts today; the challenger's alerting point yesterday is not the
    # champion's, so the champion's streak starts today (mixed series would say yesterday)
    assert ev.change_date == day
    assert history.change_date(spec.name, metric, day, embedded_settings) == day - timedelta(1)
    assert "income" in retrain.evaluate(spec, ev).request()["evidence"]["skew"]


def test_monitor_shadow_stage_gives_the_challenger_its_own_metrics(embedded_settings, credit_spec):
    """In a shadow stage every request is answered by the champion and scored by the
    challenger too: both versions get metrics on the same rows; requests are counted once."""
    from train_helpers import with_model

    spec = shocked_credit(credit_spec, 100)
    build_lake(spec, CALM_DAYS, embedded_settings)
    train.train(spec)
    assert promote.apply(spec, promote.evaluate(spec)).outcome == "champion"
    train.train(with_model(spec, "decision_tree", max_depth=3))
    day = spec.simulator.start + timedelta(days=CALM_DAYS - 1)
    _log_gateway_day(spec, day, embedded_settings, skewed="income", share=0.0, shadow=True)

    result = monitor.run(spec, day)

    assert {v: r["variant"] for v, r in result.versions.items()} == {
        1: "champion",
        2: "challenger",
    }
    assert result.versions[1]["rows"] == result.versions[2]["rows"] == result.rows > 0
    t = store.monitoring_metrics.c
    with store.engine(embedded_settings).connect() as conn:
        estimated = dict(
            conn.execute(
                sa.select(t.model_version, t.value).where(
                    t.run_date == day, t.metric == f"estimated_{watched_metric(spec)}"
                )
            ).all()
        )
    assert set(estimated) == {1, 2} and estimated[1] != estimated[2]
