"""The demo's monitoring steps: each day, once a champion exists, ``<usecase>__monitor`` runs;
when it emits a retrain request the demo runs the train and promote DAGs (the scheduler does
this in the stack, on the ``retrain-request/<usecase>`` Asset). Each day's notes make the
timeline: shock → drift alert and estimated drop → blocked while labels are missing →
retrain request → new challenger.
"""

from __future__ import annotations

from datetime import date
from typing import Any


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
    if out.get("request_retrain"):
        request = out["request_retrain"]
        result.notes.append(f"retrain requested: {request.get('root_cause', '')[:160]}")
        train_and_promote = getattr(demo, "train_and_promote", None)
        if train_and_promote is not None:
            result.notes.append(train_and_promote(ctx, None))
