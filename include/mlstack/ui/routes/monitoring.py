"""Monitoring pages: the summary of every use case with its details, one use case's page
(also reached from a use case's DAGs in the Airflow UI), and the same data as JSON
(``mlstack monitor show --json``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from mlstack.exceptions import MlstackError
from mlstack.monitoring import views
from mlstack.settings import get_settings
from mlstack.ui import charts, links
from mlstack.ui.deps import KnownUsecase, ReadableUsecases, templates, usecase_names

router = APIRouter(prefix="/monitoring", tags=["monitoring"])


def _overview(usecase: str) -> dict[str, Any]:
    try:
        return views.overview(usecase)
    except MlstackError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


def usecase_context(usecase: str, mlflow_ui: str) -> dict[str, Any]:
    """Everything one use case's section shows: its summary row, models with MLflow links,
    charts, alerts with their reports, policy decisions, reports, the latest rollout."""
    data = _overview(usecase)
    metrics, drift = charts.usecase_charts(usecase, data)
    rollout = data.get("rollout")
    return {
        "name": usecase,
        "summary": views.summary(usecase),
        "data": data,
        "mlflow": links.mlflow_links(mlflow_ui, usecase, data["aliases"]),
        "charts": metrics,
        "drift": drift,
        "alerts": [
            {**a, "href": links.alert_report_href(usecase, a.get("report_uri"))}
            for a in data["alerts"]
        ],
        "reports": [
            {
                "day": r["day"],
                "files": [(f, links.report_href(usecase, r["day"], f)) for f in r["files"]],
            }
            for r in data["reports"]
        ],
        "rollout": _rollout_context(rollout) if rollout is not None else None,
    }


def _rollout_context(summary: dict[str, Any]) -> dict[str, Any]:
    """The latest rollout: its summary, traffic split in words, timeline, linked decisions."""
    decisions = [
        {
            **d,
            "href": links.rollout_href(summary, d),
            "files": [
                (f, links.rollout_report_href(summary["usecase"], summary["rollout_id"], f))
                for f in d["reports"]
            ],
        }
        for d in summary["decisions"]
    ]
    linked = {**summary, "decisions": decisions}
    return {
        **linked,
        "split_text": views.split_text(summary["split"]),
        "timeline": charts.timeline(linked),
    }


def _page(request: Request, template: str, title: str, usecases: list[str]) -> HTMLResponse:
    mlflow_ui = get_settings().mlflow_ui_url
    sections = [usecase_context(name, mlflow_ui) for name in usecases]
    chart_data = {c["id"]: c for s in sections for c in s["charts"] + s["drift"]}
    return templates.TemplateResponse(
        request,
        template,
        {"title": title, "sections": sections, "chart_data": chart_data},
    )


@router.get("/", response_class=HTMLResponse)
def list_usecases(request: Request, readable: ReadableUsecases) -> HTMLResponse:
    """Every use case the caller may read: a summary row each, then its details."""
    return _page(request, "monitoring.html", "mlstack monitoring", readable)


@router.get("/api/{usecase}")
def get_overview(usecase: KnownUsecase) -> dict[str, Any]:
    """Aliases, metric series with thresholds, alerts, retrain decisions, reports, rollout."""
    return _overview(usecase)


@router.get("/dag/{dag_id}")
def redirect_dag(dag_id: str) -> RedirectResponse:
    """The Monitoring tab of a DAG: its use case's page (DAG ids are ``<usecase>__<stage>``),
    or every use case's for a DAG of none."""
    owner = next((u for u in usecase_names() if dag_id.startswith(f"{u}__")), None)
    return RedirectResponse(f"../{quote(owner)}" if owner else "../", status_code=307)


@router.get("/{usecase}", response_class=HTMLResponse)
def read_usecase(request: Request, usecase: KnownUsecase) -> HTMLResponse:
    """One use case: its summary row and details."""
    return _page(request, "usecase.html", f"{usecase} monitoring", [usecase])
