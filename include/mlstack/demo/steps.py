"""The demo's steps, one function each: what happens to the use case on every simulated day
(:func:`step_ingest`, :func:`step_train`, :func:`step_monitor`) and once after the last one
(:func:`final_reproduce`). :mod:`mlstack.demo.story` lists them and runs them in order.

**Ingestion.** Each day the use case's simulator lands the day's files, then
``<usecase>__ingest`` and ``<usecase>__catalog`` run through ``dag.test()``. The quiet days
before a first model can train (nothing but ingestion happens on them) go
:data:`QUIET_BATCH_DAYS` to a run unless ``--full``, through the ingest DAG's ``through`` param
(:func:`step_ingest_days`): each day still gets its own commit, snapshot and catalog version.

**Training.** The demo trains the first model as soon as the labelled days fill its split, and
after that only on the monitor's retrain requests: the spec's ``training.schedule``
(``@weekly``) is *not* simulated by default. Scheduled models of the pre-shock weeks are
re-fits on the same distribution; each would become a challenger of no real advantage whose
rollout ends, honestly, in a roll back — minutes of demo time that tell nothing about the
shock. ``mlstack demo --train-every N`` brings scheduled training back (every N days of new
labels); each such model then goes through the promotion gates and, as a challenger, through
its own rollout (:mod:`mlstack.demo.rollout`), like any other. The CLI says which mode ran.

**Monitoring.** Each day, once a champion exists, ``<usecase>__monitor`` runs through
``dag.test()``; its alerts and the retrain policy's verdicts go on the timeline
(:mod:`mlstack.demo.timeline`), and a retrain request is acted on at once. Unless ``--full``
or ``--train-every``, the monitored days go :data:`WATCH_BATCH_DAYS` to a run of each DAG
(ingest and catalog, then monitor with ``day``..``through``: :func:`step_monitor_days`):
every day is still ingested, catalogued and monitored on its own, in order, and the monitor
run stops after the first day whose decision is ``retrain``, so training, promotion and the
rollout follow that day as they would day by day (the retrain trains on the lake's snapshots
of that day's commits, not on the days the batch ingested after it); those days are
monitored by the next run. Nothing a day's monitoring reads comes from later days: its rows
and labels are the day's, and the fresh labels the policy counts are those known on the day
(:func:`mlstack.monitoring.windows.fresh_labels`). A realised figure rests on
``monitoring.min_labels`` labels whatever ``--rows`` is: at small volumes the monitor pools
the newest labelled days to reach them, or shows none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from mlstack.airflow.runner import run_dag
from mlstack.demo.context import DayResult, DemoContext, add_event
from mlstack.demo.rollout import roll_out
from mlstack.demo.timeline import gate_evidence, timeline_monitor
from mlstack.sources import land
from mlstack.specs import get_spec
from mlstack.vocabulary import CHALLENGER, CHAMPION

# --- ingestion ------------------------------------------------------------------------------

#: Quiet days (before a first model can train) ingested per DAG run (see the module docstring).
QUIET_BATCH_DAYS = 7
#: Monitored days per ingest, catalog and monitor run (see the module docstring).
WATCH_BATCH_DAYS = 7


def step_ingest(ctx: DemoContext, day: date, result: DayResult) -> None:
    """Land the day's files, then ingest and catalog them through the DAGs."""
    step_ingest_days(ctx, [result])


def step_ingest_days(ctx: DemoContext, results: list[DayResult]) -> None:
    """Land the files of consecutive days, ingest them in one ``<usecase>__ingest`` run
    (``day`` .. ``through``) and catalog them in one ``<usecase>__catalog`` run; fill each
    day's row with its own counts and catalog versions."""
    for result in results:
        land(ctx.spec_for_landing, result.day, ctx.settings)
    # both params every time: in-process, Airflow sets a run's conf on the DAG's own Param
    # objects, so under dag.test() a param left out keeps the previous run's value
    conf = {"day": results[0].day.isoformat(), "through": results[-1].day.isoformat()}
    out = run_dag(ctx.dags, f"{ctx.usecase}__ingest", conf, ctx.log_file)
    cat = run_dag(ctx.dags, f"{ctx.usecase}__catalog", None, ctx.log_file)
    versions = cat.get("record_versions") or []
    for dataset, value in out.items():
        if not dataset.startswith("ingest_"):
            continue
        for day in value.get("days") or [value]:
            result = next(r for r in results if r.day.isoformat() == day["day"])
            result.ingest[dataset.removeprefix("ingest_")] = day
            result.catalog += [v for v in versions if v["snapshot_id"] == day["snapshot_id"]]


