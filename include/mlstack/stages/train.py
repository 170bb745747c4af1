"""Training: an exact Iceberg snapshot → time-based split → fit → one MLflow run → a registered
version with alias ``candidate``.

The rows come from the features table at one snapshot id (and, when labels are delivered
apart, the labels table at one snapshot id, joined on the id column); both ids are recorded,
so ``mlstack train --snapshot S --labels-snapshot L`` reads the same rows again. The split is
by whole days of the timestamp column — oldest days train, the next ``validation_days``
validate, the newest ``holdout_days`` are the holdout promotion compares on — so no day
ever feeds two sets. The run holds params, validation and holdout metrics (business value
from the cost matrix for classification), per-slice holdout metrics, the dataset inputs
(table + snapshot id + digest), the signature and an input example, explicit requirements
and the git commit; the catalog gets lineage dataset version → run → model version.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlstack import integrity, lake, modeling, plugins, registry, store
from mlstack.exceptions import DatasetNotFound, NotEnoughData, TrainingError
from mlstack.settings import Settings, get_settings
from mlstack.specs import UseCaseSpec
from mlstack.vocabulary import CANDIDATE

if TYPE_CHECKING:
    from pyiceberg.table import Table

log = logging.getLogger(__name__)


@dataclass
class DataSnapshot:
    """Which rows a training read: tables and snapshot ids (labels only when separate)."""

    features_table: str
    features_snapshot: int
    labels_table: str | None = None
    labels_snapshot: int | None = None
    rows: int = 0

    def tags(self) -> dict[str, str]:
        """Model-version / run tags naming the snapshots."""
        tags = {
            "mlstack.features_table": self.features_table,
            "mlstack.features_snapshot": str(self.features_snapshot),
        }
        if self.labels_table is not None:
            tags["mlstack.labels_table"] = self.labels_table
            tags["mlstack.labels_snapshot"] = str(self.labels_snapshot)
        return tags


@dataclass
class Split:
    """Train / validation / holdout rows, split by whole days; ``days`` = (first, last) each."""

    train: pd.DataFrame
    validation: pd.DataFrame
    holdout: pd.DataFrame
    days: dict[str, tuple[str, str]]


@dataclass
class TrainResult:
    """What one training produced."""

    usecase: str
    run_id: str
    model_name: str
    version: int
    snapshot: DataSnapshot
    days: dict[str, tuple[str, str]]
    rows: dict[str, int]
    metrics: dict[str, float]
    primary_metric: str
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (Asset event extra, XCom, CLI)."""
        return asdict(self)


# --- reading an exact snapshot ------------------------------------------------------------


def _snapshot_id(table: Table, ident: str, wanted: int | None) -> int:
    if wanted is None:
        current = table.current_snapshot()
        if current is None:
            raise NotEnoughData(f"table {ident} has no data yet; ingest some days first")
        return int(current.snapshot_id)
    if table.snapshot_by_id(int(wanted)) is None:
        recent = [s.snapshot_id for s in table.snapshots()][-5:]
        raise DatasetNotFound(
            f"snapshot {wanted} does not exist in table {ident}; its latest snapshots are "
            f"{recent} (see `mlstack catalog show`)"
        )
    return int(wanted)


def _load_table(spec: UseCaseSpec, dataset: str, s: Settings) -> tuple[Table, str]:
    return lake.load_table(spec.table_name(dataset), s), lake.table_identifier(
        spec.table_name(dataset), s
    )


