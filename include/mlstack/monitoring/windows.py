"""The monitor's reads: a model's reference rows, the day's windows and their labels.

* **Reference** (:func:`version_reference`): a model version's exact training rows — the
  features (and labels) snapshots and the train/holdout days its MLflow run recorded, read
  back from Iceberg. The holdout rows, scored by the model, calibrate CBPE (or fit DLE); the
  model's holdout value of the watched metric is the bar for realised and estimated
  performance.
* **Current** (:func:`load_window`): the requests the gateway logged that day
  (``predictions``), or — when no gateway runs, as in the embedded demo — that day's rows
  from the lake scored in batch.
* **Labelled** (:func:`labelled_window`): the window ``label_delay_days`` earlier, joined
  with the labels that have arrived since (gateway ``feedback`` or the Iceberg labels
  table), pooled over a few days when one holds too few labels.
* **Skew** (:func:`lake_rows`): the lake's rows of the ids the gateway logged.
* **Fresh labels** (:func:`fresh_labels`): how many labels the retrain policy could learn from.

Nothing here computes a figure (that is :mod:`mlstack.monitoring.compute`) or writes one
(:mod:`mlstack.monitoring.history`).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from mlstack import integrity, lake, modeling, registry, store
from mlstack.monitoring.bars import watched_metric
from mlstack.monitoring.compute import (
    Reference,
    answered,
    performance_metrics,
    source_is_gateway,
)
from mlstack.settings import Settings, get_settings
from mlstack.specs import UseCaseSpec
from mlstack.stages import train
from mlstack.vocabulary import CHAMPION, SHADOW

#: How many days back realised performance may reach to gather ``monitoring.min_labels``.
LABEL_POOL_MAX_DAYS = 14


def _days_param(value: Any) -> tuple[date, date]:
    first, last = str(value).split("..")
    return date.fromisoformat(first), date.fromisoformat(last)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC start of ``day`` and of the day after."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


# --- reference ----------------------------------------------------------------------------------


def champion_reference(spec: UseCaseSpec, settings: Settings | None = None) -> Reference | None:
    """The champion's training and holdout rows at the snapshots its run recorded."""
    s = settings or get_settings()
    champ = registry.get_alias(spec.name, CHAMPION, s)
    if champ is None:
        return None
    return version_reference(spec, int(champ.version), s)


#: References already built in this process, newest last (see :func:`version_reference`).
_references: dict[tuple[Any, ...], Reference] = {}
#: How many references a process keeps (a champion, a challenger and the one before).
REFERENCES_KEPT = 4


def version_reference(
    spec: UseCaseSpec, version: int, settings: Settings | None = None
) -> Reference:
    """A model version's training and holdout rows at the snapshots its run recorded.

    Built once per process and version: a registered version's run, snapshots and model
    never change, and reading them back (Iceberg scans, loading the model, scoring the
    holdout) is most of a monitoring run's cost. A process that monitors day after day (the
    embedded demo runs every DAG in one) reuses it; the cache is keyed by the tracking and
    lake URLs, the version's run and the whole spec, so nothing else can hit it. Callers
    read a reference, never change it. The model's digest is checked when the reference is
    built: once per task process in the stack, once per version in the demo's one process.
    """
    s = settings or get_settings()
    mv = registry.get_version(spec.name, version, s)
    key = (
        s.mlflow_tracking_uri,
        s.lake_url,
        int(mv.version),
        str(mv.run_id),
        spec.model_dump_json(),
    )
    if key not in _references:
        _references[key] = _build_reference(spec, mv, s)
        while len(_references) > REFERENCES_KEPT:
            del _references[next(iter(_references))]
    return _references[key]


