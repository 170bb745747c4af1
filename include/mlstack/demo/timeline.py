"""How the demo's story reads on its closing timeline: which monitoring alerts and retrain
policy verdicts make a row, and the one-line evidence behind each event (drifted features,
promotion gates, rollout decisions).

For each champion the timeline shows the first alert of each kind — drift with its most
drifted features (again when features not named before drift), the CBPE-estimated drop, a
realised drop once enough labels arrived — and each new verdict of the retrain policy
(``blocked: waiting for labels``, cooldown, ...).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from mlstack.demo.context import DemoContext, add_event


def timeline_monitor(
    ctx: DemoContext,
    day: date,
    summary: dict[str, Any],
    decision: str,
    alerts: list[str],
    champion: int,
) -> None:
    """Add, per champion, the first alert of each kind (a drift alert again when features not
    named before drift) and each new verdict of the policy."""
    from mlstack.monitoring.compute import drift_alert_features  # lazy: pandas

    seen: set[tuple[int, str]] = ctx.story_state.setdefault("seen", set())
    for alert in alerts:
        kind = alert_kind(alert)
        if kind == "drift":
            named = set(drift_alert_features(alert))
            if named <= {f for v, f in seen if v == champion}:
                continue
            seen.update((champion, f) for f in named)
            add_event(ctx, day, "alert: drift", drift_evidence(ctx, day, champion, alert))
            continue
        if (champion, kind) in seen:
            continue
        seen.add((champion, kind))
        if kind == "estimated drop":
            add_event(ctx, day, "alert: estimated drop", f"CBPE: {alert} — labels not in yet")
        else:
            add_event(ctx, day, f"alert: {kind}", alert[:240])
    reason = str(summary.get("reason", ""))
    verdict = policy_verdict(decision, reason)
    if (champion, verdict) not in seen and decision != "retrain":
        seen.add((champion, verdict))
        add_event(ctx, day, f"retrain policy: {verdict}", reason[:240])


def policy_verdict(decision: str, reason: str) -> str:
    """``blocked: waiting for labels``, ``blocked: cooldown``, ``alert`` … (for the timeline)."""
    if decision != "blocked":
        return decision
    last = reason.split("; ")[-1]
    if last.startswith("waiting for labels"):
        return "blocked: waiting for labels"
    return f"blocked: {last.split(':')[0]}"


def alert_kind(message: str) -> str:
    """``drift``, ``estimated drop``, ``realised drop`` or the message's first words."""
    if "drifted" in message:
        return "drift"
    if message.startswith(("estimated", "realised")):
        return f"{message.split()[0]} drop"
    return " ".join(message.split()[:3])


def drift_evidence(ctx: DemoContext, day: date, version: int, alert: str, top: int = 4) -> str:
    """The day's drifted features of ``version``, most drifted first, with method and score."""
    # lazy: the database and the drift module (pandas, scipy) load when a drift alert shows
    import sqlalchemy as sa

    from mlstack import store
    from mlstack.monitoring import drift

    t = store.monitoring_metrics.c
    with store.engine(ctx.settings).connect() as conn:
        rows = conn.execute(
            sa.select(t.feature, t.value, t.threshold, t.details).where(
                t.usecase == ctx.usecase,
                t.run_date == day,
                t.metric == "drift_score",
                t.model_version == version,
                t.alert.is_(True),
            )
        ).all()
    cols = [
        drift.ColumnDrift(
            str(r.feature),
            "numeric",  # type: ignore[arg-type]  # severity reads method, score, threshold
            str((r.details or {}).get("method", "")),
            float(r.value),
            float(r.threshold),
            True,
            0,
            0,
        )
        for r in rows
        if r.value is not None and r.threshold
    ]
    if not cols:
        return alert
    ranked = drift.ranked(cols)
    named = ", ".join(f"{c.column} ({c.method} {c.score:.3g})" for c in ranked[:top])
    more = f" and {len(ranked) - top} more" if len(ranked) > top else ""
    return f"{len(ranked)} drifted feature(s), most drifted first: {named}{more}"


def gate_evidence(model: dict[str, Any], decided: dict[str, Any] | None) -> str:
    """The promotion decision's gates in one line (metric first)."""
    if not decided:
        return f"v{model.get('version')}: no promotion decision"
    gates = {g["name"]: g for g in decided.get("gates") or []}
    shown = ("metric", "slices", "latency")
    parts = [
        f"{name} {'ok' if gates[name]['passed'] else 'FAILED'}: {gates[name]['detail']}"
        for name in shown
        if name in gates
    ]
    parts += [
        f"{g['name']} FAILED: {g['detail']}"
        for g in gates.values()
        if not g["passed"] and g["name"] not in shown
    ]
    return "; ".join(parts) or "; ".join(decided.get("reasons") or [])


def rollout_evidence(reasons: list[str] | None, evidence: dict[str, Any] | None) -> str:
    """A decision's reasons plus the counts and the challenger's p99 latency behind it."""
    ev = evidence or {}
    guard = ev.get("guardrail") or {}
    counts = ev.get("counts") or {}
    labelled = (ev.get("extra") or {}).get("labelled") or {}
    facts = []
    if counts:
        facts.append("requests " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    if labelled:
        facts.append("labelled " + ", ".join(f"{k} {v}" for k, v in labelled.items()))
    if guard.get("p99_latency_ms") is not None:
        facts.append(f"challenger p99 {guard['p99_latency_ms']:.1f} ms")
    return "; ".join([*(reasons or []), *facts])