def load_frame(
    spec: UseCaseSpec,
    snapshot_id: int | None = None,
    labels_snapshot_id: int | None = None,
    settings: Settings | None = None,
) -> tuple[pd.DataFrame, DataSnapshot]:
    """Labelled rows at exact snapshots (default: the current ones), sorted by time and id.

    With separate labels, features and labels are joined on the id column and only rows
    with a label are kept. Rows without a target are dropped (they are not labelled yet).
    """
    s = settings or get_settings()
    sch = spec.schema
    if sch.target_column is None:
        raise TrainingError(f"{spec.path}: schema.target_column is not set; nothing to learn")
    table, ident = _load_table(spec, "features", s)
    snap = DataSnapshot(ident, _snapshot_id(table, ident, snapshot_id))
    frame = table.scan(snapshot_id=snap.features_snapshot).to_arrow().to_pandas()
    if spec.labels is not None:
        ltable, lident = _load_table(spec, "labels", s)
        snap.labels_table = lident
        snap.labels_snapshot = _snapshot_id(ltable, lident, labels_snapshot_id)
        labels = ltable.scan(snapshot_id=snap.labels_snapshot).to_arrow().to_pandas()
        labels = labels.sort_values(spec.labels.timestamp_column, kind="stable")
        labels = labels.drop_duplicates(sch.id_column, keep="last")[
            [sch.id_column, sch.target_column]
        ]
        frame = frame.drop(columns=[sch.target_column], errors="ignore").merge(
            labels, on=sch.id_column, how="inner"
        )
    frame = labelled_rows(spec, frame)
    snap.rows = len(frame)
    return frame, snap


