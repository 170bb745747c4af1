"""Monitoring commands: ``mlstack monitor show`` (series as sparklines, alerts, retrain
decisions, the latest rollout) and ``mlstack monitor run`` (one day, as the DAG does)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import click
import sqlalchemy as sa
from rich.markup import escape

from mlstack.specs import UseCaseSpec, get_spec
from mlstack.vocabulary import CHALLENGER, CHAMPION

if TYPE_CHECKING:
    from mlstack.stages.monitor import Point

BARS = "▁▂▃▄▅▆▇█"
#: The files of one monitoring report under ``reports/<usecase>/<day>/`` in the lake.
REPORT_FILES = ("monitor.html", "monitor.json")
#: A rollout decision's report file: ``<stage index>-<action>.{html,json}`` (see rollout.act).
ROLLOUT_REPORT = re.compile(r"\d{1,3}-(next_stage|promote|rollback|halt)\.(html|json)")
ROLLOUT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: Decisions read per rollout (waits are many; they are collapsed before they are shown).
ROLLOUT_DECISIONS = 500


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
    from mlstack.monitoring.performance import higher_is_better

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
    """Features with a drift score of the champion in the window, most often drifted first.

    Only the champion's series count (rows from before variants were recorded are its): a
    challenger scored on the same days would count each drifted day twice.
    """
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
                sa.or_(t.c.variant == CHAMPION, t.c.variant.is_(None)),
            )
            .group_by(t.c.feature)
        ).all()
    return rank_features([(str(r[0]), int(r[1] or 0)) for r in rows])


def rank_features(alert_days: list[tuple[str, int]]) -> list[str]:
    """Features by their number of drift-alert days, most first (ties by name)."""
    return [f for f, _ in sorted(alert_days, key=lambda fa: (-fa[1], fa[0]))]


# --- rollouts -----------------------------------------------------------------------------------


def rollout_report_key(usecase: str, rollout_id: str, name: str) -> str | None:
    """The lake key ``reports/rollouts/<usecase>/<rollout_id>/<name>`` of a rollout decision's
    report, or None when ``rollout_id`` is no rollout id or ``name`` no report file name."""
    if not ROLLOUT_ID.fullmatch(rollout_id) or not ROLLOUT_REPORT.fullmatch(name):
        return None
    if "/" in usecase or usecase in ("", ".", ".."):
        return None
    return f"reports/rollouts/{usecase}/{rollout_id}/{name}"


def rollout_report_files(usecase: str, rollout_id: str, report_uri: str | None) -> list[str]:
    """A decision's report files: the HTML its ``report_uri`` names and the JSON written beside
    it; [] when it has no report (waits, stops) or the URI is not a rollout report's."""
    if not report_uri:
        return []
    name = report_uri.rsplit("/", 1)[-1]
    key = rollout_report_key(usecase, rollout_id, name)
    if key is None or not report_uri.endswith(f"/{key}") or not name.endswith(".html"):
        return []
    return [name, f"{name.removesuffix('.html')}.json"]


def traffic_split(stage: dict[str, Any], state: str) -> dict[str, Any]:
    """Who answers requests: the champion's and challenger's shares in percent, and whether
    the challenger scores in shadow; once the rollout ended, the champion answers all."""
    if state != "running" or stage.get("shadow"):
        return {"champion": 100.0, "challenger": 0.0, "shadow": state == "running"}
    share = round(float(stage["traffic"]) * 100, 2)
    return {"champion": round(100 - share, 2), "challenger": share, "shadow": False}


def split_text(split: dict[str, Any]) -> str:
    """A traffic split in words, e.g. ``champion 90% / challenger 10%``."""
    if split["shadow"]:
        return "champion 100% (challenger scores in shadow)"
    return f"champion {split['champion']:g}% / challenger {split['challenger']:g}%"