def _build_reference(spec: UseCaseSpec, mv: Any, s: Settings) -> Reference:
    """Read a version's reference back: its run's snapshots, train and holdout days, model.

    The model's files are checked against the digest mlstack recorded before anything is
    read (:func:`mlstack.integrity.load_verified`); a version that fails is refused.
    """
    model = integrity.load_verified(spec, int(mv.version), s).model  # before reading data
    run = registry.client(s).get_run(str(mv.run_id))
    params = run.data.params
    labels_snap = params.get("labels_snapshot")
    frame, _ = train.load_frame(
        spec,
        int(params["features_snapshot"]),
        int(labels_snap) if labels_snap not in (None, "None", "") else None,
        s,
    )
    days = frame[spec.schema.timestamp_column].dt.date
    t0, t1 = _days_param(params["train_days"])
    h0, h1 = _days_param(params["holdout_days"])
    reference = frame[(days >= t0) & (days <= t1)]
    if len(reference) > spec.monitoring.reference_rows:
        reference = reference.sample(n=spec.monitoring.reference_rows, random_state=0)
    holdout = frame[(days >= h0) & (days <= h1)].copy()
    holdout["_score"], _ = modeling.predict(spec, model, modeling.model_input(spec, holdout))
    holdout["_label"] = pd.to_numeric(holdout[spec.schema.target_column], errors="coerce")
    ref = Reference(int(mv.version), str(mv.run_id), model, reference, holdout, "", None)
    ref.metric = watched_metric(spec)
    ref.value = performance_metrics(spec, ref, holdout, estimated=False).get(ref.metric)
    return ref


# --- the day's rows -----------------------------------------------------------------------------


def gateway_window(spec: UseCaseSpec, day: date, settings: Settings) -> pd.DataFrame:
    """The day's logged predictions as features + ``_score`` + ``_version`` + ``_variant``.

    Shadow rows are included: they are the challenger's scores of the same requests, so a
    rollout's shadow stage gives the challenger its own metrics
    (:func:`~mlstack.monitoring.compute.answered` counts the requests themselves)."""
    p = store.predictions.c
    start, end = day_bounds(day)
    with store.engine(settings).connect() as conn:
        rows = conn.execute(
            sa.select(
                p.prediction_id,
                p.entity_id,
                p.model_version,
                p.variant,
                p.features,
                p.score,
                p.prediction,
            ).where(
                p.usecase == spec.name,
                p.created_at >= start,
                p.created_at < end,
            )
        ).all()
    if not rows:
        return pd.DataFrame()
    feats = pd.DataFrame(
        [r.features if isinstance(r.features, dict) else json.loads(r.features) for r in rows]
    )
    scores = [
        r.score if spec.task == "classification" and r.score is not None else r.prediction
        for r in rows
    ]
    feats[spec.schema.id_column] = [r.entity_id for r in rows]
    feats["_prediction_id"] = [r.prediction_id for r in rows]
    feats["_version"] = [r.model_version for r in rows]
    feats["_variant"] = [r.variant for r in rows]
    feats["_score"] = np.asarray(scores, dtype=float)
    return feats


#: A day of the lake's rows scored by a model run, kept for this process (:func:`lake_window`):
#: ``(run id, version, table, the day's data files) -> rows``, the newest WINDOW_MEMO_SIZE.
_window_memo: OrderedDict[tuple[Any, ...], pd.DataFrame] = OrderedDict()
WINDOW_MEMO_SIZE = 64


def lake_window(spec: UseCaseSpec, day: date, ref: Reference, settings: Settings) -> pd.DataFrame:
    """The day's rows from the lake, scored by the reference's model (batch monitoring).

    Read and scored once per model run and set of the day's data files in this process:
    the realised window pools the newest labelled days (:func:`labelled_window`), so each
    monitored day reads again the days the day before read. Iceberg data files are never
    rewritten (a changed day is new files), so the same files are the same rows. Callers
    get a copy."""
    from pyiceberg.io.pyarrow import ArrowScan

    table = lake.load_table(spec.table_name(), settings)
    scan = table.scan(row_filter=f"{spec.schema.timestamp_column} == '{day.isoformat()}'")
    tasks = list(scan.plan_files())
    files = tuple(
        (t.file.file_path, tuple(d.file_path for d in t.delete_files))
        for t in sorted(tasks, key=lambda t: t.file.file_path)
    )
    key = (ref.run_id, ref.version, settings.lake_url, table.name(), files)
    if key not in _window_memo:
        arrow = ArrowScan(
            table.metadata, table.io, scan.projection(), scan.row_filter, scan.case_sensitive
        ).to_table(tasks)
        df = arrow.to_pandas()
        if not df.empty:
            df["_score"] = lake_scores(spec, ref, modeling.model_input(spec, df))
            df["_version"] = ref.version
        _window_memo[key] = df
        while len(_window_memo) > WINDOW_MEMO_SIZE:
            _window_memo.popitem(last=False)
    _window_memo.move_to_end(key)
    return _window_memo[key].copy()