def labelled_rows(spec: UseCaseSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of a table read back that have a target, timestamps naive, sorted by time
    and id (what the split and the fit take)."""
    sch = spec.schema
    frame = frame[frame[str(sch.target_column)].notna()].copy()
    frame[sch.timestamp_column] = pd.to_datetime(frame[sch.timestamp_column]).dt.tz_localize(None)
    frame = frame.sort_values([sch.timestamp_column, sch.id_column], kind="stable")
    return frame.reset_index(drop=True)


# --- splitting by day ---------------------------------------------------------------------


def _days(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].dt.date


def time_split(
    spec: UseCaseSpec, frame: pd.DataFrame, window: tuple[date, date] | None = None
) -> Split:
    """Split labelled rows by whole days: train (oldest), validation, holdout (newest).

    With ``window`` (first, last day; a retrain request's), only the rows of those days are
    split, and ``split.window_days`` does not trim the train days: the request chose them.
    """
    cfg = spec.training.split
    if window is not None:
        frame = holdout_rows(spec, frame, window[0].isoformat(), window[1].isoformat())
    days_of_row = _days(frame, spec.schema.timestamp_column)
    days = sorted(set(days_of_row))
    need = cfg.holdout_days + cfg.validation_days
    if len(days) <= need:
        seen = f"from {days[0]} to {days[-1]}" if days else "none"
        within = f" within the requested window {window[0]}..{window[1]}" if window else ""
        raise NotEnoughData(
            f"empty training window for {spec.name}: {len(days)} labelled day(s){within} "
            f"({seen}); the "
            f"split needs more than holdout_days + validation_days = {need}. Ingest more days "
            "(labels arrive after schema.label_delay_days) or shorten training.split"
        )
    holdout_days = days[-cfg.holdout_days :]
    val_days = days[-need : -cfg.holdout_days]
    train_days = days[:-need]
    if cfg.window_days is not None and window is None:
        train_days = train_days[-cfg.window_days :]
    parts = {}
    for name, chosen in (
        ("train", train_days),
        ("validation", val_days),
        ("holdout", holdout_days),
    ):
        parts[name] = frame[days_of_row.isin(set(chosen))]
    if len(parts["train"]) < cfg.min_train_rows:
        raise NotEnoughData(
            f"empty training window for {spec.name}: {len(parts['train'])} training rows on "
            f"{train_days[0]}..{train_days[-1]}, fewer than split.min_train_rows="
            f"{cfg.min_train_rows}"
        )
    bounds = {"train": train_days, "validation": val_days, "holdout": holdout_days}
    return Split(
        parts["train"],
        parts["validation"],
        parts["holdout"],
        {k: (v[0].isoformat(), v[-1].isoformat()) for k, v in bounds.items()},
    )


def holdout_rows(spec: UseCaseSpec, frame: pd.DataFrame, first: str, last: str) -> pd.DataFrame:
    """The rows of days ``first``..``last`` (inclusive): a recorded holdout, read back."""
    days = _days(frame, spec.schema.timestamp_column)
    return frame[(days >= date.fromisoformat(first)) & (days <= date.fromisoformat(last))]


def target(spec: UseCaseSpec, frame: pd.DataFrame, part: str = "train") -> np.ndarray:
    """The target as numbers; classification must be binary 0/1 with both classes present."""
    col = spec.schema.target_column
    assert col is not None
    if spec.task == "regression":
        return frame[col].astype(float).to_numpy()
    y = frame[col].astype(int).to_numpy()
    classes = sorted(set(y.tolist()))
    if len(classes) < 2:
        raise TrainingError(
            f"single-class target in the {part} rows of {spec.name}: every {col} is "
            f"{classes[0] if classes else '(none)'}; a classifier needs both classes. Wait for "
            "more labels or widen the window (training.split)"
        )
    if classes != [0, 1]:
        raise TrainingError(f"{spec.name}: {col} must be 0/1 for classification, got {classes}")
    return y


# --- training -----------------------------------------------------------------------------


def _evaluate(spec: UseCaseSpec, model: Any, frame: pd.DataFrame, prefix: str) -> dict[str, float]:
    y = target(spec, frame, prefix)
    y_score, y_pred = modeling.predict(spec, model, modeling.model_input(spec, frame))
    out = {f"{prefix}_{k}": v for k, v in modeling.score(spec, y, y_score, y_pred).items()}
    if prefix == "holdout":
        for sl in spec.promotion.slices:
            found = modeling.slice_scores(spec, frame, y, y_score, y_pred, sl.column, sl.min_rows)
            for value, scores in found.items():
                for name, v in scores.items():
                    out[f"holdout_slice.{sl.column}.{value}.{name}"] = v
    return out


def check_config(spec: UseCaseSpec) -> None:
    """Fail fast on a spec naming an unknown estimator, metric or transform."""
    plugins.load_for(spec)
    modeling.metric_names(spec)
    for name in modeling.metric_names(spec):
        modeling.get_metric(name, spec.task)
    for name in spec.training.transforms:
        plugins.get("transforms", name)
    modeling.build_estimator(spec)


def fit(spec: UseCaseSpec, split: Split) -> tuple[Any, dict[str, float], float]:
    """Fit the pipeline on the train rows; return it, its metrics and the fit seconds."""
    x_train = modeling.model_input(spec, split.train)
    y_train = target(spec, split.train, "train")
    pipe = modeling.build_pipeline(spec, x_train.head(200))
    t0 = time.perf_counter()
    pipe.fit(x_train, y_train)
    fit_s = time.perf_counter() - t0
    metrics = {
        **_evaluate(spec, pipe, split.validation, "validation"),
        **_evaluate(spec, pipe, split.holdout, "holdout"),
    }
    return pipe, metrics, fit_s


def _params(
    spec: UseCaseSpec, snap: DataSnapshot, split: Split, window: tuple[date, date] | None = None
) -> dict[str, Any]:
    model = spec.training.model
    params: dict[str, Any] = {
        "estimator": model.estimator if model else modeling.DEFAULT_MODEL,
        "features": ",".join(modeling.feature_columns(spec)),
        "transforms": ",".join(spec.training.transforms) or "-",
        "seed": spec.training.seed,
        "threshold": spec.training.threshold,
        "features_snapshot": snap.features_snapshot,
        "labels_snapshot": snap.labels_snapshot,
        **{f"split.{k}": v for k, v in spec.training.split.model_dump().items()},
        **{f"{k}_days": f"{a}..{b}" for k, (a, b) in split.days.items()},
        **{f"{k}_rows": len(getattr(split, k)) for k in ("train", "validation", "holdout")},
    }
    params.update({f"model.{k}": v for k, v in (model.params if model else {}).items()})
    if window is not None:
        params["training_window"] = f"{window[0].isoformat()}..{window[1].isoformat()}"
    return params


def rows_digest(spec: UseCaseSpec, part: pd.DataFrame) -> str:
    """Fingerprint of a set of rows: their ids and targets, in order (fast on 1M rows)."""
    import hashlib

    cols = [spec.schema.id_column, spec.schema.target_column]
    hashed = pd.util.hash_pandas_object(part[cols], index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def _log_inputs(spec: UseCaseSpec, snap: DataSnapshot, split: Split, s: Settings) -> None:
    """Train/validation/holdout as dataset inputs: Iceberg table + snapshot id + digest.

    Metadata-only datasets: the rows stay in the lake, readable at the recorded snapshot.
    MLflow's pandas dataset would infer a schema over every row (7 s for 100k rows here);
    the schema comes from a sample instead and the digest from ids + targets.
    """
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.models import infer_signature

    schema = infer_signature(modeling.model_input(spec, split.train.head(200))).inputs
    source = registry.iceberg_source(
        snap.features_table, snap.features_snapshot, f"{s.lake_url}/warehouse"
    )
    for context, part in (
        ("training", split.train),
        ("validation", split.validation),
        ("holdout", split.holdout),
    ):
        ds = MetaDataset(  # type: ignore[abstract]  # MLflow's own concrete class; stub says abstract
            source,
            name=f"{snap.features_table}@{snap.features_snapshot}",
            digest=rows_digest(spec, part),
            schema=schema,
        )
        first, last = split.days["train" if context == "training" else context]
        tags = {**snap.tags(), "mlstack.rows": str(len(part)), "mlstack.days": f"{first}..{last}"}
        mlflow.log_input(ds, context=context, tags=tags)


def log_and_register(
    spec: UseCaseSpec,
    pipe: Any,
    metrics: dict[str, float],
    snap: DataSnapshot,
    split: Split,
    *,
    settings: Settings | None = None,
    infer_requirements: bool = False,
    run_tags: dict[str, str] | None = None,
    window: tuple[date, date] | None = None,
) -> tuple[str, int, dict[str, float]]:
    """One MLflow run with everything about the training; register it as ``candidate``.

    Returns the run id, the version and where the time went (``log_model_s``: the model
    artifact alone; ``mlflow_s``: everything MLflow, logging and registry).
    """
    import mlflow
    from mlflow.models import infer_signature

    s = settings or get_settings()
    exp = registry.experiment_id(spec.training.experiment or spec.name, s)
    example = modeling.model_input(spec, split.train.head(5))
    sample = modeling.model_input(spec, split.train.head(500))
    primary = modeling.primary_metric(spec).name
    run_tags = {
        **(run_tags or {}),
        "mlstack.usecase": spec.name,
        "mlstack.task": spec.task,
        **snap.tags(),
    }
    commit = registry.git_commit()
    if commit:
        run_tags["mlflow.source.git.commit"] = commit
    with mlflow.start_run(
        experiment_id=exp, run_name=f"{spec.name}-{split.days['holdout'][1]}", tags=run_tags
    ) as run:
        mlflow.log_params(_params(spec, snap, split, window))
        mlflow.log_metrics(metrics)
        _log_inputs(spec, snap, split, s)
        y_score, _ = modeling.predict(spec, pipe, sample)
        t_model = time.perf_counter()
        info = registry.log_sklearn_model(
            pipe,
            signature=infer_signature(sample, y_score),
            input_example=example,
            predict_fn="predict_proba" if spec.task == "classification" else "predict",
            infer_requirements=infer_requirements,
        )
        log_model_s = time.perf_counter() - t_model
        run_id = run.info.run_id
    tags = {
        **run_tags,
        "mlstack.primary_metric": primary,
        "mlstack.primary_value": repr(metrics[f"holdout_{primary}"]),
        "mlstack.holdout_days": "..".join(split.days["holdout"]),
        "mlstack.threshold": str(spec.training.threshold),
        "mlstack.promotion": "pending",
    }
    mv = registry.register(spec.name, info.model_uri, tags, s)
    integrity.record(spec.name, int(mv.version), s, recorded_by="train")
    registry.set_alias(spec.name, CANDIDATE, mv.version, s)
    return run_id, int(mv.version), {"log_model_s": log_model_s}


def record_lineage(
    spec: UseCaseSpec,
    snap: DataSnapshot,
    run_id: str,
    version: int,
    settings: Settings | None = None,
) -> list[str]:
    """Edges dataset version(s) -trained-> run -registered_as-> model version; return sources."""
    from mlstack.stages import catalog

    s = settings or get_settings()
    refs = []
    pairs = [("features", snap.features_snapshot)]
    if snap.labels_snapshot is not None:
        pairs.append(("labels", snap.labels_snapshot))
    for dataset, snapshot_id in pairs:
        rec = catalog.record_snapshot(spec, dataset, snapshot_id, settings=s)
        refs.append(catalog.version_ref(rec.dataset, rec.version))
    run_ref, model_ref = f"run:{run_id}", f"model:{spec.name}/v{version}"
    with store.engine(s).begin() as conn:
        for ref in refs:
            catalog.add_edge(conn, ref, "trained", run_ref, {"snapshot_id": snap.features_snapshot})
        catalog.add_edge(conn, run_ref, "registered_as", model_ref, {"version": version})
    return refs


def train(
    spec: UseCaseSpec,
    *,
    snapshot_id: int | None = None,
    labels_snapshot_id: int | None = None,
    settings: Settings | None = None,
    infer_requirements: bool = False,
    run_tags: dict[str, str] | None = None,
    window: tuple[date, date] | None = None,
) -> TrainResult:
    """Train, log and register one model of ``spec`` on exact snapshots (default: current).

    ``window`` (first, last day), from a retrain request, restricts the rows to those days
    before the split; it is logged as the param ``training_window``.
    """
    s = settings or get_settings()
    check_config(spec)
    t0 = time.perf_counter()
    frame, snap = load_frame(spec, snapshot_id, labels_snapshot_id, s)
    split = time_split(spec, frame, window)
    target(spec, split.holdout, "holdout")
    load_s = time.perf_counter() - t0
    log.info(
        "Training %s on %d rows (train %s, holdout %s)",
        spec.name,
        len(split.train),
        split.days["train"],
        split.days["holdout"],
    )
    pipe, metrics, fit_s = fit(spec, split)
    t1 = time.perf_counter()
    # the compute a version cost (reading its rows and fitting), for `mlstack maturity`
    run_tags = {**(run_tags or {}), "mlstack.train_seconds": f"{load_s + fit_s:.1f}"}
    run_id, version, mlflow_timings = log_and_register(
        spec,
        pipe,
        metrics,
        snap,
        split,
        settings=s,
        infer_requirements=infer_requirements,
        run_tags=run_tags,
        window=window,
    )
    mlflow_s = time.perf_counter() - t1
    record_lineage(spec, snap, run_id, version, s)
    primary = modeling.primary_metric(spec).name
    log.info(
        "Registered %s v%d (run %s): holdout %s=%.4f",
        spec.name,
        version,
        run_id,
        primary,
        metrics[f"holdout_{primary}"],
    )
    return TrainResult(
        usecase=spec.name,
        run_id=run_id,
        model_name=spec.name,
        version=version,
        snapshot=snap,
        days=split.days,
        rows={k: len(getattr(split, k)) for k in ("train", "validation", "holdout")},
        metrics=metrics,
        primary_metric=primary,
        timings={"load_s": load_s, "fit_s": fit_s, "mlflow_s": mlflow_s, **mlflow_timings},
    )
