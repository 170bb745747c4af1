"""Prometheus in the e2e stack (profile `metrics`), after the lifecycle test (files run in
name order; the deploy switch comes after this one): its targets — the gateway's /metrics
and metrics-receiver, which receives Airflow's OpenTelemetry metrics — are up, its alert
rules loaded and healthy, every PromQL query of the Grafana dashboards parses there, and the
ones the lifecycle's traffic and DAG runs feed return series. Grafana itself has no image
here: its provisioning is checked in tests/unit and tests/integration."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from e2e_stack import PORTS, Stack
from grafana_files import promql_queries

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

JOBS = {"gateway", "airflow", "prometheus"}
#: dashboard queries that must return series once the lifecycle test ran (the others —
#: failed runs and tasks — have series only after a failure)
FED = (
    "Predictions per second",
    "Latency percentiles",
    "Log writer backlog",
    "Spool files",
    "Writer and database up",
    "Workers",
    "Scheduler heartbeats",
    "DAG files with import errors",
    "DAG run duration, mean",
)


def _api(path: str, **params: Any) -> dict[str, Any]:
    url = f"http://127.0.0.1:{PORTS['PROMETHEUS_PORT']}/api/v1/{path}"
    answer = httpx.get(url, params=params, timeout=30)
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "success", (path, params, body)
    return body["data"]


def _health_by_job() -> dict[str, str]:
    return {t["labels"]["job"]: t["health"] for t in _api("targets")["activeTargets"]}


def test_prometheus_scrapes_the_gateway_and_airflow(stack: Stack) -> None:
    deadline = time.monotonic() + 180  # a scrape every 15 s; Airflow exports every 15 s
    health = _health_by_job()
    while time.monotonic() < deadline and not all(health.get(j) == "up" for j in JOBS):
        time.sleep(5)
        health = _health_by_job()
    if not all(health.get(j) == "up" for j in JOBS):
        stack.dump_logs(["prometheus", "metrics-receiver", "gateway"])
    assert {j: health.get(j) for j in JOBS} == dict.fromkeys(JOBS, "up"), health

    groups = {g["name"]: g for g in _api("rules")["groups"]}
    assert {"mlstack-gateway", "mlstack-airflow"} <= set(groups), sorted(groups)
    for group in groups.values():
        for rule in group["rules"]:
            assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))

    deadline = time.monotonic() + 120  # series of Airflow's next export, if not there yet
    while True:
        empty = []
        for where, expr in promql_queries():  # a query that does not parse fails _api
            found = _api("query", query=expr)["result"]
            if not found and any(title in where for title in FED):
                empty.append(where)
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(10)
    assert not empty, f"dashboard queries with no series after the lifecycle: {empty}"