def quiet_days(ctx: DemoContext, days: list[date]) -> int:
    """How many of ``days`` (from the first) have nothing to show but ingestion: no champion
    yet, and too few labelled days for a first model (at most :data:`QUIET_BATCH_DAYS`;
    none with ``--full``, which runs every day on its own)."""
    if ctx.full or ctx.story_state.get("champion_seen"):
        return 0
    from mlstack import registry  # lazy: MLflow

    if registry.get_alias(ctx.usecase, CHAMPION, ctx.settings) is not None:
        ctx.story_state["champion_seen"] = True
        return 0
    quiet = 0
    for day in days[:QUIET_BATCH_DAYS]:
        if can_train(ctx, day):
            break
        quiet += 1
    return quiet


# --- training and promotion (the model lifecycle) -------------------------------------------

#: The train DAG's params the demo sets (see :func:`train_and_promote`).
TRAIN_PARAMS = ("snapshot", "labels_snapshot", "retrain_request")


def labelled_days(ctx: DemoContext, day: date) -> int:
    """How many application days have labels once ``day`` is ingested."""
    spec = get_spec(ctx.usecase, ctx.settings.usecases_dir)
    delay = int((spec.simulator.options if spec.simulator else {}).get("label_delay_days", 0))
    return (day - ctx.days[0]).days + 1 - (delay if spec.labels else 0)


def can_train(ctx: DemoContext, day: date) -> bool:
    """True once the labelled days fill the split with at least ``min_train_rows`` to train on."""
    spec = get_spec(ctx.usecase, ctx.settings.usecases_dir)
    split = spec.training.split
    train_days = labelled_days(ctx, day) - split.holdout_days - split.validation_days
    rows = ctx.spec_for_landing.simulator.rows_per_day
    return train_days > 0 and train_days * rows * 0.98 >= split.min_train_rows


def trained_through(ctx: DemoContext) -> date | None:
    """Last labelled day the newest registered model saw (its holdout's end), if any."""
    from mlstack.stages import promote  # lazy: MLflow loads once a model may exist

    spec = get_spec(ctx.usecase, ctx.settings.usecases_dir)
    ends = [
        m["holdout_days"].split("..")[1]
        for m in promote.list_models(spec, ctx.settings)
        if m["holdout_days"]
    ]
    return date.fromisoformat(max(ends)) if ends else None


def step_train(ctx: DemoContext, day: date, result: DayResult) -> None:
    """Train the first model once labels allow; later ones every ``ctx.train_every`` days of
    new labels when asked to (the demo's stand-in for ``training.schedule``), else only on
    retrain requests (see :func:`step_monitor`)."""
    if not can_train(ctx, day):
        return
    last = trained_through(ctx)
    if last is not None:
        newest_label = ctx.days[0] + timedelta(days=labelled_days(ctx, day) - 1)
        if ctx.train_every <= 0 or (newest_label - last).days < ctx.train_every:
            return
    why = "first model" if last is None else f"scheduled (every {ctx.train_every} days)"
    result.notes.append(train_and_promote(ctx, None, day, why))


def train_and_promote(
    ctx: DemoContext, conf: dict[str, Any] | None, day: date | None = None, why: str = ""
) -> str:
    """Run the train DAG (``conf``: its params), then the promote DAG; return a note.

    A new challenger is rolled out right away (the scheduler runs ``<usecase>__rollout`` on
    the challenger Asset the same way), so its A/B decision lands on the same day.
    """
    params = ctx.dags[f"{ctx.usecase}__train"].params
    # every param every time (see step_ingest_days): a pinned snapshot or a request of an
    # earlier run must not carry over to this one
    conf = {k: None for k in TRAIN_PARAMS if k in params} | (conf or {})
    out = run_dag(ctx.dags, f"{ctx.usecase}__train", conf or None, ctx.log_file)
    model = out.get("train") or {}
    metric = model.get("primary_metric", "")
    value = (model.get("metrics") or {}).get(f"holdout_{metric}")
    decided = run_dag(ctx.dags, f"{ctx.usecase}__promote", None, ctx.log_file).get("evaluate")
    note = f"trained v{model.get('version')} ({metric} {value:.4f})" if value is not None else ""
    if decided:
        reason = "" if decided["outcome"] != "refused" else f": {decided['reasons'][0]}"
        note += f" -> {decided['outcome']}{reason}"
    if day is None:
        return note
    trained = f"trained v{model.get('version')}" + (f" ({why})" if why else "")
    outcome = (decided or {}).get("outcome", "no decision")
    add_event(ctx, day, f"{trained} -> {outcome}", gate_evidence(model, decided))
    if outcome == CHALLENGER:
        note += "; " + roll_out(ctx, day)
    return note


# --- monitoring and the retrain requests it makes -------------------------------------------


def step_monitor(ctx: DemoContext, day: date, result: DayResult) -> None:
    """Monitor ``day`` through the DAG; note alerts and the policy's decision; act on a request."""
    step_monitor_days(ctx, [result])


