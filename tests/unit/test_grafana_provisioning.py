"""Grafana's provisioning files validate (infra/grafana): required keys, every data source a
dashboard or alert rule names exists, every panel has a query, every alert rule's condition
is one of its queries; the Prometheus rules and dashboards name only series the gateway and
metrics-receiver serve. (Their SQL runs against a real database in
tests/integration/test_grafana_queries.py; the PromQL against Prometheus in tests/e2e.)"""

from __future__ import annotations

import re

import yaml
from grafana_files import (
    EXPRESSIONS,
    PROVISIONING,
    alert_groups,
    dashboards,
    datasources,
    panels,
    prometheus_rules,
    promql_queries,
)
from support import ROOT


def test_the_data_sources_are_prometheus_and_mlstacks_read_only_role() -> None:
    found = {d["uid"]: d for d in datasources()}
    assert set(found) == {"prometheus", "mlstack-postgres"}
    for source in found.values():
        assert {"name", "type", "uid", "url", "access"} <= set(source), source
    assert found["prometheus"]["url"] == "http://prometheus:9090"
    pg = found["mlstack-postgres"]
    assert pg["user"] == "mlstack_grafana" and pg["jsonData"]["database"] == "mlstack"
    # the password comes from the container's environment, never from the file
    assert pg["secureJsonData"]["password"] == "$MLSTACK_GRAFANA_DB_PASSWORD"


def test_the_dashboard_provider_reads_the_folder_compose_mounts() -> None:
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "mlstack.yaml").read_text())
    (provider,) = providers["providers"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./infra/grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "./infra/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


def test_every_panel_has_a_query_on_a_provisioned_data_source() -> None:
    uids = {d["uid"] for d in datasources()}
    boards = dashboards()
    assert set(boards) == {
        "mlstack-airflow.json",
        "mlstack-gateway.json",
        "mlstack-monitoring.json",
    }
    assert len({b["uid"] for b in boards.values()}) == len(boards)
    for name, board in boards.items():
        assert {"uid", "title", "panels", "templating", "schemaVersion"} <= set(board), name
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        for panel in panels(board):
            where = f"{name}: {panel['title']}"
            assert panel["targets"], f"{where} has no query"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in uids, where
                assert target.get("rawSql") or target.get("expr"), f"{where}: an empty query"
                assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), where
        for var in board["templating"]["list"]:
            assert var["datasource"]["uid"] in uids, f"{name}: variable {var['name']}"


def test_the_monitoring_dashboard_shows_what_the_issue_lists() -> None:
    """Per use case: drift, estimated vs realised with the bar, label coverage, business
    value, the rollout's split and decisions; gateway and Airflow boards beside it."""
    titles = " | ".join(p["title"].lower() for b in dashboards().values() for p in panels(b))
    for wanted in (
        "drift",
        "estimated vs realised",
        "alert bar",
        "label coverage",
        "business value",
        "traffic split",
        "rollout decisions",
        "latency percentiles",
        "errors",
        "backlog",
        "spool",
        "dag run duration",
        "failed dag runs",
    ):
        assert wanted in titles, wanted


def test_every_alert_rule_is_complete_and_its_condition_is_one_of_its_queries() -> None:
    uids = {d["uid"] for d in datasources()} | {EXPRESSIONS}
    rules = [rule for group in alert_groups() for rule in group["rules"]]
    assert {r["uid"] for r in rules} == {"mlstack-monitoring-alerts", "mlstack-retrain-requested"}
    for group in alert_groups():
        assert {"orgId", "name", "folder", "interval", "rules"} <= set(group)
    for rule in rules:
        assert {"uid", "title", "condition", "data", "noDataState", "execErrState"} <= set(rule)
        refs = [q["refId"] for q in rule["data"]]
        assert rule["condition"] in refs, rule["uid"]
        for query in rule["data"]:
            assert query["datasourceUid"] in uids, rule["uid"]
            assert query["model"]["refId"] == query["refId"], rule["uid"]
            if query["datasourceUid"] == EXPRESSIONS:
                assert query["model"]["expression"] in refs, rule["uid"]


def _series_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (names with our prefixes)."""
    return set(re.findall(r"\b((?:mlstack_gateway|airflow)_[a-z0-9_]+)", expr))


def test_promql_names_only_series_the_gateway_and_airflow_metrics_serve() -> None:
    """Gateway names as include/mlstack/gateway writes them; Airflow's as the receiver turns
    Airflow's OpenTelemetry names into Prometheus' (a histogram in ms: _ms_bucket/_sum/_count)."""
    gateway = {
        "predictions_total", "errors_total", "refused_total", "rejected_total",
        "feedback_total", "latency_ms_bucket", "log_queue_rows", "log_spool_files",
        "log_journal_unsettled_rows", "log_writer_up", "database_up", "workers",
    }  # fmt: skip
    source = "\n".join(p.read_text() for p in (ROOT / "include/mlstack/gateway").rglob("*.py"))
    for name in gateway:
        stem = name.removesuffix("_total").removesuffix("_bucket")
        assert stem in source, f"the gateway no longer writes {name}"
    airflow = {
        "airflow_dagrun_duration_success_ms_sum", "airflow_dagrun_duration_success_ms_count",
        "airflow_dagrun_duration_success_ms_bucket", "airflow_dagrun_duration_failed_ms_count",
        "airflow_ti_failures_total", "airflow_scheduler_heartbeat_total",
        "airflow_dag_processing_import_errors",
    }  # fmt: skip
    known = {f"mlstack_gateway_{n}" for n in gateway} | airflow
    exprs = [e for _, e in promql_queries()] + [r["expr"] for r in prometheus_rules()]
    used = set().union(*(_series_names(e) for e in exprs))
    assert used <= known, sorted(used - known)