#: Scores of the lake's rows by a model run, kept for this process (:func:`lake_scores`):
#: ``(run id, digest of the rows) -> scores``, the newest :data:`SCORE_MEMO_SIZE`.
_score_memo: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
SCORE_MEMO_SIZE = 64


def lake_scores(spec: UseCaseSpec, ref: Reference, inputs: pd.DataFrame) -> np.ndarray:
    """The reference model's scores of ``inputs`` (one day of the lake's rows, as the model
    takes them), computed once per model run and identical rows in this process.

    The realised window pools the newest labelled days (:func:`labelled_window`), so each
    monitored day scores again what the day before scored: a monitor run over a range of days
    (and the demo, which runs every DAG in one process) scores each day once per model. The
    key is the model's MLflow run and a digest of the rows' names and values, so a day whose
    rows changed (ingested again) is scored again."""
    rows = pd.util.hash_pandas_object(inputs, index=False).to_numpy()
    digest = hashlib.sha256("\x1f".join(map(str, inputs.columns)).encode() + rows.tobytes())
    key = (ref.run_id, digest.hexdigest())
    if key not in _score_memo:
        _score_memo[key], _ = modeling.predict(spec, ref.model, inputs)
        while len(_score_memo) > SCORE_MEMO_SIZE:
            _score_memo.popitem(last=False)
    _score_memo.move_to_end(key)
    return _score_memo[key].copy()


#: Ids per ``IN (...)`` query when labels are looked up by id (below SQLite's variable limit).
LOOKUP_CHUNK = 5_000


def _matches(p: Any, f: Any, by: str, known_before: datetime | None) -> Any:
    """Feedback ``f`` that labels prediction ``p``: sent with its prediction id, or with its
    entity id (a label of the entity labels all its predictions); received before
    ``known_before`` when given."""
    key = (
        f.prediction_id == p.prediction_id
        if by == "prediction"
        else sa.and_(p.entity_id.is_not(None), f.entity_id == p.entity_id)
    )
    cond = [f.usecase == p.usecase, key]
    if known_before is not None:
        cond.append(f.received_at < known_before)
    return sa.and_(*cond)


def _in_range(p: Any, usecase: str, start: datetime, end: datetime) -> Any:
    """Predictions of ``usecase`` logged in ``[start, end)`` (shadow scores included: they
    take the labels of the requests they scored)."""
    return sa.and_(p.usecase == usecase, p.created_at >= start, p.created_at < end)


def gateway_labels(
    usecase: str,
    start: datetime,
    end: datetime,
    settings: Settings,
    *,
    known_before: datetime | None = None,
) -> dict[str, float]:
    """Labels of the predictions logged in ``[start, end)``, by prediction id.

    Joined in the database (no id lists), streamed in chunks: feedback sent with the
    prediction id wins over feedback sent with the entity id; of several labels for one
    prediction (or one entity) the last received counts. Memory is one entry per labelled
    prediction of the range.
    """
    p, f = store.predictions.c, store.feedback.c
    out: dict[str, float] = {}
    with store.engine(settings).connect() as conn:
        for by in ("entity", "prediction"):  # prediction-id labels overwrite entity ones
            query = (
                sa.select(p.prediction_id, f.label)
                .select_from(
                    store.predictions.join(store.feedback, _matches(p, f, by, known_before))
                )
                .where(_in_range(p, usecase, start, end))
                .order_by(f.received_at, f.id)
            )
            result = conn.execution_options(yield_per=LOOKUP_CHUNK).execute(query)
            for part in result.partitions():
                out.update((pid, float(label)) for pid, label in part)
    return out


