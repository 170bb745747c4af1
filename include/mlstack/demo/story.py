"""The embedded demo: days of simulated data through the real DAGs, in-process.

``mlstack demo`` lands each day's files with the use case's simulator, then runs
``<usecase>__ingest`` and ``<usecase>__catalog`` with ``dag.test()`` against a local
Airflow metadata DB (SQLite under ``MLSTACK_HOME``), trains the first model once labels
allow, and monitors each day (:mod:`mlstack.demo.monitoring`: retrain requests, the rollout of
every challenger the day it appears, the timeline); it ends with summary tables.
Later stages add their DAGs to :data:`DAY_STEPS` / :data:`FINAL_STEPS`.
Running it again replaces the same days (idempotent); ``--reset`` starts over.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from mlstack.exceptions import MlstackError
from mlstack.settings import Settings, get_settings

PROJECT_DIR = Path(__file__).resolve().parents[3]  # include/mlstack/demo/story.py
DAGS_DIR = PROJECT_DIR / "dags"


@dataclass
class DayResult:
    """What the DAGs did for one day (one summary row)."""

    day: date
    ingest: dict[str, dict[str, Any]] = field(default_factory=dict)
    catalog: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def airflow_env(settings: Settings) -> dict[str, str]:
    """Environment for an in-process Airflow on SQLite under ``settings.home``."""
    home = settings.home / "airflow"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    }


def prepare_airflow(settings: Settings, log_file: Path) -> None:
    """Point Airflow at the demo's folder and migrate its DB once (~10 s the first time)."""
    for key, value in airflow_env(settings).items():
        os.environ.setdefault(key, value)
    home = Path(os.environ["AIRFLOW_HOME"])
    marker = home / ".mlstack-migrated"
    if marker.exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    with log_file.open("a") as out:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            stdout=out,
            stderr=out,
            env=os.environ.copy(),
            check=False,
        )
    if done.returncode != 0:
        raise MlstackError(f"`airflow db migrate` failed (exit {done.returncode}); see {log_file}")
    marker.touch()


@contextlib.contextmanager
def quiet(log_file: Path) -> Iterator[None]:
    """Send Airflow's own console output to ``log_file`` while a DAG runs."""
    with (
        log_file.open("a") as out,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(out),
    ):
        yield


def load_dags() -> dict[str, Any]:
    """The project's DAGs as the dag-processor sees them (fails on import errors)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    if bag.import_errors:
        raise MlstackError(f"the dags folder has import errors: {bag.import_errors}")
    return bag.dags


def run_dag(
    dags: dict[str, Any], dag_id: str, conf: dict[str, Any] | None, log_file: Path
) -> dict[str, Any]:
    """Run one DAG with ``dag.test()``; return its tasks' return values; fail loudly on failure."""
    if dag_id not in dags:
        raise MlstackError(f"DAG {dag_id} does not exist; known: {sorted(dags)}")
    with quiet(log_file):
        run = dags[dag_id].test(logical_date=None, run_conf=conf or {})
    state = str(getattr(run.state, "value", run.state))
    if state != "success":
        raise MlstackError(
            f"DAG {dag_id} ended {state} (conf {conf}); see {log_file} for the task logs"
        )
    return task_results(run)


def task_results(run: Any) -> dict[str, Any]:
    """Return values (XComs) of a finished run's tasks, by task id."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter(
            XComModel.dag_id == run.dag_id,
            XComModel.run_id == run.run_id,
            XComModel.key == "return_value",
        )
        return {r.task_id: XComModel.deserialize_value(r) for r in rows}


def step_ingest(ctx: DemoContext, day: date, result: DayResult) -> None:
    """Land the day's files, then ingest and catalog them through the DAGs."""
    from mlstack.sources import land

    land(ctx.spec_for_landing, day, ctx.settings)
    out = run_dag(ctx.dags, f"{ctx.usecase}__ingest", {"day": day.isoformat()}, ctx.log_file)
    result.ingest = {
        k.removeprefix("ingest_"): v for k, v in out.items() if k.startswith("ingest_")
    }
    cat = run_dag(ctx.dags, f"{ctx.usecase}__catalog", None, ctx.log_file)
    result.catalog = cat.get("record_versions") or []


