"""TEMPORARY SHIM (branch ``ui``): the read model's names the UI pages code against.

The monitoring engineer's ``mlstack.monitoring.views`` replaces this file at merge. Until
then each name delegates to today's code (``cli.monitor``, ``stages.catalog``) so the pages
can be built and tested. The shapes are the read model's: the pages depend on them only.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mlstack import store
from mlstack.cli import monitor as _monitor
from mlstack.settings import get_settings
from mlstack.specs import discover
from mlstack.stages import catalog as _catalog

overview = _monitor.overview
rollout_view = _monitor.rollout_view
split_text = _monitor.split_text
rollout_report_key = _monitor.rollout_report_key


def report_key(usecase: str, day: str, name: str) -> str | None:
    """The lake key ``reports/<usecase>/<day>/<name>`` of a daily monitoring report, or None
    when ``day`` is no ISO day or ``name`` no report file."""
    key = f"reports/{usecase}/{day}/{name}"
    return key if _monitor.report_days(usecase, [key]) else None


def usecases() -> list[str]:
    """The names of the use cases the stack knows (their specs), sorted."""
    specs, _ = discover(get_settings().usecases_dir)
    return sorted(specs)


def alert_report(usecase: str, report_uri: str | None) -> tuple[str, str] | None:
    """(day, file name) of the daily report an alert's run wrote (from the lake URL the
    alert kept), or None when it names none."""
    if not report_uri:
        return None
    key = "/".join(report_uri.split("/")[-4:])
    found = _monitor.report_days(usecase, [key])
    if not found or not report_uri.endswith(f"/{key}"):
        return None
    return found[0]["day"], found[0]["files"][0]


def _schema_change(changes: dict[str, Any]) -> str:
    """A version's schema change in words: ``initial``, ``none`` or ``+a, -b, c: x→y``."""
    if not changes or changes.get("initial"):
        return "initial" if changes else "none"
    parts = [f"+{c}" for c in changes.get("added", [])]
    parts += [f"-{c}" for c in changes.get("removed", [])]
    parts += [f"{r['column']}: {r['from']}→{r['to']}" for r in changes.get("retyped", [])]
    return ", ".join(parts) or "none"


def catalog_versions(usecase: str, limit: int = 20) -> list[dict[str, Any]]:
    """The use case's datasets, each with its latest versions (``schema_change`` in words)
    and lineage edges, plus the models trained on them (``run -registered_as-> model``)."""
    found = []
    for d in _catalog.list_datasets():
        if d["usecase"] != usecase:
            continue
        shown = _catalog.show_dataset(d["name"], limit=limit)
        versions = [
            {
                **v,
                "schema_change": _schema_change(v["schema_changes"]),
                "schema_changed": _schema_change(v["schema_changes"]) not in ("none", "initial"),
            }
            for v in shown["versions"]
        ]
        runs = [e["target"] for e in shown["lineage"] if e["relation"] == "trained"]
        models: list[dict[str, Any]] = []
        if runs:
            e = store.lineage.c
            with store.engine().connect() as conn:
                models = [
                    dict(r._mapping)
                    for r in conn.execute(
                        sa.select(store.lineage).where(
                            e.source.in_(runs), e.relation == "registered_as"
                        )
                    )
                ]
        found.append({**shown, "versions": versions, "models": models})
    return found


def summary(usecase: str) -> dict[str, Any]:
    """One row of the summary: status, champion, challenger, the last alert and decision."""
    data = overview(usecase)
    aliases = data["aliases"]
    alert = data["alerts"][0] if data["alerts"] else None
    decision = data["decisions"][0] if data["decisions"] else None
    rollout = data["rollout"]
    if rollout is not None and rollout["state"] == "running":
        status = "rolling out"
    elif "champion" not in aliases:
        status = "no model"
    elif rollout is not None and rollout["state"] == "running":
        status = "rolling out"
    elif alert is not None and any(
        p["day"] == alert["day"] for pts in data["series"].values() for p in pts[-1:]
    ):
        status = "alert"
    else:
        status = "ok"
    return {
        "usecase": usecase,
        "status": status,
        "champion": aliases.get("champion"),
        "challenger": aliases.get("challenger"),
        "last_alert": (
            {k: alert[k] for k in ("day", "kind", "message")} if alert is not None else None
        ),
        "last_decision": (
            {k: decision[k] for k in ("day", "decision", "reason")}
            if decision is not None
            else None
        ),
    }
