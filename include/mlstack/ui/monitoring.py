"""The monitoring view: use cases, champion/challenger, metric charts with alert markers.

A FastAPI app the Airflow plugin mounts under ``/mlstack``. Charts are SVG drawn here from
``monitoring_metrics`` (no JavaScript, no CDN): a line per series, red dots on alert days, a
dashed line at the threshold. ``/mlstack/monitoring/api/<usecase>`` serves the same data as
``mlstack monitor show --json``.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import HTMLResponse

from mlstack.exceptions import MlstackError

router = APIRouter(prefix="/monitoring", tags=["monitoring"])

WIDTH, HEIGHT, PAD = 640, 160, 28


def svg_chart(title: str, points: list[dict[str, Any]], threshold: float | None = None) -> str:
    """An SVG line chart of ``points`` ({day, value, alert}) with alert markers."""
    values = [p["value"] for p in points if p["value"] is not None]
    if not values:
        return f'<p class="empty">{html.escape(title)}: no data yet</p>'
    lo, hi = (
        min([*values, threshold if threshold is not None else values[0]]),
        max([*values, threshold if threshold is not None else values[0]]),
    )
    span = (hi - lo) or 1.0
    n = max(len(points) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return PAD + i * (WIDTH - 2 * PAD) / n, HEIGHT - PAD - (v - lo) / span * (HEIGHT - 2 * PAD)

    line = " ".join(
        f"{x:.1f},{y:.1f}"
        for i, p in enumerate(points)
        if p["value"] is not None
        for x, y in [xy(i, p["value"])]
    )
    dots = "".join(
        f'<circle class="alert" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#d33">'
        f"<title>{html.escape(p['day'])}: {p['value']:.4g} (alert)</title></circle>"
        for i, p in enumerate(points)
        if p["alert"] and p["value"] is not None
        for x, y in [xy(i, p["value"])]
    )
    limit = ""
    if threshold is not None:
        _, ty = xy(0, threshold)
        limit = (
            f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{ty:.1f}" y2="{ty:.1f}" '
            'stroke="#999" stroke-dasharray="4 3"/>'
        )
    return (
        f"<figure><figcaption>{html.escape(title)} — latest {values[-1]:.4g}</figcaption>"
        f'<svg role="img" aria-label="{html.escape(title)}" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}">{limit}'
        f'<polyline fill="none" stroke="#2a6" stroke-width="2" points="{line}"/>{dots}'
        f'<text x="{PAD}" y="{HEIGHT - 6}" font-size="11">{html.escape(points[0]["day"])}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 6}" font-size="11" text-anchor="end">'
        f"{html.escape(points[-1]['day'])}</text></svg></figure>"
    )


def _overview(usecase: str) -> dict[str, Any]:
    from mlstack.cli.monitor import overview

    try:
        return overview(usecase)
    except MlstackError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


@router.get("/api/{usecase}")
def get_overview(usecase: str) -> dict[str, Any]:
    """Aliases, metric series, alerts and retrain decisions of one use case."""
    return _overview(usecase)


@router.get("/", response_class=HTMLResponse)
def list_usecases() -> str:
    """Every use case with its champion/challenger and its charts."""
    from mlstack.settings import get_settings
    from mlstack.specs import discover

    settings = get_settings()
    specs, _ = discover(settings.usecases_dir)
    mlflow = settings.mlflow_tracking_uri
    sections = []
    for name in sorted(specs):
        data = _overview(name)
        aliases = ", ".join(f"{k} v{v}" for k, v in sorted(data["aliases"].items())) or "no model"
        charts = "".join(svg_chart(m, pts) for m, pts in data["series"].items() if m != "rows")
        alerts = "".join(
            f"<li class='{a['severity']}'>{a['day']} {html.escape(a['kind'])}: "
            f"{html.escape(a['message'])}</li>"
            for a in data["alerts"]
        )
        decisions = "".join(
            f"<li>{d['day']} <b>{d['decision']}</b>: {html.escape(d['reason'])}</li>"
            for d in data["decisions"]
        )
        links = f"<a href='api/{name}'>JSON</a>"
        if mlflow.startswith("http"):
            links += f" · <a href='{html.escape(mlflow)}/#/models/{name}'>MLflow</a>"
        sections.append(
            f"<section id='{name}'><h2>{name}</h2><p>{html.escape(aliases)} · {links}</p>"
            f"{charts}<h3>Alerts</h3><ul>{alerts or '<li>none</li>'}</ul>"
            f"<h3>Retrain policy</h3><ul>{decisions or '<li>no decision yet</li>'}</ul></section>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>mlstack monitoring</title>"
        "<style>body{font-family:sans-serif;margin:1.5em}figure{margin:.5em 0}"
        "li.critical{color:#b00}li.warning{color:#a60}</style></head><body>"
        f"<h1>mlstack monitoring</h1>{''.join(sections) or '<p>No use cases.</p>'}</body></html>"
    )


def create_app() -> FastAPI:
    """The app the Airflow plugin mounts."""
    app = FastAPI(title="mlstack", description="mlstack pages inside the Airflow UI")
    app.include_router(router)
    return app
