"""The monitoring view: use cases, champion/challenger, metric charts, reports, catalog.

A FastAPI app the Airflow plugin mounts under ``/mlstack``. Charts are SVG drawn here from
``monitoring_metrics`` (no JavaScript, no CDN): a line per series on a y axis labelled with
its range, red dots on alert days, a dashed line at the threshold each day was judged against
(and, on the watched performance metric, the retrain policy's bar when it differs). The
latest rollout is a timeline of its stages and decisions. ``/mlstack/monitoring/api/<usecase>``
serves the same data as ``mlstack monitor show --json``; ``/mlstack/monitoring/reports/...``
streams the Evidently reports and ``/mlstack/monitoring/rollouts/...`` the rollout decisions'
reports from the lake (local folder or S3); ``/mlstack/catalog/<usecase>`` shows the use
case's dataset versions with their lineage.

Authentication is not decided here: :func:`create_app` takes the dependencies every route
needs (the plugin passes Airflow's own, from :mod:`mlstack.airflow.ui_auth`) and sends a
browser that is refused for want of a valid login to Airflow's login page.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlstack.exceptions import MlstackError

router = APIRouter(prefix="/monitoring", tags=["monitoring"])
catalog_router = APIRouter(prefix="/catalog", tags=["catalog"])

WIDTH, HEIGHT, PAD = 640, 160, 28
#: The left margin of a chart: room for the y axis's labels.
AXIS = 50
#: Airflow's login entry point (it redirects to the auth manager's login page, then ``next``).
LOGIN_PATH = "/api/v2/auth/login"
#: Refusals a new login cures: no token, an expired one (401), one Airflow cannot verify (403).
RELOGIN_DETAILS = frozenset({"Invalid JWT token"})
#: Evidently's HTML runs its own scripts: give it an opaque origin, away from Airflow's.
REPORT_CSP = "sandbox allow-scripts allow-popups"
CHUNK = 1 << 20
#: MLflow opens outside Airflow's iframe (the UI shows plugin pages in one).
NEW_TAB = "target='_blank' rel='noopener'"
STYLE = (
    "body{font-family:sans-serif;margin:1.5em}figure{margin:.5em 0}"
    "li.critical{color:#b00}li.warning{color:#a60}.grid{display:flex;flex-wrap:wrap;gap:0 1em}"
    ".badge{display:inline-block;padding:.1em .5em;border-radius:.7em;margin-right:.4em;"
    "background:#e6f2ea;border:1px solid #2a6}.badge.challenger{background:#fdf3e3;"
    "border-color:#c80}.legend{font-size:.85em;color:#555}nav.links a{margin-right:.8em}"
    "ol.decisions{font-size:.9em}"
)


# --- drawing ------------------------------------------------------------------------------------


def _limit_line(
    points: list[dict[str, Any]], key: str, xy: Any, css: str, colour: str, width: int = WIDTH
) -> tuple[str, float | None]:
    """A dashed line through the per-day values of ``key`` (and its latest value)."""
    coords = [xy(p, p[key]) for p in points if p.get(key) is not None]
    if not coords:
        return "", None
    if len(coords) == 1:
        coords = [(AXIS, coords[0][1]), (width - PAD, coords[0][1])]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    latest = next(p[key] for p in reversed(points) if p.get(key) is not None)
    return (
        f'<polyline class="{css}" fill="none" stroke="{colour}" stroke-width="1.5" '
        f'stroke-dasharray="5 3" points="{line}"><title>{css}: {latest:.4g}</title></polyline>',
        latest,
    )


def _polyline(points: list[dict[str, Any]], xy: Any, css: str, colour: str) -> str:
    line = " ".join(
        f"{x:.1f},{y:.1f}" for p in points if p["value"] is not None for x, y in [xy(p, p["value"])]
    )
    return (
        f'<polyline class="{css}" fill="none" stroke="{colour}" stroke-width="2" points="{line}"/>'
    )


def tick_label(value: float) -> str:
    """A y-axis label short enough for the chart's left margin."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def y_axis(lo: float, hi: float, threshold: float | None, y_of: Any) -> str:
    """The chart's y scale at its left edge: a line with the lowest and highest value drawn
    and the latest threshold labelled where they sit (the threshold only where its label
    would not overlap another; ``y_of`` maps a value to its y)."""
    marks = [(lo, "min")] if lo == hi else [(lo, "min"), (hi, "max")]
    if threshold is not None and all(abs(y_of(threshold) - y_of(v)) >= 11 for v, _ in marks):
        marks.append((threshold, "threshold"))
    top, bottom = y_of(hi), y_of(lo)
    ticks = "".join(
        f'<line x1="{AXIS - 4}" x2="{AXIS}" y1="{y:.1f}" y2="{y:.1f}" stroke="#999"/>'
        f'<text class="tick {css}" x="{AXIS - 6}" y="{y + 4:.1f}" font-size="10" '
        f'text-anchor="end" fill="{"#777" if css == "threshold" else "#333"}">'
        f"{tick_label(v)}</text>"
        for v, css in marks
        for y in [y_of(v)]
    )
    return (
        f'<g class="axis"><line x1="{AXIS}" x2="{AXIS}" y1="{top:.1f}" y2="{bottom:.1f}" '
        f'stroke="#999"/>{ticks}</g>'
    )