def step_monitor_days(
    ctx: DemoContext,
    results: list[DayResult],
    monitored: Callable[[DayResult], None] | None = None,
) -> int:
    """Monitor consecutive ingested days in one ``<usecase>__monitor`` run (``day`` ..
    ``through``), which stops after the first day whose policy decision is ``retrain``; note
    each monitored day's alerts and decision and act on that request (train, promote, roll
    out) as one day's run would; ``monitored`` hears of each day once it is done, in order.
    Returns how many of ``results`` were monitored (the others wait for the next run)."""
    from mlstack import registry  # lazy: MLflow

    champ = registry.get_alias(ctx.usecase, CHAMPION, ctx.settings)
    summaries: list[dict[str, Any]] = [{} for _ in results]
    out: dict[str, Any] = {}
    if champ is not None:
        # both params every time: see step_ingest_days
        conf = {"day": results[0].day.isoformat(), "through": results[-1].day.isoformat()}
        out = run_dag(ctx.dags, f"{ctx.usecase}__monitor", conf, ctx.log_file)
        last = out.get("monitor") or {}
        summaries = [*(last.get("earlier") or []), last]
    for result, summary in zip(results, summaries, strict=False):
        if champ is not None:
            note_monitor(ctx, result, summary, int(champ.version))
        if summary is summaries[-1] and out.get("request_retrain"):
            act_on_request(ctx, result, out["request_retrain"])
        if monitored is not None:
            monitored(result)
    return len(summaries)


def act_on_request(ctx: DemoContext, result: DayResult, request: dict[str, Any]) -> None:
    """A retrain request of ``result``'s day: on the timeline, then train, promote, roll out."""
    result.notes.append(f"retrain requested: {request.get('root_cause', '')[:160]}")
    window = request.get("training_window") or {}
    add_event(
        ctx,
        result.day,
        f"retrain requested (#{request.get('request_id')})",
        f"{request.get('reason', '')}. Root cause: {request.get('root_cause', '')}"
        + (f". Training window {window['start']}..{window['end']}" if window else ""),
    )
    params = ctx.dags[f"{ctx.usecase}__train"].params
    conf: dict[str, Any] = {}
    if "retrain_request" in params:
        conf["retrain_request"] = request.get("request_id") or "latest"
    # the lake as it was at the end of the day: a batched run has ingested later days already
    for param, dataset in (("snapshot", "features"), ("labels_snapshot", "labels")):
        snapshot = (result.ingest.get(dataset) or {}).get("snapshot_id")
        if param in params and snapshot is not None:
            conf[param] = int(snapshot)
    why = f"retrain request #{request.get('request_id')}"
    result.notes.append(train_and_promote(ctx, conf, result.day, why))


def note_monitor(
    ctx: DemoContext, result: DayResult, summary: dict[str, Any], champion: int
) -> None:
    """One monitored day's alerts and policy decision: on its row and on the timeline."""
    decision = summary.get("decision")
    if decision in (None, "none"):
        return
    alerts = [a for a in summary.get("alerts") or [] if not a.startswith(("challenger v", "prev"))]
    note = f"monitor: {decision}"
    if alerts:
        note += f" ({'; '.join(alerts[:2])})"
    if decision == "blocked":
        note += f" [{summary.get('reason', '').split('; ')[-1]}]"
    result.notes.append(note)
    timeline_monitor(ctx, result.day, summary, decision, alerts, champion)


def watched_days(ctx: DemoContext, days: list[date], ingested: int = 0) -> int:
    """How many of ``days`` (from the first) one monitor run takes: once a champion exists,
    up to :data:`WATCH_BATCH_DAYS` (never fewer than the ``ingested`` days already waiting);
    with ``--full`` or scheduled training (``ctx.train_every``), or before a champion, only
    those waiting days (none: day by day)."""
    if ctx.train_every > 0 or ctx.full or not ctx.story_state.get("champion_seen"):
        return ingested
    return max(ingested, min(len(days), WATCH_BATCH_DAYS))


# --- after the last day ---------------------------------------------------------------------


def final_reproduce(ctx: DemoContext, results: list[DayResult]) -> None:
    """Retrain on the newest model's exact snapshots: same metrics, so promotion refuses it."""
    from mlstack.stages import promote  # lazy: MLflow

    models = promote.list_models(get_spec(ctx.usecase, ctx.settings.usecases_dir), ctx.settings)
    if not models or not results:
        return
    newest = models[-1]
    conf = {"snapshot": int(newest["features_snapshot"])}
    if newest["labels_snapshot"]:
        conf["labels_snapshot"] = int(newest["labels_snapshot"])
    note = train_and_promote(ctx, conf)
    results[-1].notes.append(f"re-trained on v{newest['version']}'s snapshots: {note}")