def gateway_labelled_count(
    usecase: str, start: datetime, end: datetime, known_before: datetime, settings: Settings
) -> int:
    """How many answered predictions logged in ``[start, end)`` have a label received before
    ``known_before``: the rows :func:`gateway_labels` labels, counted in the database."""
    p = store.predictions.alias("p")
    f = store.feedback.alias("f")

    def labelled(by: str) -> Any:
        return sa.exists().where(_matches(p.c, f.c, by, known_before))

    query = (
        sa.select(sa.func.count())
        .select_from(p)
        .where(
            _in_range(p.c, usecase, start, end),
            p.c.variant != SHADOW,
            sa.or_(labelled("prediction"), labelled("entity")),
        )
    )
    with store.engine(settings).connect() as conn:
        return int(conn.execute(query).scalar_one())


def entity_labels(usecase: str, ids: list[str], settings: Settings) -> dict[str, float]:
    """Gateway labels sent with an entity id, for ``ids`` (all of them, in chunks); the last
    received counts."""
    f = store.feedback.c
    out: dict[str, float] = {}
    with store.engine(settings).connect() as conn:
        for i in range(0, len(ids), LOOKUP_CHUNK):
            rows = conn.execute(
                sa.select(f.entity_id, f.label)
                .where(f.usecase == usecase, f.entity_id.in_(ids[i : i + LOOKUP_CHUNK]))
                .order_by(f.received_at, f.id)
            )
            out.update((entity, float(label)) for entity, label in rows)
    return out


#: The labels table's labels by id as last read: (table, snapshot id) and the labels.
_lake_labels: tuple[tuple[Any, ...], pd.Series] | None = None


def lake_labels(spec: UseCaseSpec, settings: Settings) -> pd.Series:
    """The lake's labels by entity id (the last of an id's labels counts), read once per
    snapshot of the labels table: pooling a labelled window reads them for every day it
    looks at, and they only change when labels are ingested."""
    global _lake_labels
    sch = spec.schema
    table = lake.load_table(spec.table_name("labels"), settings)
    snapshot = table.current_snapshot()
    key = (settings.lake_url, spec.table_name("labels"), snapshot and snapshot.snapshot_id)
    if _lake_labels is None or _lake_labels[0] != key:
        labels = table.scan(selected_fields=(sch.id_column, str(sch.target_column))).to_pandas()
        labels = labels.drop_duplicates(sch.id_column, keep="last").set_index(sch.id_column)
        _lake_labels = (key, labels[sch.target_column])
    return _lake_labels[1]


def attach_labels(
    spec: UseCaseSpec, window: pd.DataFrame, settings: Settings, day: date | None = None
) -> pd.DataFrame:
    """Add ``_label`` from the lake's labels and gateway feedback (NaN where none yet).

    A gateway window (``day`` given, ``_prediction_id`` present) takes the feedback of its
    predictions by prediction id or entity id (:func:`gateway_labels`); a lake window takes
    feedback sent with its entity ids. A label from the lake comes first.
    """
    sch = spec.schema
    out = window.copy()
    out["_label"] = np.nan
    if out.empty:
        return out
    if sch.target_column in out.columns and spec.labels is None:
        out["_label"] = pd.to_numeric(out[sch.target_column], errors="coerce")
    if spec.labels is not None:
        out["_label"] = out[sch.id_column].map(lake_labels(spec, settings)).astype(float)
    if day is not None and "_prediction_id" in out.columns:
        start, end = day_bounds(day)
        got = out["_prediction_id"].map(gateway_labels(spec.name, start, end, settings))
    else:
        ids = [str(i) for i in out[sch.id_column].dropna().unique()]
        got = out[sch.id_column].astype(str).map(entity_labels(spec.name, ids, settings))
    out["_label"] = out["_label"].where(out["_label"].notna(), got.astype(float))
    return out


def load_window(
    spec: UseCaseSpec, day: date, ref: Reference, settings: Settings
) -> tuple[pd.DataFrame, str]:
    """Current rows of ``day`` and where they came from (``gateway`` or ``lake``)."""
    window = gateway_window(spec, day, settings)
    if not window.empty:
        return attach_labels(spec, window, settings, day), "gateway"
    return attach_labels(spec, lake_window(spec, day, ref, settings), settings), "lake"


