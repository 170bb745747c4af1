"""The read model: series with thresholds and the retrain bar, drifted features, the rollout
summary, one summary row per use case, report keys only of reports that exist, and the
catalog's versions saying "schema changed" exactly when the CLI names a change."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner
from mlstack import lake, store
from mlstack.cli.monitor import latest_threshold
from mlstack.monitoring import views
from mlstack.monitoring.history import Point
from mlstack.monitoring.views import (
    chart_points,
    collapse_waits,
    drifted_features,
    rank_features,
    retrain_bar,
    rollout_summary,
    spec_threshold,
    split_text,
    traffic_split,
)
from monitoring_rows import NOW, RID, STAGES, insert, metric_rows, rollout_status

DAY = date(2026, 2, 14)


def _metric(day: date) -> dict[str, Any]:
    return {"usecase": "credit_default", "run_date": day, "metric": "rows", "feature": None} | {
        "variant": "champion",
        "model_version": 1,
        "value": 10.0,
        "threshold": None,
        "alert": False,
        "details": {},
        "created_at": NOW,
    }


def _alert(day: date, kind: str, message: str) -> dict[str, Any]:
    return {"usecase": "credit_default", "model_version": 1, "run_date": day, "kind": kind} | {
        "severity": "warning",
        "message": message,
        "details": {},
        "report_uri": None,
        "created_at": NOW,
    }


def _decision(day: date, decision: str, reason: str) -> dict[str, Any]:
    return {"usecase": "credit_default", "model_version": 1, "run_date": day} | {
        "decision": decision,
        "reason": reason,
        "evidence": {},
        "created_at": NOW,
    }


def test_summary_of_a_usecase_without_history_says_no_model(embedded_settings) -> None:
    assert views.summary("diabetes") == {
        "usecase": "diabetes",
        "status": "no model",
        "champion": None,
        "challenger": None,
        "last_alert": None,
        "last_decision": None,
    }


def test_summary_names_the_last_alert_and_decision_and_the_status(embedded_settings) -> None:
    earlier = date(2026, 2, 12)
    insert(embedded_settings, store.monitoring_metrics, [_metric(earlier), _metric(DAY)])
    insert(
        embedded_settings,
        store.monitoring_alerts,
        [_alert(earlier, "quality", "old"), _alert(DAY, "drift", "2 drifted feature(s): income")],
    )
    insert(
        embedded_settings,
        store.retrain_requests,
        [_decision(earlier, "alert", "drift alone"), _decision(DAY, "retrain", "dropped")],
    )

    row = views.summary("credit_default")

    assert row["status"] == "retrain requested"
    assert row["last_alert"] == {
        "day": "2026-02-14",
        "kind": "drift",
        "message": "2 drifted feature(s): income",
    }
    assert row["last_decision"] == {"day": "2026-02-14", "decision": "retrain", "reason": "dropped"}


def test_status_most_pressing_first() -> None:
    alerts = [{"day": "2026-02-14", "kind": "drift", "message": "m"}]
    retrain = [{"day": "2026-02-14", "decision": "retrain", "reason": "r"}]
    older = [{"day": "2026-02-13", "decision": "retrain", "reason": "r"}]
    assert views.status_of(DAY, alerts, retrain, True, True) == "rolling out"
    assert views.status_of(DAY, alerts, retrain, False, True) == "retrain requested"
    assert views.status_of(DAY, alerts, older, False, True) == "alert"
    assert views.status_of(DAY, [], older, False, True) == "ok"
    assert views.status_of(None, [], [], False, False) == "no model"


def test_summary_while_a_rollout_runs_says_rolling_out(embedded_settings) -> None:
    stages = [{"name": "shadow", "traffic": 0.0, "shadow": True}]
    ro = {"rollout_id": RID, "usecase": "credit_default", "champion_version": 1}
    ro |= {"challenger_version": 2, "stages": stages, "stage_index": 0, "state": "running"}
    ro |= {"started_at": NOW, "stage_started_at": NOW, "actor": "test", "ended_at": None}
    insert(embedded_settings, store.rollouts, [ro])
    assert views.summary("credit_default")["status"] == "rolling out"


def test_report_key_only_for_an_existing_report_file(embedded_settings) -> None:
    lake.write_bytes("reports/credit_default/2026-02-14/monitor.html", b"<p>", embedded_settings)
    key = "reports/credit_default/2026-02-14/monitor.html"
    assert views.report_key("credit_default", "2026-02-14", "monitor.html") == key
    assert views.report_key("credit_default", "2026-02-14", "monitor.json") is None  # not written
    assert views.report_key("credit_default", "2026-02-15", "monitor.html") is None
    assert views.report_key("credit_default", "..", "monitor.html") is None


def test_alert_report_names_the_runs_report_day_and_file() -> None:
    uri = "file:///lake/reports/credit_default/2026-02-14/monitor.html"
    assert views.alert_report("credit_default", uri) == ("2026-02-14", "monitor.html")
    assert views.alert_report("credit_default", None) is None


def _dataset_with_versions(settings: object) -> None:
    name = "credit_default"
    dataset = {"name": name, "usecase": name, "kind": "features", "owner": "risk-team"}
    dataset |= {"table_identifier": f"mlstack.{name}", "location": "file:///x", "tags": []}
    insert(
        settings,
        store.datasets,
        [dataset | {"description": "", "created_at": NOW, "updated_at": NOW}],
    )
    schema = [{"name": "age", "type": "long", "required": True, "doc": None}]
    unchanged = {"initial": False, "added": [], "removed": [], "retyped": []}
    changes = [
        {"initial": True, "added": ["age"], "removed": [], "retyped": []},
        unchanged,  # what every append records: a non-empty dict that says "nothing changed"
        unchanged | {"added": ["region"]},
    ]
    insert(
        settings,
        store.versions,
        [
            {"dataset": name, "version": v, "snapshot_id": 1000 + v, "partition": None}
            | {"operation": "append", "total_rows": 100 * v, "partition_rows": 100}
            | {"rejected_rows": 0, "schema": schema, "schema_changes": changes[v - 1]}
            | {"stats": {}, "producer": "ingest", "snapshot_at": NOW, "created_at": NOW}
            for v in (1, 2, 3)
        ],
    )
    edges = [(f"dataset:{name}@v2", "trained", "run:abc"), ("run:abc", "registered_as", "m/v1")]
    insert(
        settings,
        store.lineage,
        [
            {"source": s, "relation": r, "target": t, "details": {}, "created_at": NOW}
            for s, r, t in edges
        ],
    )


def test_catalog_versions_schema_changed_only_where_the_cli_names_a_change(
    embedded_settings,
) -> None:
    from mlstack.cli import main

    _dataset_with_versions(embedded_settings)

    (dataset,) = views.catalog_versions("credit_default")

    shown = {v["version"]: (v["schema_changed"], v["schema_change"]) for v in dataset["versions"]}
    assert shown == {1: (False, "initial"), 2: (False, "none"), 3: (True, "+region")}
    assert [m["target"] for m in dataset["models"]] == ["m/v1"]
    out = CliRunner().invoke(main, ["catalog", "show", "credit_default"], terminal_width=200)
    assert out.exit_code == 0, out.output
    rows = {
        line.split()[0]: line
        for line in out.output.splitlines()
        if re.match(r"v\d+ ", line)  # the versions table's rows
    }
    assert "none" in rows["v2"] and "+region" in rows["v3"] and "initial" in rows["v1"]
    assert views.catalog_versions("diabetes") == []


# --- series and rollouts (moved from the page tests) ----------------------------------------------


def test_rank_features_by_alert_days_then_name() -> None:
    assert rank_features([("b", 1), ("a", 1), ("c", 3), ("d", 0)]) == ["c", "a", "b", "d"]


def test_drifted_features_rank_on_the_champion_series_only(embedded_settings) -> None:
    drifted = dict(threshold=0.1, alert_from=0)
    insert(
        embedded_settings,
        store.monitoring_metrics,
        metric_rows("drift_score", [0.3], feature="income", variant="champion", **drifted)
        + metric_rows("drift_score", [0.0, 0.0], feature="age")  # the champion's (the default)
        + metric_rows("drift_score", [0.3] * 3, feature="age", variant="challenger", **drifted),
    )
    assert drifted_features("credit_default", date(2026, 2, 1)) == ["income", "age"]


def test_spec_thresholds_fill_days_that_recorded_none(credit_spec) -> None:
    assert spec_threshold(credit_spec, "drift_share") == credit_spec.monitoring.drift_share
    assert spec_threshold(credit_spec, "rows") is None
    spec = credit_spec.model_copy(
        update={
            "monitoring": credit_spec.monitoring.model_copy(
                update={"drift_thresholds": {"income": 0.2}}
            )
        }
    )
    assert spec_threshold(spec, "drift_score", "income") == 0.2
    assert spec_threshold(spec, "drift_score", "age") is None
    found = [Point(date(2026, 2, 1), 0.1, False, None), Point(date(2026, 2, 2), 0.9, True, 0.3)]
    pts = chart_points(spec, "drift_score", found, "income")
    assert [p["threshold"] for p in pts] == [0.2, 0.3]  # recorded wins over the spec
    assert latest_threshold(pts) == 0.3


def test_retrain_bar_offsets_from_the_alert_bar(credit_spec, diabetes_spec) -> None:
    def with_drops(spec: Any, alert: float, retrain: float) -> Any:
        return spec.model_copy(
            update={
                "monitoring": spec.monitoring.model_copy(update={"performance_drop": alert}),
                "retraining": spec.retraining.model_copy(update={"metric_drop": retrain}),
            }
        )

    # champion holdout 0.80: alert under 0.78 (drop 0.02), retrain under 0.75 (drop 0.05)
    assert retrain_bar(with_drops(credit_spec, 0.02, 0.05), "roc_auc", 0.78) == pytest.approx(0.75)
    # errors: champion rmse 50, alert over 53, retrain over 55
    assert retrain_bar(with_drops(diabetes_spec, 3, 5), "rmse", 53) == pytest.approx(55)
    assert retrain_bar(credit_spec, "roc_auc", None) is None


def test_chart_points_add_the_retrain_bar_only_where_it_differs(credit_spec) -> None:
    metric = "business_value_per_row"  # credit_default watches it; both drops are 25 EUR
    found = [Point(date(2026, 2, 1), 10.0, False, 5.0)]
    same = chart_points(credit_spec, f"estimated_{metric}", found)
    assert same == [{"day": "2026-02-01", "value": 10.0, "alert": False, "threshold": 5.0}]
    spec = credit_spec.model_copy(
        update={"retraining": credit_spec.retraining.model_copy(update={"metric_drop": 40})}
    )
    (point,) = chart_points(spec, f"realised_{metric}", found)
    assert point["retrain_threshold"] == pytest.approx(-10.0)
    assert "retrain_threshold" not in chart_points(spec, "drift_share", found)[0]


def test_traffic_split_per_stage_and_after_the_end() -> None:
    assert traffic_split(STAGES[1], "running") == {
        "champion": 90.0,
        "challenger": 10.0,
        "shadow": False,
    }
    assert split_text(traffic_split(STAGES[0], "running")).endswith("(challenger scores in shadow)")
    assert split_text(traffic_split(STAGES[2], "promoted")) == "champion 100% / challenger 0%"


def test_rollout_summary_oldest_first_with_waits_folded() -> None:
    summary = rollout_summary(rollout_status())
    assert summary is not None
    assert (summary["stage"], summary["split"]["challenger"], summary["state"]) == (
        "10%",
        10.0,
        "running",
    )
    steps = [(d["stage"], d["action"], d["count"]) for d in summary["decisions"]]
    assert steps == [("shadow", "wait", 2), ("shadow", "next_stage", 1), ("10%", "wait", 1)]
    assert summary["decisions"][0]["reasons"] == ["80 labelled rows"]  # the latest look's
    assert summary["decisions"][1]["reports"] == ["0-next_stage.html", "0-next_stage.json"]
    assert summary["decisions"][0]["at"] == "2026-02-12 10:00"
    assert rollout_summary({"usecase": "x", "rollout": None, "decisions": []}) is None
    waits = [{"stage_index": 0, "action": "wait"}, {"stage_index": 1, "action": "wait"}]
    assert [d["count"] for d in collapse_waits(waits)] == [1, 1]  # another stage's look
