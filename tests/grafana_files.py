"""Grafana's provisioning (infra/grafana) read as the tests need it: data sources, dashboards,
alert rules, every SQL and PromQL query with where it stands, and the one Grafana macro
expansion the SQL queries may use (:func:`expand`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml
from support import ROOT

GRAFANA = ROOT / "infra" / "grafana"
PROVISIONING = GRAFANA / "provisioning"
DASHBOARDS = GRAFANA / "dashboards"
EXPRESSIONS = "__expr__"  # Grafana's server-side expressions (reduce, threshold, math)


def datasources() -> list[dict[str, Any]]:
    """Every provisioned data source."""
    out: list[dict[str, Any]] = []
    for path in sorted((PROVISIONING / "datasources").glob("*.yaml")):
        out += yaml.safe_load(path.read_text())["datasources"]
    return out


def dashboards() -> dict[str, dict[str, Any]]:
    """File name -> dashboard JSON."""
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A dashboard's panels that show data (rows left out, rows' nested panels included)."""
    for panel in board["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def alert_groups() -> list[dict[str, Any]]:
    """Every provisioned alert rule group."""
    out: list[dict[str, Any]] = []
    for path in sorted((PROVISIONING / "alerting").glob("*.yaml")):
        out += yaml.safe_load(path.read_text())["groups"]
    return out


def sql_queries() -> list[tuple[str, str]]:
    """(where, SQL) of every Postgres query: panels, template variables, alert rules."""
    out = []
    for name, board in dashboards().items():
        for panel in panels(board):
            for target in panel["targets"]:
                if "rawSql" in target:
                    out.append((f"{name}: {panel['title']} [{target['refId']}]", target["rawSql"]))
        for var in board["templating"]["list"]:
            if var.get("datasource", {}).get("uid") == "mlstack-postgres":
                out.append((f"{name}: variable {var['name']}", var["query"]))
    for group in alert_groups():
        for rule in group["rules"]:
            for query in rule["data"]:
                if "rawSql" in query["model"]:
                    out.append(
                        (f"alert rule {rule['uid']} [{query['refId']}]", query["model"]["rawSql"])
                    )
    return out


def promql_queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every dashboard panel's Prometheus query."""
    return [
        (f"{name}: {panel['title']} [{target['refId']}]", target["expr"])
        for name, board in dashboards().items()
        for panel in panels(board)
        for target in panel["targets"]
        if "expr" in target
    ]


def prometheus_rules() -> list[dict[str, Any]]:
    """Every rule of infra/prometheus/rules."""
    out: list[dict[str, Any]] = []
    for path in sorted((ROOT / "infra" / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            out += group["rules"]
    return out


_TIME_FILTER = re.compile(r"\$__timeFilter\(([^)]+)\)")


def expand(sql: str, usecase: str, start: str, end: str) -> str:
    """What Grafana sends Postgres for ``sql``: ``$__timeFilter(col)`` as a BETWEEN of the
    dashboard's range, ``$usecase`` quoted as its value. Any other ``$`` left is an error: a
    macro these tests do not expand is a query they do not run."""
    out = _TIME_FILTER.sub(lambda m: f"{m.group(1)} BETWEEN '{start}' AND '{end}'", sql)
    out = out.replace("$usecase", usecase.replace("'", "''"))
    if "$" in out:
        raise AssertionError(f"a Grafana macro or variable the tests cannot expand: {out}")
    return out