def svg_chart(
    title: str,
    points: list[dict[str, Any]],
    threshold: float | None = None,
    *,
    challenger: list[dict[str, Any]] | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """An SVG line chart of ``points`` ({day, value, alert[, threshold, retrain_threshold]})
    on a labelled y axis, with alert markers and dashed threshold lines (per-day ones, else
    ``threshold``); the
    ``challenger``'s points of the same metric, if any, as a second line on the same days."""
    if threshold is not None and not any(p.get("threshold") is not None for p in points):
        points = [{**p, "threshold": threshold} for p in points]
    other = challenger or []
    values = [p["value"] for p in points if p["value"] is not None]
    if not values:
        return f'<p class="empty">{html.escape(title)}: no data yet</p>'
    limits = [
        p[k] for p in points for k in ("threshold", "retrain_threshold") if p.get(k) is not None
    ]
    seen = values + limits + [p["value"] for p in other if p["value"] is not None]
    lo, hi = min(seen), max(seen)
    span = (hi - lo) or 1.0
    days = sorted({p["day"] for p in points + other})
    index = {d: i for i, d in enumerate(days)}
    n = max(len(days) - 1, 1)

    def y_of(v: float) -> float:
        return height - PAD - (v - lo) / span * (height - 2 * PAD)

    def xy(p: dict[str, Any], v: float) -> tuple[float, float]:
        return AXIS + index[p["day"]] * (width - AXIS - PAD) / n, y_of(v)

    dots = "".join(
        f'<circle class="alert" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#d33">'
        f"<title>{html.escape(p['day'])}: {p['value']:.4g} (alert)</title></circle>"
        for p in points
        if p["alert"] and p["value"] is not None
        for x, y in [xy(p, p["value"])]
    )
    limit, latest_limit = _limit_line(points, "threshold", xy, "threshold", "#777", width)
    retrain, latest_retrain = _limit_line(points, "retrain_threshold", xy, "retrain", "#c80", width)
    caption = f"{html.escape(title)} — latest {values[-1]:.4g}"
    if latest_limit is not None:
        caption += f" · threshold {latest_limit:.4g}"
    if latest_retrain is not None:
        caption += f" · retrain bar {latest_retrain:.4g}"
    second = ""
    if any(p["value"] is not None for p in other):
        second = _polyline(other, xy, "challenger", "#36c")
        latest = next(p["value"] for p in reversed(other) if p["value"] is not None)
        caption += f" · challenger {latest:.4g}"
    return (
        f"<figure><figcaption>{caption}</figcaption>"
        f'<svg role="img" aria-label="{html.escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{y_axis(lo, hi, latest_limit, y_of)}{limit}{retrain}'
        f"{_polyline(points, xy, 'champion', '#2a6')}{second}{dots}"
        f'<text x="{AXIS}" y="{height - 6}" font-size="11">{html.escape(days[0])}</text>'
        f'<text x="{width - PAD}" y="{height - 6}" font-size="11" text-anchor="end">'
        f"{html.escape(days[-1])}</text></svg></figure>"
    )


def svg_bars(title: str, bars: list[tuple[str, float]], *, width: int = WIDTH) -> str:
    """A horizontal bar chart (label, value), e.g. rows per dataset version."""
    if not bars:
        return f'<p class="empty">{html.escape(title)}: none yet</p>'
    top = max(v for _, v in bars) or 1.0
    row, label_w = 18, 90
    body = "".join(
        f'<text x="0" y="{i * row + 13}" font-size="11">{html.escape(label)}</text>'
        f'<rect class="bar" x="{label_w}" y="{i * row + 3}" height="{row - 6}" '
        f'width="{max(1.0, v / top * (width - label_w - 70)):.1f}" fill="#2a6">'
        f"<title>{html.escape(label)}: {v:,.0f}</title></rect>"
        f'<text x="{label_w + v / top * (width - label_w - 70) + 4:.1f}" y="{i * row + 13}" '
        f'font-size="11">{v:,.0f}</text>'
        for i, (label, v) in enumerate(bars)
    )
    return (
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<svg role="img" aria-label="{html.escape(title)}" width="{width}" '
        f'height="{len(bars) * row + 4}">{body}</svg></figure>'
    )


#: Decision markers: colour per rollout action.
ACTION_COLOURS = {
    "next_stage": "#36c",
    "promote": "#2a6",
    "rollback": "#d33",
    "halt": "#d33",
    "stop": "#777",
    "wait": "#bbb",
}
#: Stage boxes: passed, current (running), where it ended per final state, not reached.
STAGE_FILLS = {"passed": "#e6f2ea", "current": "#fdf3e3", "promoted": "#bfe3cb"}
STAGE_FILLS |= {"rolled_back": "#f6d0d0", "halted": "#f6d0d0", "stopped": "#e4e4e4"}


def stage_fill(i: int, summary: dict[str, Any]) -> str:
    """The colour of stage ``i``'s box: passed, current, the final state's, or not reached."""
    if i < summary["stage_index"]:
        return STAGE_FILLS["passed"]
    if i > summary["stage_index"]:
        return "#fafafa"
    return STAGE_FILLS.get(summary["state"], STAGE_FILLS["current"])


def _decision_marker(d: dict[str, Any], x: float, y: float, href: str | None) -> str:
    """One decision as a dot, linked to its HTML report when it has one."""
    tip = html.escape(f"{d['at']} {d['action']}: " + "; ".join(d["reasons"]))
    colour = ACTION_COLOURS.get(d["action"], "#777")
    dot = (
        f'<circle class="decision {html.escape(d["action"])}" cx="{x:.1f}" cy="{y:.1f}" r="6" '
        f'fill="{colour}"><title>{tip}</title></circle>'
    )
    return f'<a href="{html.escape(href)}">{dot}</a>' if href else dot


def svg_rollout(summary: dict[str, Any], *, width: int = WIDTH) -> str:
    """The rollout as a timeline: its stages as boxes left to right (passed, current or where
    it ended, not reached), the state at the end, and under each stage its decisions in order
    as dots coloured by action, each linked to its report."""
    stages = summary["stages"]
    end_w = 110
    box = (width - end_w) / len(stages)
    parts = []
    for i, name in enumerate(stages):
        x = i * box
        parts.append(
            f'<rect class="stage" x="{x + 2:.1f}" y="4" width="{box - 4:.1f}" height="26" '
            f'rx="4" fill="{stage_fill(i, summary)}" stroke="#999"/>'
            f'<text x="{x + box / 2:.1f}" y="21" font-size="12" text-anchor="middle">'
            f"{html.escape(name)}</text>"
        )
        mine = [d for d in summary["decisions"] if d["stage_index"] == i]
        for j, d in enumerate(mine):
            dx = x + box * (j + 1) / (len(mine) + 1)
            parts.append(_decision_marker(d, dx, 46, rollout_href(summary, d)))
    parts.append(
        f'<text class="state" x="{width - end_w + 8}" y="21" font-size="12" font-weight="bold">'
        f"{html.escape(summary['state'])}</text>"
    )
    return (
        f'<svg role="img" aria-label="rollout timeline" class="rollout" width="{width}" '
        f'height="60" viewBox="0 0 {width} 60">{"".join(parts)}</svg>'
    )


# --- links --------------------------------------------------------------------------------------


def mlflow_links(ui_url: str, model: str, aliases: dict[str, int]) -> dict[str, str]:
    """MLflow UI pages of the registered model and of each aliased version ('' = no MLflow UI)."""
    if not ui_url:
        return {}
    base = f"{ui_url}/#/models/{quote(model)}"
    links = {"model": base}
    links |= {alias: f"{base}/versions/{v}" for alias, v in sorted(aliases.items())}
    return links


def report_href(usecase: str, day: str, name: str) -> str:
    """Link (relative to ``/mlstack/monitoring/``) that streams one report file."""
    return f"reports/{quote(usecase)}/{quote(day)}/{quote(name)}"


def rollout_report_href(usecase: str, rollout_id: str, name: str) -> str:
    """Link (relative to ``/mlstack/monitoring/``) that streams one rollout report file."""
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
    # lazy: the plugin loads in every Airflow process, the read model pulls pandas
    from mlstack.monitoring.views import alert_report

    found = alert_report(usecase, report_uri)
    return None if found is None else report_href(usecase, *found)


def login_redirect(status_code: int, detail: Any, accept: str, url: str) -> str | None:
    """Where a browser refused for want of a valid login goes: Airflow's login, then back to
    ``url``. None for API clients (they get the 401/403) and for real permission refusals."""
    if "text/html" not in accept:
        return None
    if status_code == 401 or (status_code == 403 and detail in RELOGIN_DETAILS):
        return f"{LOGIN_PATH}?{urlencode({'next': url})}"
    return None


# --- data ---------------------------------------------------------------------------------------


def _overview(usecase: str) -> dict[str, Any]:
    # lazy: the plugin loads in every Airflow process, the read model pulls pandas
    from mlstack.monitoring.views import overview

    try:
        return overview(usecase)
    except MlstackError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


def _known_usecase(usecase: str) -> None:
    from mlstack.settings import get_settings
    from mlstack.specs import discover

    specs, _ = discover(get_settings().usecases_dir)
    if usecase not in specs:
        raise HTTPException(status_code=404, detail=f"no use case {usecase!r}")


# --- pages --------------------------------------------------------------------------------------


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )


