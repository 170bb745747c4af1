"""What the pages' charts show, as data: the browser draws it (``static/charts.js`` with the
vendored uPlot), this module decides it.

A line chart is the days on the x axis and, aligned on them, the champion's values, the
challenger's (same metric, same days), the alert threshold each day was judged against, the
retrain policy's bar where it differs, and the alert days as markers. The rollout timeline
and the catalog's row counts are plain HTML; their states and widths are decided here too.
"""

from __future__ import annotations

from typing import Any

#: Series of the overview that are not charted (``rows`` is a count, not a health figure).
NOT_CHARTED = frozenset({"rows"})


def _latest(values: list[float | None]) -> float | None:
    return next((v for v in reversed(values) if v is not None), None)


def line_chart(
    chart_id: str,
    title: str,
    points: list[dict[str, Any]],
    *,
    challenger: list[dict[str, Any]] | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """One chart's data from series points ({day, value, alert[, threshold,
    retrain_threshold]}): ``days`` and per-day lists aligned on them (None where a day has
    no value); ``threshold`` fills days that recorded none. ``empty`` when nothing to draw."""
    other = challenger or []
    days = sorted({p["day"] for p in points} | {p["day"] for p in other})
    mine = {p["day"]: p for p in points}
    theirs = {p["day"]: p["value"] for p in other}

    def column(key: str, fallback: float | None = None) -> list[float | None]:
        found = [mine[d].get(key) if d in mine else None for d in days]
        return [
            fallback if v is None and d in mine else v for d, v in zip(days, found, strict=True)
        ]

    champion = column("value")
    limit = column("threshold", threshold)
    retrain = column("retrain_threshold")
    alerts = [mine[d]["value"] if d in mine and mine[d]["alert"] else None for d in days]
    rival = [theirs.get(d) for d in days]
    chart: dict[str, Any] = {
        "id": chart_id,
        "title": title,
        "days": days,
        "champion": champion,
        "challenger": rival if any(v is not None for v in rival) else None,
        "threshold": limit if any(v is not None for v in limit) else None,
        "retrain": retrain if any(v is not None for v in retrain) else None,
        "alerts": alerts,
        "alert_days": sum(v is not None for v in alerts),
        "empty": all(v is None for v in champion),
    }
    chart["caption"] = caption(chart)
    return chart


def caption(chart: dict[str, Any]) -> str:
    """The line above a chart: latest value, threshold, retrain bar, challenger."""
    if chart["empty"]:
        return f"{chart['title']}: no data yet"
    text = f"{chart['title']} — latest {_latest(chart['champion']):.4g}"
    for key, words in (("threshold", "threshold"), ("retrain", "retrain bar")):
        latest = _latest(chart[key] or [])
        if latest is not None:
            text += f" · {words} {latest:.4g}"
    latest = _latest(chart["challenger"] or [])
    if latest is not None:
        text += f" · challenger {latest:.4g}"
    return text


def usecase_charts(usecase: str, data: dict[str, Any]) -> tuple[list[dict[str, Any]], ...]:
    """A use case's metric charts (champion and challenger) and its feature-drift charts."""
    rival = data.get("challenger_series", {})
    metrics = [
        line_chart(f"{usecase}-{name}", name, points, challenger=rival.get(name))
        for name, points in data["series"].items()
        if name not in NOT_CHARTED
    ]
    drift = [
        line_chart(f"{usecase}-drift-{feature}", f"drift {feature}", points)
        for feature, points in data["feature_drift"].items()
    ]
    return metrics, drift


def bars(pairs: list[tuple[str, float]]) -> list[dict[str, Any]]:
    """Bars (label, value) with their width in percent of the largest."""
    top = max((v for _, v in pairs), default=0) or 1.0
    return [{"label": k, "value": v, "pct": round(max(v / top * 100, 0.5), 2)} for k, v in pairs]


def stage_state(i: int, summary: dict[str, Any]) -> str:
    """What stage ``i`` of a rollout is: ``passed``, ``current``, the state the rollout ended
    in (``promoted``, ``rolled_back``, ...) or ``ahead`` (not reached)."""
    if i < summary["stage_index"]:
        return "passed"
    if i > summary["stage_index"]:
        return "ahead"
    return "current" if summary["state"] == "running" else str(summary["state"])


def timeline(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The rollout's stages left to right, each with its state and its decisions in order."""
    return [
        {
            "name": name,
            "state": stage_state(i, summary),
            "decisions": [d for d in summary["decisions"] if d["stage_index"] == i],
        }
        for i, name in enumerate(summary["stages"])
    ]