def labelled_window(
    spec: UseCaseSpec, lday: date, ref: Reference, settings: Settings
) -> pd.DataFrame:
    """The rows realised performance is judged on: ``lday``'s, and while they hold fewer than
    ``monitoring.min_labels`` labels, the days before it too (at most LABEL_POOL_MAX_DAYS).

    A day's realised metric on a few hundred labels is mostly noise (business value per row
    has a standard deviation of hundreds of EUR), so a low-volume use case pools its newest
    labelled days instead of judging each on too few; ``attrs["days"]`` names the pooled span.
    Pooling stops at a day without rows and never reaches before the model's holdout (the
    days it was fitted or validated on would flatter it).
    """
    ts = spec.schema.timestamp_column
    floor = ref.holdout[ts].dt.date.min() if not ref.holdout.empty else None
    frames = []
    first, labelled = lday, 0
    for back in range(LABEL_POOL_MAX_DAYS):
        day = lday - timedelta(days=back)
        if back and floor is not None and day < floor:
            break
        window = load_window(spec, day, ref, settings)[0]
        if window.empty:
            break
        first = day
        frames.append(window)
        labelled += int(answered(window)["_label"].notna().sum())
        if labelled >= spec.monitoring.min_labels:
            break
    out = pd.concat(frames[::-1], ignore_index=True) if frames else pd.DataFrame()
    out.attrs["days"] = (first.isoformat(), lday.isoformat())
    return out


def lake_rows(spec: UseCaseSpec, current: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The lake's rows (id + model features) of the entity ids the gateway logged.

    At most ``monitoring.skew_sample_rows`` ids (a fixed-seed sample) are looked up; empty
    when the rows came from the lake itself, or the lake has none of those ids (yet).
    """
    from pyiceberg.expressions import In  # lazy: PyIceberg is slow to import, see mlstack.lake

    sch = spec.schema
    if current.empty or not source_is_gateway(current):
        return pd.DataFrame()
    ids = np.asarray(sorted({str(i) for i in current[sch.id_column].dropna()}), dtype=object)
    limit = spec.monitoring.skew_sample_rows
    if len(ids) > limit:
        ids = np.random.default_rng(0).choice(ids, size=limit, replace=False)
    if not len(ids):
        return pd.DataFrame()
    wanted: set[Any] = set(ids.tolist())
    if sch.columns[sch.id_column].type == "int":
        wanted = {int(i) for i in wanted if str(i).lstrip("-").isdigit()}
    table = lake.load_table(spec.table_name(), settings)
    frame = (
        table.scan(
            row_filter=In(sch.id_column, wanted),  # type: ignore[call-arg,arg-type]  # pydantic stub
            selected_fields=(sch.id_column, *modeling.feature_columns(spec)),
        )
        .to_arrow()
        .to_pandas()
    )
    frame[sch.id_column] = frame[sch.id_column].astype(str)
    return frame.drop_duplicates(sch.id_column, keep="last")


def fresh_labels(spec: UseCaseSpec, since: date, until: date, settings: Settings) -> int:
    """Labels known on ``until`` for rows dated on or after ``since``."""
    sch = spec.schema
    if spec.labels is not None:
        name, column, field = spec.table_name("labels"), spec.labels.timestamp_column, sch.id_column
        first = since + timedelta(days=sch.label_delay_days)
    else:
        name, column, field = spec.table_name(), sch.timestamp_column, sch.target_column or ""
        first = since
    table = lake.load_table(name, settings)
    rows = table.scan(
        row_filter=f"{column} >= '{first.isoformat()}' and {column} <= '{until.isoformat()}'",
        selected_fields=(field,),
    ).to_arrow()
    lake_labels = len(rows) - rows.column(0).null_count
    start, _ = day_bounds(since)
    _, end = day_bounds(until)
    gateway = gateway_labelled_count(spec.name, start, end, end, settings)
    return max(int(lake_labels), gateway)
