"""The demo's rollout: every new challenger is rolled out the day it appears, through the real
``<usecase>__rollout`` DAG, against an in-process gateway fed with simulated traffic.

**Rollout.** Whenever promotion makes a challenger (retrain request or schedule), the demo
runs ``<usecase>__rollout`` right then — the scheduler does the same on the challenger Asset
— against an in-process gateway fed by the traffic simulator: the applications of the days
that follow (scripted shock included, ids prefixed so they never meet the lake's), their
labels fed back at once. The clock is compressed (:data:`DEMO_ROLLOUT`: seconds per poll, a
few hundred labelled rows per variant); the statistics are the spec's. The decision (promote
or roll back) is on the timeline on the day the challenger appeared, before the next day runs.

**Latency guardrail.** The gateway logs each request's time inside the service (from the
validated request to its scored answer: batching, both models in shadow mode, not the
client's queueing) — the right measure where the gateway is its own process, as in the
stack. In the demo it shares one interpreter with Airflow's ``dag.test()`` and the traffic
thread, so that time also holds waits for the GIL and for a loaded machine's CPU, which no
model causes. :data:`DEMO_ROLLOUT` therefore keeps the spec's error-rate guardrail but judges
p99 latency against :data:`DEMO_MAX_P99_LATENCY_MS` (a model that hangs is still caught); the
spec's 50 ms budget is judged by the stack's gateway (compose e2e, benchmarks).
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from mlstack.airflow.runner import run_spec_dag
from mlstack.demo.context import DemoContext, add_event
from mlstack.demo.timeline import rollout_evidence
from mlstack.demo.traffic import simulate
from mlstack.specs import get_spec
from mlstack.vocabulary import CHALLENGER, CHAMPION

#: p99 latency budget of the in-process demo gateway (see the module docstring).
DEMO_MAX_P99_LATENCY_MS = 1000.0
#: Rollout settings for the demo's compressed clock (the spec's own are days, not seconds).
DEMO_ROLLOUT: dict[str, Any] = {
    "mode": "shadow",
    "stages": [0.5],
    "min_samples": 300,
    "poll_interval": timedelta(seconds=1),
    "max_duration": timedelta(seconds=90),
}
#: Simulated applications per day of rollout traffic.
TRAFFIC_PER_DAY = 200
#: Applications to a request: they arrive in batches, each still assigned its variant by its
#: own entity id (one a request would spend the rollout's seconds on the in-process client)
TRAFFIC_BATCH = 20
#: Prefix of the traffic's entity ids: the simulator numbers a day's applications the same
#: way for the lake, and gateway feedback must never label the lake's rows early.
TRAFFIC_ID_PREFIX = "gw-"


class _PrefixedIds:
    """A client that prefixes the entity id of every record it posts (see TRAFFIC_ID_PREFIX)."""

    def __init__(self, client: Any, id_column: str) -> None:
        self.client, self.id_column = client, id_column

    def post(self, url: str, *, json: Any) -> Any:
        if isinstance(json, dict):
            for form in ("record", "records"):
                if json.get(form) is not None:
                    json = {**json, form: self._prefixed(json[form])}
        return self.client.post(url, json=json)

    def _prefixed(self, records: Any) -> Any:
        if isinstance(records, list):
            return [self._prefixed(r) for r in records]
        if isinstance(records, dict) and records.get(self.id_column) is not None:
            return {**records, self.id_column: f"{TRAFFIC_ID_PREFIX}{records[self.id_column]}"}
        return records


def _traffic(
    spec: Any, settings: Any, stop: threading.Event, spool: Path, day: date, sent: list[int]
) -> None:
    """Serve with an in-process gateway; send each following day's simulated applications,
    then their labels, until stopped; ``sent`` counts the simulated days."""
    # lazy: the gateway and its web stack load only when a rollout runs
    from fastapi.testclient import TestClient

    from mlstack.gateway.app import create_app
    from mlstack.gateway.core.config import GatewaySettings

    g = GatewaySettings(usecases=[spec.name], refresh_interval_s=0.5, spool_dir=spool)
    start = spec.simulator.start
    with TestClient(create_app(settings, g)) as client:
        prefixed = _PrefixedIds(client, spec.schema.id_column)
        while not stop.is_set():
            simulate(
                spec, prefixed, requests=TRAFFIC_PER_DAY, day=day, start=start, batch=TRAFFIC_BATCH
            )
            day += timedelta(days=1)
            sent[0] += 1


def demo_rollout_spec(spec: Any, first_day: date) -> Any:
    """The spec with :data:`DEMO_ROLLOUT` (its guardrails: the demo's latency budget) and the
    simulator's timeline starting on the demo's first day."""
    guard = spec.rollout.guardrails.model_copy(
        update={"max_p99_latency_ms": DEMO_MAX_P99_LATENCY_MS}
    )
    rollout = spec.rollout.model_copy(update={**DEMO_ROLLOUT, "guardrails": guard})
    update: dict[str, Any] = {"rollout": rollout}
    if spec.simulator is not None:
        update["simulator"] = spec.simulator.model_copy(update={"start": first_day})
    return spec.model_copy(update=update)


def roll_out(ctx: DemoContext, day: date) -> str:
    """Roll the challenger out now through ``<usecase>__rollout`` with live traffic of the days
    after ``day``; put its stages and decision on the timeline; return a short note."""
    # lazy: the database and MLflow load when the first challenger appears
    import sqlalchemy as sa

    from mlstack import registry, store

    chall = registry.get_alias(ctx.usecase, CHALLENGER, ctx.settings)
    champ = registry.get_alias(ctx.usecase, CHAMPION, ctx.settings)
    if chall is None or champ is None:
        return "no challenger to roll out"
    spec = demo_rollout_spec(get_spec(ctx.usecase, ctx.settings.usecases_dir), ctx.days[0])
    stop, sent = threading.Event(), [0]
    first = day + timedelta(days=1)
    sender = threading.Thread(
        target=_traffic,
        args=(spec, ctx.settings, stop, ctx.settings.home / "spool", first, sent),
        daemon=True,
    )
    sender.start()
    try:
        run = run_spec_dag(spec, "rollout", ctx.log_file)
    finally:
        stop.set()
        days_sent = sent[0] + 1  # the day being sent when the rollout ended counts
        sender.join(timeout=120)
    state = run.state
    rollout_id = run.results.get("start")
    with store.engine(ctx.settings).connect() as conn:
        d = store.rollout_decisions.c
        rows = conn.execute(
            sa.select(d.action, d.reasons, d.evidence)
            .where(d.rollout_id == str(rollout_id), d.action != "wait")
            .order_by(d.id)
        ).all()
    stages = " then ".join(
        ["shadow"] * (spec.rollout.mode == "shadow") + [f"{s:.0%} A/B" for s in spec.rollout.stages]
    )
    last = first + timedelta(days=days_sent - 1)
    add_event(
        ctx,
        day,
        "rollout",
        f"v{chall.version} vs champion v{champ.version}: {stages}; live traffic: applications "
        f"of {first}..{last} ({TRAFFIC_PER_DAY}/day), labels fed back at once "
        f"(compressed clock; p99 guardrail {DEMO_MAX_P99_LATENCY_MS:g} ms in-process)",
    )
    for action, reasons, evidence in rows:
        add_event(ctx, day, f"rollout: {action}", rollout_evidence(reasons, evidence))
    now = registry.get_alias(ctx.usecase, CHAMPION, ctx.settings)
    champion = int(now.version) if now is not None else None
    if champion == int(chall.version):
        add_event(
            ctx, day, "new champion", f"v{champion} (was v{champ.version}; kept for rollback)"
        )
    else:
        add_event(ctx, day, "champion stays", f"v{champion}; v{chall.version} rolled back")
    if state != "success":
        add_event(ctx, day, "rollout DAG", f"ended {state}; see {ctx.log_file}")
    return f"rollout of v{chall.version}: {[r.action for r in rows]}, champion v{champion}"
