"""The pages' links: MLflow pages, report files, rollout decisions' reports.

Report links are relative to ``/mlstack/monitoring/`` (every monitoring page sits there),
so they work wherever Airflow's api-server is served from.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from mlstack.monitoring import views


def mlflow_links(ui_url: str, model: str, aliases: dict[str, int]) -> dict[str, str]:
    """MLflow UI pages of the registered model and of each aliased version ('' = no MLflow UI)."""
    if not ui_url:
        return {}
    base = f"{ui_url}/#/models/{quote(model)}"
    links = {"model": base}
    links |= {alias: f"{base}/versions/{v}" for alias, v in sorted(aliases.items())}
    return links


def report_href(usecase: str, day: str, name: str) -> str:
    """Link that streams one daily report file."""
    return f"reports/{quote(usecase)}/{quote(day)}/{quote(name)}"


def rollout_report_href(usecase: str, rollout_id: str, name: str) -> str:
    """Link that streams one rollout decision's report file."""
    return f"rollouts/{quote(usecase)}/{quote(rollout_id)}/{quote(name)}"


def rollout_href(summary: dict[str, Any], decision: dict[str, Any]) -> str | None:
    """Link to a decision's HTML report, or None when it has none (waits, stops)."""
    html_files = [f for f in decision["reports"] if f.endswith(".html")]
    if not html_files:
        return None
    return rollout_report_href(summary["usecase"], summary["rollout_id"], html_files[0])


def alert_report_href(usecase: str, report_uri: str | None) -> str | None:
    """Link to the monitoring report of an alert's run, from the lake URL the alert kept
    (``.../reports/<usecase>/<day>/monitor.html``); None when it has none of that shape."""
    found = views.alert_report(usecase, report_uri)
    return report_href(usecase, *found) if found else None
