"""The demo's story steps (issues 5 and 6): monitoring each day, the retrain it may request,
and the A/B rollout of the challenger that follows, collected as a timeline.

Each day, once a champion exists, ``<usecase>__monitor`` runs; when it emits a retrain request
the demo runs the train and promote DAGs (the scheduler does this in the stack, on the
``retrain-request/<usecase>`` Asset). After the last day, if a challenger waits, the rollout
DAG runs through ``dag.test()`` against an in-process gateway that serves simulated traffic
(post-shock applications) and feeds their labels back. The rollout's clock is compressed for
the demo (seconds per poll, fewer labelled samples per variant); its statistics are the same.
Everything notable lands in ``ctx.timeline``: shock → drift alert and estimated drop → blocked
while labels are missing → retrain request → challenger → rollout decisions → champion.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

#: Rollout settings for the demo's compressed clock (the spec's own are days, not seconds).
DEMO_ROLLOUT = {
    "mode": "shadow",
    "stages": [0.5],
    "min_samples": 300,
    "poll_interval": timedelta(seconds=1),
    "max_duration": timedelta(seconds=120),
}


def add_event(ctx: Any, day: date | str, event: str, evidence: str = "") -> None:
    """Append one timeline row (day, event, evidence)."""
    ctx.timeline.append((str(day), event, evidence))


def step_monitor(ctx: Any, day: date, result: Any) -> None:
    """Monitor ``day`` through the DAG; note alerts and the policy's decision; act on a request."""
    from mlstack import demo, registry

    if registry.get_alias(ctx.usecase, "champion", ctx.settings) is None:
        return
    out = demo.run_dag(ctx.dags, f"{ctx.usecase}__monitor", {"day": day.isoformat()}, ctx.log_file)
    summary = out.get("monitor") or {}
    decision = summary.get("decision")
    if decision in (None, "none"):
        return
    alerts = summary.get("alerts") or []
    note = f"monitor: {decision}"
    if alerts:
        note += f" ({'; '.join(alerts[:2])})"
    if decision == "blocked":
        note += f" [{summary.get('reason', '').split('; ')[-1]}]"
    result.notes.append(note)
    timeline_monitor(ctx, day, summary, decision, alerts)
    if out.get("request_retrain"):
        request = out["request_retrain"]
        root = request.get("root_cause", "")
        result.notes.append(f"retrain requested: {root[:160]}")
        add_event(ctx, day, "retrain requested", root[:200])
        train_and_promote = getattr(demo, "train_and_promote", None)
        if train_and_promote is not None:
            result.notes.append(train_and_promote(ctx, None, day))


def timeline_monitor(
    ctx: Any, day: date, summary: dict[str, Any], decision: str, alerts: list[str]
) -> None:
    """Add the first alert of each kind and the first time the policy takes each decision."""
    seen: set[str] = ctx.story_state.setdefault("seen", set())
    for alert in alerts:
        kind = alert_kind(alert)
        if kind not in seen:
            seen.add(kind)
            add_event(ctx, day, f"alert: {kind}", alert[:200])
    if decision not in seen:
        seen.add(decision)
        reason = str(summary.get("reason", ""))
        add_event(ctx, day, f"retrain policy: {decision}", reason[:200])


def alert_kind(message: str) -> str:
    """``drift``, ``estimated drop``, ``realised drop`` or the message's first words."""
    if "drifted" in message:
        return "drift"
    if message.startswith(("estimated", "realised")):
        return f"{message.split()[0]} drop"
    return " ".join(message.split()[:3])


def _traffic(spec: Any, settings: Any, stop: threading.Event, spool: Path, day: date) -> None:
    """Serve with an in-process gateway; send simulated requests, then their labels, until
    stopped (labels go back in batches after the predictions: feedback arrives later)."""
    from fastapi.testclient import TestClient

    from mlstack.gateway.app import create_app
    from mlstack.gateway.core.config import GatewaySettings
    from mlstack.traffic import simulate

    g = GatewaySettings(usecases=[spec.name], refresh_interval_s=0.5, spool_dir=spool)
    with TestClient(create_app(settings, g)) as client:
        while not stop.is_set():
            simulate(spec, client, requests=200, day=day)
            day += timedelta(days=1)


def final_rollout(ctx: Any, results: list[Any]) -> None:
    """Roll the challenger out (if any) through ``<usecase>__rollout`` with live traffic."""
    import sqlalchemy as sa

    from mlstack import registry, store
    from mlstack.airflow.rollout import build_rollout
    from mlstack.specs import get_spec

    if not results:
        return
    mv = registry.get_alias(ctx.usecase, "challenger", ctx.settings)
    if mv is None:
        return
    challenger = mv.version
    spec = get_spec(ctx.usecase, ctx.settings.usecases_dir)
    spec = spec.model_copy(update={"rollout": spec.rollout.model_copy(update=DEMO_ROLLOUT)})
    first_traffic_day = results[-1].day + timedelta(days=1)
    stop = threading.Event()
    sender = threading.Thread(
        target=_traffic,
        args=(spec, ctx.settings, stop, ctx.settings.home / "spool", first_traffic_day),
        daemon=True,
    )
    sender.start()
    try:
        from mlstack import demo

        with demo.quiet(ctx.log_file):
            run = build_rollout(spec).test(logical_date=None)
    finally:
        stop.set()
        sender.join(timeout=120)
    state = str(getattr(run.state, "value", run.state))
    with store.engine(ctx.settings).connect() as conn:
        d = store.rollout_decisions.c
        rows = conn.execute(
            sa.select(d.action, d.reasons, d.evidence)
            .where(d.usecase == ctx.usecase)
            .order_by(d.id.desc())
            .limit(4)
        ).all()
    when = f"after {results[-1].day}"
    add_event(ctx, when, "rollout started", f"v{challenger} vs champion, shadow → 50% A/B")
    for action, reasons, _evidence in reversed(rows):
        if action == "wait":
            continue
        add_event(ctx, when, f"rollout: {action}", "; ".join(reasons or [])[:200])
    champ = registry.get_alias(ctx.usecase, "champion", ctx.settings)
    champion = champ.version if champ is not None else None
    add_event(ctx, when, "champion", f"v{champion} (rollout DAG {state})")
    results[-1].notes.append(f"rollout of v{challenger}: {state}, champion v{champion}")