def _models_html(data: dict[str, Any], mlflow: dict[str, str]) -> str:
    """Champion/challenger badges, each linked to its MLflow version page."""
    badges = []
    for alias in ("champion", "challenger", "candidate"):
        version = data["aliases"].get(alias)
        if version is None:
            continue
        text = f"{alias} v{version}"
        if alias in mlflow:
            text = f"<a href='{html.escape(mlflow[alias])}' {NEW_TAB}>{text}</a>"
        badges.append(f"<span class='badge {alias}'>{text}</span>")
    return "".join(badges) or "<span class='badge none'>no model yet</span>"


def _links_html(name: str, data: dict[str, Any], mlflow: dict[str, str]) -> str:
    links = [f"<a class='catalog' href='../catalog/{quote(name)}'>catalog</a>"]
    if "model" in mlflow:
        href = html.escape(mlflow["model"])
        links.append(f"<a class='mlflow' href='{href}' {NEW_TAB}>MLflow model</a>")
    links.append(f"<a href='api/{quote(name)}'>JSON</a>")
    reports = "".join(
        f"<li>{html.escape(r['day'])}: "
        + " ".join(
            f"<a class='report' href='{report_href(name, r['day'], f)}'>"
            f"{'HTML' if f.endswith('.html') else 'JSON'}</a>"
            for f in r["files"]
        )
        + "</li>"
        for r in data["reports"]
    )
    return (
        f"<nav class='links'>{' '.join(links)}</nav>"
        f"<h3>Latest reports</h3><ul class='reports'>{reports or '<li>none yet</li>'}</ul>"
    )


