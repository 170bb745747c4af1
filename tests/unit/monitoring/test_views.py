"""The read model: one summary row per use case, report keys only of reports that exist, and
the catalog's versions saying "schema changed" exactly when the CLI names a change."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from click.testing import CliRunner
from mlstack import lake, store
from mlstack.monitoring import views

NOW = datetime.now(UTC)
RID = "0b7c3f9e-1d2a-4c5b-8e6f-a1b2c3d4e5f6"
DAY = date(2026, 2, 14)


def _insert(settings: object, table: Any, rows: list[dict[str, Any]]) -> None:
    with store.engine(settings).begin() as conn:  # type: ignore[arg-type]
        conn.execute(table.insert(), rows)


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
    _insert(embedded_settings, store.monitoring_metrics, [_metric(earlier), _metric(DAY)])
    _insert(
        embedded_settings,
        store.monitoring_alerts,
        [_alert(earlier, "quality", "old"), _alert(DAY, "drift", "2 drifted feature(s): income")],
    )
    _insert(
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
    _insert(embedded_settings, store.rollouts, [ro])
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
    _insert(
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
    _insert(
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
    _insert(
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
    rows = {line.split()[1]: line for line in out.output.splitlines() if "│ v" in line}
    assert "none" in rows["v2"] and "+region" in rows["v3"] and "initial" in rows["v1"]
    assert views.catalog_versions("diabetes") == []
