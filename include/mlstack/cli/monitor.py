"""Monitoring commands: ``mlstack monitor show`` (series as sparklines, alerts, retrain
decisions) and ``mlstack monitor run`` (one day, as the DAG does)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import click
import sqlalchemy as sa

from mlstack.specs import UseCaseSpec, get_spec

if TYPE_CHECKING:
    from mlstack.stages.monitor import Point

BARS = "▁▂▃▄▅▆▇█"
CHAMPION, CHALLENGER = "champion", "challenger"
#: The files of one monitoring report under ``reports/<usecase>/<day>/`` in the lake.
REPORT_FILES = ("monitor.html", "monitor.json")


def sparkline(values: list[float | None]) -> str:
    """Values as block characters (missing values as spaces)."""
    present = [v for v in values if v is not None]
    if not present:
        return ""
    lo, hi = min(present), max(present)
    span = hi - lo or 1.0
    return "".join(
        " " if v is None else BARS[min(len(BARS) - 1, int((v - lo) / span * len(BARS)))]
        for v in values
    )


def spec_threshold(spec: UseCaseSpec, metric: str, feature: str | None = None) -> float | None:
    """The threshold the spec itself sets for a series (used where a day recorded none)."""
    if metric == "drift_share":
        return spec.monitoring.drift_share
    if metric == "drift_score" and feature is not None:
        return spec.monitoring.drift_thresholds.get(feature)
    return None


def retrain_bar(spec: UseCaseSpec, metric: str, alert_bar: float | None) -> float | None:
    """The retrain policy's bar on a performance series, from the monitoring alert bar.

    Both are offsets from the champion's holdout value: the alert bar by
    ``monitoring.performance_drop``, the retrain bar by ``retraining.metric_drop``.
    """
    from mlstack.performance import higher_is_better

    if alert_bar is None:
        return None
    shift = spec.monitoring.performance_drop - spec.retraining.metric_drop
    return alert_bar + shift if higher_is_better(metric) else alert_bar - shift


def chart_points(
    spec: UseCaseSpec, name: str, found: list[Point], feature: str | None = None
) -> list[dict[str, Any]]:
    """Series points as JSON: day, value, alert, threshold (recorded, else the spec's) and,
    on the watched performance metric, the retrain policy's bar when it differs."""
    metric = name.removeprefix("estimated_").removeprefix("realised_")
    performance = name != metric and metric == watched(spec)
    fallback = spec_threshold(spec, name, feature)
    out = []
    for p in found:
        point: dict[str, Any] = {
            "day": p.day.isoformat(),
            "value": p.value,
            "alert": p.alert,
            "threshold": p.threshold if p.threshold is not None else fallback,
        }
        bar = retrain_bar(spec, metric, p.threshold) if performance else None
        if bar is not None and spec.retraining.enabled and bar != point["threshold"]:
            point["retrain_threshold"] = bar
        out.append(point)
    return out


def latest_threshold(points: list[dict[str, Any]], key: str = "threshold") -> float | None:
    """The most recent threshold of a series (what ``show`` prints), or None."""
    return next((p[key] for p in reversed(points) if p.get(key) is not None), None)


def report_days(usecase: str, keys: list[str], limit: int = 5) -> list[dict[str, Any]]:
    """Monitoring reports from lake keys ``reports/<usecase>/<day>/monitor.{html,json}``:
    the newest ``limit`` days, each with the file names found."""
    days: dict[str, list[str]] = {}
    for key in keys:
        parts = key.split("/")
        if len(parts) != 4 or parts[:2] != ["reports", usecase]:
            continue
        if parts[3] in REPORT_FILES and _is_day(parts[2]):
            days.setdefault(parts[2], []).append(parts[3])
    return [{"day": d, "files": sorted(days[d])} for d in sorted(days, reverse=True)[:limit]]


def _is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def watched(spec: UseCaseSpec) -> str:
    """The metric the monitor and the retrain policy watch (see ``monitor.watched_metric``)."""
    from mlstack.stages import monitor

    return monitor.watched_metric(spec)


def drifted_features(usecase: str, since: date) -> list[str]:
    """Features with a drift score in the window, most often drifted first."""
    from mlstack import store

    t = store.monitoring_metrics
    alerts = sa.func.sum(sa.case((t.c.alert, 1), else_=0))
    with store.engine().connect() as conn:
        rows = conn.execute(
            sa.select(t.c.feature, alerts)
            .where(
                t.c.usecase == usecase,
                t.c.metric == "drift_score",
                t.c.run_date >= since,
                t.c.feature.is_not(None),
            )
            .group_by(t.c.feature)
        ).all()
    return [str(r[0]) for r in sorted(rows, key=lambda r: (-(r[1] or 0), str(r[0])))]


def overview(usecase: str, days: int = 30, *, features: int = 6) -> dict[str, Any]:
    """What ``show`` prints and the pages draw: aliases, series of the key metrics with their
    thresholds, drift of the most drifted ``features``, alerts, policy decisions, reports."""
    from mlstack import lake, registry, store
    from mlstack.stages import monitor

    spec = get_spec(usecase)
    t_a, t_r = store.monitoring_alerts, store.retrain_requests
    with store.engine().connect() as conn:
        last = conn.execute(
            sa.select(sa.func.max(store.monitoring_metrics.c.run_date)).where(
                store.monitoring_metrics.c.usecase == usecase
            )
        ).scalar_one()
        since = (last or date.today()) - timedelta(days=days - 1)
        alerts = conn.execute(
            sa.select(t_a.c.run_date, t_a.c.kind, t_a.c.severity, t_a.c.message)
            .where(t_a.c.usecase == usecase, t_a.c.run_date >= since)
            .order_by(t_a.c.run_date.desc(), t_a.c.id)
            .limit(10)
        ).all()
        decisions = conn.execute(
            sa.select(t_r.c.run_date, t_r.c.decision, t_r.c.reason)
            .where(t_r.c.usecase == usecase, t_r.c.run_date >= since)
            .order_by(t_r.c.run_date.desc())
            .limit(10)
        ).all()
    metric = watched(spec)
    names = ["drift_share", f"estimated_{metric}", f"realised_{metric}", "label_coverage", "rows"]
    series = {
        name: chart_points(spec, name, monitor.points(usecase, name, since=since, variant=CHAMPION))
        for name in names
    }
    challenger = {
        name: chart_points(spec, name, found)
        for name in names
        if (found := monitor.points(usecase, name, since=since, variant=CHALLENGER))
    }
    feature_drift = {
        f: chart_points(
            spec,
            "drift_score",
            monitor.points(usecase, "drift_score", feature=f, since=since, variant=CHAMPION),
            f,
        )
        for f in drifted_features(usecase, since)[:features]
    }
    return {
        "usecase": usecase,
        "aliases": registry.aliases_of(usecase),
        "since": since.isoformat(),
        "series": series,
        "challenger_series": challenger,
        "feature_drift": feature_drift,
        "alerts": [
            {"day": r[0].isoformat(), "kind": r[1], "severity": r[2], "message": r[3]}
            for r in alerts
        ],
        "decisions": [
            {"day": r[0].isoformat(), "decision": r[1], "reason": r[2]} for r in decisions
        ],
        "reports": report_days(usecase, lake.list_keys(f"reports/{usecase}")),
    }


@click.group("monitor")
def monitor_group() -> None:
    """Monitoring: drift, quality, realised/estimated performance, retrain decisions."""


@monitor_group.command("show")
@click.argument("usecase")
@click.option("--days", type=int, default=30, show_default=True, help="Days of history shown.")
@click.option("--json", "as_json", is_flag=True, help="Print the data as JSON.")
def show_cmd(usecase: str, days: int, as_json: bool) -> None:
    """Show USECASE's champion/challenger, metric series, alerts and retrain decisions."""
    from mlstack.cli import console

    data = overview(usecase, days)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    out = console()
    aliases = ", ".join(f"{k} v{v}" for k, v in sorted(data["aliases"].items())) or "no model"
    out.print(f"[bold]{usecase}[/]  {aliases}  (since {data['since']})")
    for name, points in data["series"].items():
        _print_series(out, name, points)
    for name, points in data["challenger_series"].items():
        _print_series(out, f"{name} (challenger)", points)
    if data["feature_drift"]:
        out.print("[bold]Feature drift[/] (most drifted first)")
        for feature, points in data["feature_drift"].items():
            _print_series(out, f"drift_score {feature}", points)
    if data["reports"]:
        from mlstack import lake

        out.print("[bold]Reports[/]")
        for r in data["reports"]:
            for name in r["files"]:
                key = f"reports/{usecase}/{r['day']}/{name}"
                out.print(f"  {r['day']} {lake.url(key)}")
    out.print("[bold]Alerts[/]" if data["alerts"] else "No alerts.")
    for a in data["alerts"]:
        colour = "red" if a["severity"] == "critical" else "yellow"
        out.print(f"  {a['day']} [{colour}]{a['kind']}[/] {a['message']}")
    out.print("[bold]Retrain policy[/]" if data["decisions"] else "No retrain decisions yet.")
    for d in data["decisions"]:
        colour = {"retrain": "green", "blocked": "yellow", "alert": "yellow"}.get(
            d["decision"], "white"
        )
        out.print(f"  {d['day']} [{colour}]{d['decision']}[/] {d['reason']}")


def series_line(name: str, points: list[dict[str, Any]]) -> list[str]:
    """A series as terminal lines: sparkline, latest value, thresholds, alert marks."""
    if not points:
        return [f"  {name:<34} (no data)"]
    line = sparkline([p["value"] for p in points])
    latest = points[-1]["value"]
    shown = "-" if latest is None else f"{latest:.4g}"
    text = f"  {name:<34} {line}  latest {shown} ({points[-1]['day']})"
    limit = latest_threshold(points)
    if limit is not None:
        text += f"  threshold {limit:.4g}"
    bar = latest_threshold(points, "retrain_threshold")
    if bar is not None:
        text += f"  retrain bar {bar:.4g}"
    lines = [text]
    marks = "".join("!" if p["alert"] else " " for p in points)
    if "!" in marks:
        lines.append(f"  {'':<34} [red]{marks}[/]  ! = alert")
    return lines


def _print_series(out: Any, name: str, points: list[dict[str, Any]]) -> None:
    for line in series_line(name, points):
        out.print(line)


@monitor_group.command("run")
@click.argument("usecase")
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), required=True, help="Day to monitor.")
def run_cmd(usecase: str, day: Any) -> None:
    """Monitor one DAY of USECASE and apply the retrain policy (no Asset is emitted)."""
    from mlstack.stages import monitor, retrain

    spec = get_spec(usecase)
    result = monitor.run(spec, day.date())
    out = result.summary()
    if result.evidence is not None:
        decision = retrain.evaluate(spec, result.evidence)
        out |= {"decision": decision.decision, "reason": decision.reason}
    click.echo(json.dumps(out, indent=2, default=str))


COMMANDS = (monitor_group,)
