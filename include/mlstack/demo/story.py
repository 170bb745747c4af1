"""The embedded demo: days of simulated data through the real DAGs, in-process.

``mlstack demo`` prepares a local Airflow (SQLite under ``MLSTACK_HOME``; see
:mod:`mlstack.airflow.runner`), then for each day runs the :data:`STEPS` in order — land,
ingest and catalog the day's data; train (the first model once labels allow); monitor, with
the retrain requests, promotions and rollouts that follow (:mod:`mlstack.demo.steps`) — and
after the last day the :data:`FINAL_STEPS`. Days batch where nothing is lost by it: the quiet
days before a first model go several to an ingest run, and once a champion exists several
monitored days go to one ingest, catalog and monitor run each (each day still its own commit,
catalog version and monitoring, in order: see :mod:`mlstack.demo.steps`). Each day gives one
summary row
(:class:`~mlstack.demo.context.DayResult`); the story is collected as a timeline on the
:class:`~mlstack.demo.context.DemoContext`. Running it again replaces the same days
(idempotent); ``--reset`` starts over.
"""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from mlstack.airflow.runner import load_dags, prepare_airflow, quiet
from mlstack.demo.context import DayResult, DemoContext, FinalStep, Step
from mlstack.demo.progress import Progress
from mlstack.demo.rollout import DEMO_MAX_P99_LATENCY_MS
from mlstack.demo.steps import (
    final_reproduce,
    quiet_days,
    step_ingest,
    step_ingest_days,
    step_monitor,
    step_monitor_days,
    step_train,
    watched_days,
)
from mlstack.exceptions import MlstackError
from mlstack.settings import Settings, get_settings, scoped_environ
from mlstack.specs import get_spec

#: Run for every day, in this order.
STEPS: tuple[Step, ...] = (step_ingest, step_train, step_monitor)
#: Run once after the last day.
FINAL_STEPS: tuple[FinalStep, ...] = (final_reproduce,)


def demo_usecases(spec: Any, factor: float, settings: Settings, *, full: bool) -> Settings:
    """The demo's copy of the spec, under ``MLSTACK_HOME/usecases``; the demo's DAGs read it.

    The promotion gate's latency budget is at least :data:`DEMO_MAX_P99_LATENCY_MS`, as the
    rollout's p99 guardrail in the demo: the single-row latency is timed in the demo's
    process, and on a loaded machine its median holds CPU waits no model causes (at a load
    of 30 on 2 cores the first model took 75 ms and was refused: no champion, no story).

    Unless ``full``, Evidently renders its drift report only on days with a new alert
    (``monitoring.reports: on_new_alert``: an alert the day before did not have): a report
    costs seconds of CPU, and on the demo's quiet days, or the days a drift lasts, it would
    only repeat the day before (the metrics, alerts and the retrain policy's evidence are
    computed every day either way).

    With fewer rows a day than the spec's (``factor`` < 1), the row counts that stand for
    *days of data* are scaled by ``factor``: ``training.split.min_train_rows``, the promotion
    slices' ``min_rows`` and ``retraining.min_fresh_labels`` (how much post-change data a
    retrain needs to train on). Not scaled: the label counts a *judgement* rests on
    (``monitoring.min_labels``, ``retraining.min_labels``) — a metric's noise depends on how
    many labels it is computed from, not on a day's volume, so fewer rows a day means realised
    figures pool more days (see :func:`mlstack.monitoring.windows.labelled_window`) or wait,
    never that they count on fewer labels. Days, money and thresholds are unchanged too."""

    def scale(n: int) -> int:
        return max(1, round(n * factor))

    data = spec.model_dump(by_alias=True, exclude={"path"}, mode="json")
    data["training"]["split"]["min_train_rows"] = scale(spec.training.split.min_train_rows)
    for sl in data.get("promotion", {}).get("slices", []):
        sl["min_rows"] = scale(sl["min_rows"])
    if isinstance((data.get("retraining") or {}).get("min_fresh_labels"), int):
        data["retraining"]["min_fresh_labels"] = scale(data["retraining"]["min_fresh_labels"])
    if not full:
        data["monitoring"]["reports"] = "on_new_alert"
    latency = data.get("promotion", {}).get("max_latency_ms")
    if latency is not None:  # in-process timing on a shared CPU: see demo.rollout's docstring
        data["promotion"]["max_latency_ms"] = max(latency, DEMO_MAX_P99_LATENCY_MS)
    folder = settings.home / "usecases" / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    if spec.path is not None:
        for extra in Path(spec.path).parent.glob("*.py"):
            shutil.copy(extra, folder / extra.name)
    how = f"row-count thresholds scaled by {factor:g}" if factor != 1 else "rows as the spec's"
    reports = "daily reports" if full else "reports on days with a new alert"
    text = f"# {spec.name} for `mlstack demo`: {how}, {reports}\n" + yaml.safe_dump(
        data, sort_keys=False
    )
    target = folder / "usecase.yaml"
    if not target.exists() or target.read_text() != text:  # unchanged: DAGs need no re-parse
        target.write_text(text)
    os.environ["MLSTACK_USECASES_DIR"] = str(folder.parent)
    get_settings.cache_clear()
    return get_settings()