@dataclass
class DemoContext:
    """Everything a demo step needs."""

    usecase: str
    settings: Settings
    dags: dict[str, Any]
    log_file: Path
    spec_for_landing: Any
    days: list[date]
    #: The story as (day, event, evidence) rows, printed as the closing timeline.
    timeline: list[tuple[str, str, str]] = field(default_factory=list)
    #: Scratch state of the story steps (last policy decision, alerts already shown).
    story_state: dict[str, Any] = field(default_factory=dict)
    #: Train every this many days of new labels besides retrain requests (0: first model only).
    train_every: int = 0


Step = Callable[[DemoContext, date, DayResult], None]
#: Run for every day, in order. Later stages append theirs (train, promote, ...).
DAY_STEPS: list[Step] = [step_ingest]
#: Run once after the last day: ``(ctx, results) -> rows for the closing summary``.
FINAL_STEPS: list[Callable[[DemoContext, list[DayResult]], None]] = []


def scaled_usecases(spec: Any, factor: float, settings: Settings) -> Settings:
    """With fewer rows a day than the spec's, scale the row counts that stand for *days of
    data* by the same ``factor``, in a copy of the spec under ``MLSTACK_HOME/usecases``; the
    demo's DAGs read that copy. Scaled: ``training.split.min_train_rows``, the promotion
    slices' ``min_rows`` and ``retraining.min_fresh_labels`` (how much post-change data a
    retrain needs to train on). Not scaled: the label counts a *judgement* rests on
    (``monitoring.min_labels``, ``retraining.min_labels``) — a metric's noise depends on how
    many labels it is computed from, not on a day's volume, so fewer rows a day means realised
    figures pool more days (see :func:`mlstack.stages.monitor.labelled_window`) or wait,
    never that they count on fewer labels. Days, money and thresholds are unchanged too."""
    import yaml

    def scale(n: int) -> int:
        return max(1, round(n * factor))

    data = spec.model_dump(by_alias=True, exclude={"path"}, mode="json")
    data["training"]["split"]["min_train_rows"] = scale(spec.training.split.min_train_rows)
    for sl in data.get("promotion", {}).get("slices", []):
        sl["min_rows"] = scale(sl["min_rows"])
    if isinstance((data.get("retraining") or {}).get("min_fresh_labels"), int):
        data["retraining"]["min_fresh_labels"] = scale(data["retraining"]["min_fresh_labels"])
    folder = settings.home / "usecases" / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    if spec.path is not None:
        for extra in Path(spec.path).parent.glob("*.py"):
            shutil.copy(extra, folder / extra.name)
    (folder / "usecase.yaml").write_text(
        f"# {spec.name} scaled by {factor:g} for `mlstack demo --rows` (row-count thresholds)\n"
        + yaml.safe_dump(data, sort_keys=False)
    )
    os.environ["MLSTACK_USECASES_DIR"] = str(folder.parent)
    get_settings.cache_clear()
    return get_settings()


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
    progress: Callable[[str], None] | None = None,
    train_every: int = 0,
) -> tuple[DemoContext, list[DayResult]]:
    """Run ``days`` days of ``usecase`` through its DAGs; return the per-day results.

    ``train_every``: also train every this many days of new labels (0: only the first model
    and the retrain requests; see :mod:`mlstack.demo.monitoring` for why that is the default).
    """

    before = os.environ.get("MLSTACK_USECASES_DIR")
    try:
        return _run(usecase, days, rows, start, progress, train_every)
    finally:  # a scaled spec copy is for this run only
        if before is None:
            os.environ.pop("MLSTACK_USECASES_DIR", None)
        else:
            os.environ["MLSTACK_USECASES_DIR"] = before
        get_settings.cache_clear()