def _section_html(name: str, data: dict[str, Any], mlflow_ui: str) -> str:
    """One use case: models, links, charts, feature drift, alerts, retrain decisions, the
    latest rollout."""
    mlflow = mlflow_links(mlflow_ui, name, data["aliases"])
    rival = data.get("challenger_series", {})
    charts = "".join(
        svg_chart(m, pts, challenger=rival.get(m))
        for m, pts in data["series"].items()
        if m != "rows"
    )
    drift = "".join(
        svg_chart(f"drift {f}", pts, width=WIDTH // 2 - 10, height=120)
        for f, pts in data["feature_drift"].items()
    )
    alerts = "".join(_alert_html(name, a) for a in data["alerts"])
    decisions = "".join(
        f"<li>{d['day']} <b>{html.escape(d['decision'])}</b>: {html.escape(d['reason'])}</li>"
        for d in data["decisions"]
    )
    return (
        f"<section id='{html.escape(name)}'><h2>{html.escape(name)}</h2>"
        f"<p class='models'>{_models_html(data, mlflow)}</p>{_links_html(name, data, mlflow)}"
        "<p class='legend'>green: champion · blue: challenger · red dot: alert · "
        "grey dashes: alert threshold · orange dashes: retrain bar</p>"
        f"{charts}<h3>Feature drift (most drifted first)</h3>"
        f"<div class='grid'>{drift or '<p>no drift scores yet</p>'}</div>"
        f"<h3>Alerts</h3><ul>{alerts or '<li>none</li>'}</ul>"
        f"<h3>Retrain policy</h3><ul>{decisions or '<li>no decision yet</li>'}</ul>"
        f"{_rollout_html(data.get('rollout'))}</section>"
    )


def _alert_html(name: str, alert: dict[str, Any]) -> str:
    """One alert as a list item, linked to the report of the run that raised it."""
    href = alert_report_href(name, alert.get("report_uri"))
    link = f" <a class='alert-report' href='{html.escape(href)}'>report</a>" if href else ""
    return (
        f"<li class='{html.escape(alert['severity'])}'>{alert['day']} "
        f"{html.escape(alert['kind'])}: {html.escape(alert['message'])}{link}</li>"
    )


def _rollout_decision_html(summary: dict[str, Any], d: dict[str, Any]) -> str:
    """One rollout decision: when, stage, action (×looks), reasons, links to its reports."""
    links = " ".join(
        f"<a class='rollout-report' href='"
        f"{html.escape(rollout_report_href(summary['usecase'], summary['rollout_id'], f))}'>"
        f"{'HTML' if f.endswith('.html') else 'JSON'}</a>"
        for f in d["reports"]
    )
    looks = f" ×{d['count']}" if d["count"] > 1 else ""
    reasons = "; ".join(d["reasons"])
    return (
        f"<li class='decision {html.escape(d['action'])}'>{html.escape(d['at'])} · "
        f"{html.escape(d['stage'])} · <b>{html.escape(d['action'])}</b>{looks}: "
        f"{html.escape(reasons)} {links}</li>"
    )


def _rollout_html(summary: dict[str, Any] | None) -> str:
    """The latest rollout: versions, state, stage, traffic split, its timeline and decisions."""
    # lazy: the plugin loads in every Airflow process, the read model pulls pandas
    from mlstack.monitoring.views import split_text

    if summary is None:
        return "<h3>Rollout</h3><p class='rollout none'>no rollout yet</p>"
    n = len(summary["stages"])
    ended = f" · ended {html.escape(summary['ended_at'])}" if summary["ended_at"] else ""
    decisions = "".join(_rollout_decision_html(summary, d) for d in summary["decisions"])
    return (
        f"<h3>Rollout</h3><div class='rollout' data-state='{html.escape(summary['state'])}'>"
        f"<p>challenger v{summary['challenger_version']} vs champion "
        f"v{summary['champion_version']} · <b>{html.escape(summary['state'])}</b> · stage "
        f"{html.escape(summary['stage'])} ({summary['stage_index'] + 1}/{n}) · traffic "
        f"{html.escape(split_text(summary['split']))} · started "
        f"{html.escape(summary['started_at'])}{ended}</p>{svg_rollout(summary)}"
        "<p class='legend'>dots: decisions per stage (blue: next stage · green: promote · "
        "red: roll back/halt · grey: wait/stop); a dot with a report links to it</p>"
        f"<ol class='decisions'>{decisions or '<li>no decision yet</li>'}</ol></div>"
    )


@router.get("/api/{usecase}")
def get_overview(usecase: str) -> dict[str, Any]:
    """Aliases, metric series with thresholds, alerts, retrain decisions, reports."""
    return _overview(usecase)


@router.get("/", response_class=HTMLResponse)
def list_usecases() -> str:
    """Every use case with its champion/challenger, links and charts."""
    from mlstack.settings import get_settings
    from mlstack.specs import discover

    settings = get_settings()
    specs, _ = discover(settings.usecases_dir)
    sections = "".join(
        _section_html(name, _overview(name), settings.mlflow_ui_url) for name in sorted(specs)
    )
    return _page(
        "mlstack monitoring", f"<h1>mlstack monitoring</h1>{sections or '<p>No use cases.</p>'}"
    )


def _stream(key: str) -> Iterator[bytes]:
    """A lake object in chunks (local folder or S3)."""
    from mlstack import lake

    fs, root = lake.filesystem()
    with fs.open_input_stream(f"{root}/{key}") as f:
        while chunk := f.read(CHUNK):
            yield bytes(chunk)


def _serve_report(key: str | None, shown: str) -> Response:
    """Stream a report file from the lake: HTML sandboxed (its own opaque origin), JSON as is;
    404 when ``key`` is None (not a report's path) or nothing is there."""
    from mlstack import lake

    if key is None or not lake.list_keys(key):
        raise HTTPException(status_code=404, detail=f"no report {shown}")
    if key.endswith(".html"):
        headers = {"Content-Security-Policy": REPORT_CSP}
        return StreamingResponse(_stream(key), media_type="text/html", headers=headers)
    return StreamingResponse(_stream(key), media_type="application/json")


@router.get("/reports/{usecase}/{day}/{name}")
def get_report(usecase: str, day: str, name: str) -> Response:
    """One monitoring report file, streamed from ``reports/<usecase>/<day>/`` in the lake."""
    # lazy: the plugin loads in every Airflow process, the read model pulls pandas
    from mlstack.monitoring.views import report_key

    _known_usecase(usecase)
    return _serve_report(report_key(usecase, day, name), f"reports/{usecase}/{day}/{name}")


@router.get("/rollouts/{usecase}/{rollout_id}/{name}")
def get_rollout_report(usecase: str, rollout_id: str, name: str) -> Response:
    """One rollout decision's report file, streamed from
    ``reports/rollouts/<usecase>/<rollout_id>/<stage>-<action>.{html,json}`` in the lake."""
    # lazy: the plugin loads in every Airflow process, the read model pulls pandas
    from mlstack.monitoring.views import rollout_report_key

    _known_usecase(usecase)
    key = rollout_report_key(usecase, rollout_id, name)
    return _serve_report(key, f"reports/rollouts/{usecase}/{rollout_id}/{name}")


# --- catalog ------------------------------------------------------------------------------------


def lineage_lines(dataset: dict[str, Any]) -> list[str]:
    """Lineage edges as ``source -relation-> target`` lines, dataset first then models."""
    edges = [*dataset["lineage"], *dataset["models"]]
    return [f"{e['source']} -{e['relation']}-> {e['target']}" for e in edges]


def _dataset_html(ds: dict[str, Any]) -> str:
    meta, versions = ds["dataset"], ds["versions"]
    bars = [(f"v{v['version']} {v['partition'] or ''}".strip(), v["total_rows"]) for v in versions]
    rejected = [(f"v{v['version']}", v["rejected_rows"]) for v in versions if v["rejected_rows"]]
    items = "".join(
        f"<li>v{v['version']} · snapshot {v['snapshot_id']} · {html.escape(v['operation'])}"
        f" · {html.escape(str(v['snapshot_at'])[:19])}"
        + (" · <b>schema changed</b>" if v["schema_changed"] else "")
        + "</li>"
        for v in versions
    )
    lineage = "".join(f"<li><code>{html.escape(line)}</code></li>" for line in lineage_lines(ds))
    return (
        f"<section id='{html.escape(meta['name'])}' class='dataset'>"
        f"<h2>{html.escape(meta['name'])}</h2><p>{html.escape(meta['kind'])} · owner "
        f"{html.escape(meta['owner'])} · <code>{html.escape(meta['table_identifier'])}</code></p>"
        f"{svg_bars('total rows per version (newest first)', bars)}"
        f"{svg_bars('rejected rows per version', rejected) if rejected else ''}"
        f"<h3>Versions</h3><ul>{items or '<li>none</li>'}</ul>"
        f"<h3>Lineage</h3><ul class='lineage'>{lineage or '<li>none</li>'}</ul></section>"
    )


@catalog_router.get("/{usecase}", response_class=HTMLResponse)
def catalog_page(usecase: str) -> str:
    """The use case's dataset versions with lineage (rows as bars), linked from monitoring."""
    # lazy: the plugin loads in every Airflow process, the read model pulls pandas
    from mlstack.monitoring.views import catalog_versions

    _known_usecase(usecase)
    body = "".join(_dataset_html(ds) for ds in catalog_versions(usecase))
    return _page(
        f"{usecase} catalog",
        f"<h1>{html.escape(usecase)} — data catalog</h1>"
        f"<p><a href='../monitoring/#{quote(usecase)}'>back to monitoring</a></p>"
        f"{body or '<p>No dataset recorded yet.</p>'}",
    )


# --- the app ------------------------------------------------------------------------------------


async def _refused(request: Request, exc: Exception) -> Response:
    """Send a browser without a valid login to Airflow's login page; others get the error."""
    assert isinstance(exc, StarletteHTTPException)
    target = login_redirect(
        exc.status_code, exc.detail, request.headers.get("accept", ""), str(request.url)
    )
    if target is not None:
        return RedirectResponse(target, status_code=303)
    return await http_exception_handler(request, exc)


def create_app(dependencies: Sequence[Any] = ()) -> FastAPI:
    """The app the Airflow plugin mounts; every route runs ``dependencies`` (the auth check)."""
    app = FastAPI(title="mlstack", description="mlstack pages inside the Airflow UI")
    app.include_router(router, dependencies=list(dependencies))
    app.include_router(catalog_router, dependencies=list(dependencies))
    app.add_exception_handler(StarletteHTTPException, _refused)
    return app