def up_to_shock(days: list[date], shock: str) -> list[date]:
    """The days a batch may take from ``days``: those before the scripted ``shock`` day; that
    day alone (its event is told with it); after it, all of them."""
    before = [d for d in days if str(d) < shock]
    if before:
        return before
    return days[:1] if str(days[0]) == shock else days


def reset(settings: Settings | None = None) -> None:
    """Forget everything the demo made (data, lake, databases, Airflow home)."""
    s = settings or get_settings()
    if s.database_url.startswith("sqlite:") and s.lake_url.startswith("file:"):
        shutil.rmtree(s.home, ignore_errors=True)
        return
    raise MlstackError(
        "demo reset only deletes embedded data (sqlite + local lake); "
        "for the stack use `make clean`"
    )


def run(
    usecase: str = "credit_default",
    days: int = 30,
    rows: int | None = None,
    start: date | None = None,
    progress: Progress | None = None,
    train_every: int = 0,
    full: bool = False,
) -> tuple[DemoContext, list[DayResult]]:
    """Run ``days`` days of ``usecase`` through its DAGs; return the per-day results.

    ``progress`` hears of each stage, day and story event as it happens (see
    :class:`~mlstack.demo.progress.Progress`).

    ``train_every``: also train every this many days of new labels (0: only the first model
    and the retrain requests; see :mod:`mlstack.demo.steps` for why that is the default).
    ``full``: an Evidently report every monitored day, not only on alert days
    (:func:`demo_usecases`).
    """

    # the demo's spec copy (_run points MLSTACK_USECASES_DIR at it) is for this run only
    with scoped_environ(MLSTACK_USECASES_DIR=os.environ.get("MLSTACK_USECASES_DIR")):
        return _run(usecase, days, rows, start, progress, train_every, full)


def _run(
    usecase: str,
    days: int,
    rows: int | None,
    start: date | None,
    progress: Progress | None,
    train_every: int = 0,
    full: bool = False,
) -> tuple[DemoContext, list[DayResult]]:
    tell = progress or Progress()
    s = get_settings()
    s.home.mkdir(parents=True, exist_ok=True)
    log_file = s.home / "demo.log"
    spec = get_spec(usecase, s.usecases_dir)
    if spec.simulator is None:
        raise MlstackError(
            f"use case {usecase!r} has no simulator; the demo simulates its data, so it runs "
            f"only use cases with a 'simulator:' section. {usecase} reads its "
            f"own data ({spec.source.kind} source): fill its source and trigger its DAGs "
            "in the stack (README: 'Write your own DAG')"
        )
    simulator = spec.simulator  # the demo's copy below leaves it as it is
    s = demo_usecases(spec, min(1.0, rows / simulator.rows_per_day) if rows else 1.0, s, full=full)
    spec = get_spec(usecase, s.usecases_dir)
    sim = simulator.model_copy(update={"rows_per_day": rows or simulator.rows_per_day})
    first = start or sim.start
    tell.stage("preparing Airflow (first run migrates its database)")
    prepare_airflow(s, log_file)
    with quiet(log_file):
        dags = load_dags()
    ctx = DemoContext(
        usecase,
        s,
        dags,
        log_file,
        spec.model_copy(update={"simulator": sim}),
        [first + timedelta(days=i) for i in range(days)],
        train_every=train_every,
        full=full,
        on_event=tell.event,
    )
    shock = int((sim.options or {}).get("shock_after_days", -1))
    scripted = None
    if 0 <= shock < days:
        scripted = (
            str(first + timedelta(days=shock)),
            "scripted shock",
            "simulator: incomes down, debt ratios and default rate up (labels show it only later)",
        )
        ctx.timeline.append(scripted)
    results: list[DayResult] = []
    ingested: list[DayResult] = []  # ingested by a monitored batch that stopped early
    while len(results) < days:
        rest = ctx.days[len(results) :]
        if scripted:
            rest = up_to_shock(rest, scripted[0])
        calm = quiet_days(ctx, rest)
        if calm > 1:  # days with nothing to show but ingestion: one run for all of them
            batch = [DayResult(d) for d in rest[:calm]]
            tell.day_started(len(results) + 1, days, batch[0].day)
            step_ingest_days(ctx, batch)
            for result in batch:
                results.append(result)
                tell.day_done(len(results), days, result)
            continue
        watch = watched_days(ctx, rest, len(ingested))
        if watch > 1 or ingested:  # monitored days: one ingest, catalog and monitor run
            tell.day_started(len(results) + 1, days, rest[0])
            fresh = [DayResult(d) for d in rest[len(ingested) : watch]]
            if fresh:
                step_ingest_days(ctx, fresh)
            batch = ingested + fresh

            def monitored(result: DayResult) -> None:
                results.append(result)
                tell.day_done(len(results), days, result)

            ingested = batch[step_monitor_days(ctx, batch, monitored) :]
            continue
        day = rest[0]
        tell.day_started(len(results) + 1, days, day)
        if scripted and scripted[0] == str(day):
            tell.event(*scripted)
        result = DayResult(day)
        for step in STEPS:
            step(ctx, day, result)
        results.append(result)
        tell.day_done(len(results), days, result)
    tell.stage("re-training the newest model on its own snapshots")
    for final in FINAL_STEPS:
        final(ctx, results)
    return ctx, results