def _run(
    usecase: str,
    days: int,
    rows: int | None,
    start: date | None,
    progress: Callable[[str], None] | None,
    train_every: int = 0,
) -> tuple[DemoContext, list[DayResult]]:
    from mlstack.specs import get_spec

    s = get_settings()
    s.home.mkdir(parents=True, exist_ok=True)
    log_file = s.home / "demo.log"
    spec = get_spec(usecase, s.usecases_dir)
    if rows and spec.simulator and rows < spec.simulator.rows_per_day:
        s = scaled_usecases(spec, rows / spec.simulator.rows_per_day, s)
        spec = get_spec(usecase, s.usecases_dir)
    if spec.simulator is None:
        raise MlstackError(
            f"use case {usecase!r} has no simulator; the demo needs one to land data"
        )
    sim = spec.simulator.model_copy(update={"rows_per_day": rows or spec.simulator.rows_per_day})
    first = start or sim.start
    (progress or (lambda _: None))("preparing Airflow (first run migrates its database)")
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
    )
    shock = int((sim.options or {}).get("shock_after_days", -1))
    if 0 <= shock < days:
        ctx.timeline.append(
            (
                str(first + timedelta(days=shock)),
                "scripted shock",
                "simulator: incomes down, "
                "debt ratios and default rate up (labels show it only later)",
            )
        )
    results = []
    for day in ctx.days:
        (progress or (lambda _: None))(f"day {day}")
        result = DayResult(day)
        for step in DAY_STEPS:
            step(ctx, day, result)
        results.append(result)
    for final in FINAL_STEPS:
        final(ctx, results)
    return ctx, results


# --- training and promotion (the model lifecycle) -------------------------------------------


def labelled_days(ctx: DemoContext, day: date) -> int:
    """How many application days have labels once ``day`` is ingested."""
    from mlstack.specs import get_spec

    spec = get_spec(ctx.usecase, ctx.settings.usecases_dir)
    delay = int((spec.simulator.options if spec.simulator else {}).get("label_delay_days", 0))
    return (day - ctx.days[0]).days + 1 - (delay if spec.labels else 0)


def can_train(ctx: DemoContext, day: date) -> bool:
    """True once the labelled days fill the split with at least ``min_train_rows`` to train on."""
    from mlstack.specs import get_spec

    spec = get_spec(ctx.usecase, ctx.settings.usecases_dir)
    split = spec.training.split
    train_days = labelled_days(ctx, day) - split.holdout_days - split.validation_days
    rows = ctx.spec_for_landing.simulator.rows_per_day
    return train_days > 0 and train_days * rows * 0.98 >= split.min_train_rows


def trained_through(ctx: DemoContext) -> date | None:
    """Last labelled day the newest registered model saw (its holdout's end), if any."""
    from mlstack.specs import get_spec
    from mlstack.stages import promote

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
    retrain requests (see :func:`mlstack.demo.monitoring.step_monitor`)."""
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
    from mlstack.demo.monitoring import add_event, gate_evidence, roll_out

    out = run_dag(ctx.dags, f"{ctx.usecase}__train", conf, ctx.log_file)
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
    if outcome == "challenger":
        note += "; " + roll_out(ctx, day)
    return note


def final_reproduce(ctx: DemoContext, results: list[DayResult]) -> None:
    """Retrain on the newest model's exact snapshots: same metrics, so promotion refuses it."""
    from mlstack.specs import get_spec
    from mlstack.stages import promote

    models = promote.list_models(get_spec(ctx.usecase, ctx.settings.usecases_dir), ctx.settings)
    if not models or not results:
        return
    newest = models[-1]
    conf = {"snapshot": int(newest["features_snapshot"])}
    if newest["labels_snapshot"]:
        conf["labels_snapshot"] = int(newest["labels_snapshot"])
    note = train_and_promote(ctx, conf)
    results[-1].notes.append(f"re-trained on v{newest['version']}'s snapshots: {note}")


DAY_STEPS.append(step_train)
FINAL_STEPS.append(final_reproduce)


from mlstack.demo.monitoring import step_monitor  # noqa: E402 - registers last

DAY_STEPS.append(step_monitor)
