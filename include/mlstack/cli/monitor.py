"""Monitoring commands: ``mlstack monitor show`` (series as sparklines, alerts, retrain
decisions) and ``mlstack monitor run`` (one day, as the DAG does)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import click
import sqlalchemy as sa

from mlstack.specs import get_spec

BARS = "▁▂▃▄▅▆▇█"


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


def overview(usecase: str, days: int = 30) -> dict[str, Any]:
    """What ``show`` prints: aliases, series of the key metrics, alerts, policy decisions."""
    from mlstack import registry, store
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
    metric = monitor.watched_metric(spec)
    names = ["drift_share", f"estimated_{metric}", f"realised_{metric}", "label_coverage", "rows"]
    series = {}
    for name in names:
        points = monitor.series(usecase, name, since=since)
        series[name] = [{"day": d.isoformat(), "value": v, "alert": a} for d, v, a in points]
    return {
        "usecase": usecase,
        "aliases": registry.aliases_of(usecase),
        "since": since.isoformat(),
        "series": series,
        "alerts": [
            {"day": r[0].isoformat(), "kind": r[1], "severity": r[2], "message": r[3]}
            for r in alerts
        ],
        "decisions": [
            {"day": r[0].isoformat(), "decision": r[1], "reason": r[2]} for r in decisions
        ],
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
        if not points:
            out.print(f"  {name:<34} (no data)")
            continue
        line = sparkline([p["value"] for p in points])
        marks = "".join("!" if p["alert"] else " " for p in points)
        latest = points[-1]["value"]
        shown = "-" if latest is None else f"{latest:.4g}"
        out.print(f"  {name:<34} {line}  latest {shown} ({points[-1]['day']})")
        if "!" in marks:
            out.print(f"  {'':<34} [red]{marks}[/]  ! = alert")
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
