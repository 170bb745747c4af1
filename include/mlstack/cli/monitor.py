"""Monitoring commands: ``mlstack monitor show`` (series as sparklines, alerts, retrain
decisions, the latest rollout) and ``mlstack monitor run`` (one day, as the DAG does).

Printing only: the data comes from the read model :mod:`mlstack.monitoring.views`, the same
the pages draw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from mlstack.cli.output import console, json_option, print_json
from mlstack.monitoring import report_keys

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


def latest_threshold(points: list[dict[str, Any]], key: str = "threshold") -> float | None:
    """The most recent threshold of a series (what ``show`` prints), or None."""
    return next((p[key] for p in reversed(points) if p.get(key) is not None), None)


# --- rollouts -----------------------------------------------------------------------------------


def rollout_lines(summary: dict[str, Any] | None, url: Callable[[str], str] = str) -> list[str]:
    """The rollout as terminal lines: state, versions, stage, split, then each decision with
    its reasons and the ``url`` of its HTML report (``url`` maps a lake key)."""
    from rich.markup import escape

    from mlstack.monitoring.views import split_text

    if summary is None:
        return ["No rollout yet."]
    stage = f"stage {summary['stage']} ({summary['stage_index'] + 1}/{len(summary['stages'])})"
    lines = [
        f"[bold]Rollout[/] {summary['rollout_id'][:8]} {summary['state']}: challenger "
        f"v{summary['challenger_version']} vs champion v{summary['champion_version']}, {stage}, "
        f"{split_text(summary['split'])}, since {summary['started_at']}"
    ]
    for d in summary["decisions"]:
        times = f" ×{d['count']}" if d["count"] > 1 else ""
        lines.append(
            f"  {d['at']} {d['stage']} {d['action']}{times}: " + escape("; ".join(d["reasons"]))
        )
        for name in d["reports"]:
            key = report_keys.rollout_report_key(summary["usecase"], summary["rollout_id"], name)
            if key and name.endswith(".html"):
                lines.append(f"    report {url(key)}")
    return lines


@click.group("monitor")
def monitor_group() -> None:
    """Monitoring: drift, quality, realised/estimated performance, retrain decisions."""


@monitor_group.command("show")
@click.argument("usecase")
@click.option("--days", type=int, default=30, show_default=True, help="Days of history shown.")
@json_option
def show_cmd(usecase: str, days: int, as_json: bool) -> None:
    """Show USECASE's champion/challenger, metric series, alerts, retrain decisions and the
    latest rollout."""
    from mlstack import lake
    from mlstack.monitoring import views

    data = views.overview(usecase, days)
    if as_json:
        print_json(data)
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
        out.print("[bold]Reports[/]")
        for r in data["reports"]:
            for name in r["files"]:
                key = report_keys.daily_report_key(usecase, r["day"], name)
                if key:
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
    for line in rollout_lines(data["rollout"], lake.url):
        out.print(line)


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
    from mlstack.specs import get_spec
    from mlstack.stages import monitor, retrain

    spec = get_spec(usecase)
    result = monitor.run(spec, day.date())
    out = result.to_dict()
    if result.evidence is not None:
        decision = retrain.evaluate(spec, result.evidence)
        out |= {"decision": decision.decision, "reason": decision.reason}
    print_json(out)


COMMANDS = (monitor_group,)