def collapse_waits(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decisions oldest first, consecutive waits of a stage folded into their latest one
    (``count`` says how many looks it stands for)."""
    out: list[dict[str, Any]] = []
    for d in decisions:
        last = out[-1] if out else None
        same_stage = last is not None and d["stage_index"] == last["stage_index"]
        if last and same_stage and d["action"] == last["action"] == "wait":
            out[-1] = {**d, "count": last["count"] + 1}
        else:
            out.append({**d, "count": 1})
    return out


def rollout_summary(status: dict[str, Any]) -> dict[str, Any] | None:
    """The latest rollout as the page and ``show`` present it (from ``rollout.status``): state,
    stages and the current one, traffic split, versions, decisions oldest first with reasons
    and report files. None when the use case never had a rollout."""
    ro = status.get("rollout")
    if ro is None:
        return None
    stages = ro["stages"]
    index = min(int(ro["stage_index"]), len(stages) - 1)

    def decision(d: dict[str, Any]) -> dict[str, Any]:
        i = min(int(d["stage_index"]), len(stages) - 1)
        files = rollout_report_files(ro["usecase"], ro["rollout_id"], d.get("report_uri"))
        at = str(d["created_at"])[:16].replace("T", " ")
        return {"at": at, "stage_index": i, "stage": stages[i]["name"], "action": d["action"]} | {
            "reasons": d["reasons"],
            "reports": files,
        }

    return {
        "usecase": ro["usecase"],
        "rollout_id": ro["rollout_id"],
        "state": ro["state"],
        "champion_version": ro["champion_version"],
        "challenger_version": ro["challenger_version"],
        "stages": [st["name"] for st in stages],
        "stage_index": index,
        "stage": stages[index]["name"],
        "split": traffic_split(stages[index], ro["state"]),
        "started_at": str(ro["started_at"])[:16].replace("T", " "),
        "ended_at": str(ro["ended_at"])[:16].replace("T", " ") if ro["ended_at"] else None,
        "decisions": collapse_waits([decision(d) for d in reversed(status["decisions"])]),
    }


def rollout_view(usecase: str) -> dict[str, Any] | None:
    """The use case's latest rollout, summarised (see :func:`rollout_summary`)."""
    from mlstack.stages import rollout

    return rollout_summary(rollout.status(usecase, limit=ROLLOUT_DECISIONS))


def rollout_lines(summary: dict[str, Any] | None, url: Callable[[str], str] = str) -> list[str]:
    """The rollout as terminal lines: state, versions, stage, split, then each decision with
    its reasons and the ``url`` of its HTML report (``url`` maps a lake key)."""
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
        key = f"reports/rollouts/{summary['usecase']}/{summary['rollout_id']}/"
        lines += [f"    report {url(key + f)}" for f in d["reports"] if f.endswith(".html")]
    return lines


def overview(usecase: str, days: int = 30, *, features: int = 6) -> dict[str, Any]:
    """What ``show`` prints and the pages draw: aliases, series of the key metrics with their
    thresholds, drift of the most drifted ``features``, alerts (with their run's report),
    policy decisions, reports, the latest rollout."""
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
            sa.select(t_a.c.run_date, t_a.c.kind, t_a.c.severity, t_a.c.message, t_a.c.report_uri)
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
            | {"report_uri": r[4]}
            for r in alerts
        ],
        "decisions": [
            {"day": r[0].isoformat(), "decision": r[1], "reason": r[2]} for r in decisions
        ],
        "reports": report_days(usecase, lake.list_keys(f"reports/{usecase}")),
        "rollout": rollout_view(usecase),
    }


@click.group("monitor")
def monitor_group() -> None:
    """Monitoring: drift, quality, realised/estimated performance, retrain decisions."""


@monitor_group.command("show")
@click.argument("usecase")
@click.option("--days", type=int, default=30, show_default=True, help="Days of history shown.")
@click.option("--json", "as_json", is_flag=True, help="Print the data as JSON.")
def show_cmd(usecase: str, days: int, as_json: bool) -> None:
    """Show USECASE's champion/challenger, metric series, alerts, retrain decisions and the
    latest rollout."""
    from mlstack import lake
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
    from mlstack.stages import monitor, retrain

    spec = get_spec(usecase)
    result = monitor.run(spec, day.date())
    out = result.to_dict()
    if result.evidence is not None:
        decision = retrain.evaluate(spec, result.evidence)
        out |= {"decision": decision.decision, "reason": decision.reason}
    click.echo(json.dumps(out, indent=2, default=str))


COMMANDS = (monitor_group,)
