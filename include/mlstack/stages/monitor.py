"""Monitoring: one day of a use case's champion, compared with what it was trained on.

* **Reference**: the champion's exact training rows — the features (and labels) snapshots
  and the train/holdout days its MLflow run recorded, read back from Iceberg. The holdout
  rows, scored by the champion, calibrate CBPE (or fit DLE); the champion's holdout value of
  the primary metric is the bar for realised and estimated performance.
* **Current**: the requests the gateway logged that day (``predictions``), or — when no
  gateway runs, as in the embedded demo — that day's rows from the lake scored in batch.
* **Labelled**: the window ``label_delay_days`` earlier, joined with the labels that have
  arrived since (gateway ``feedback`` or the Iceberg labels table), gives realised
  performance and label coverage, recorded on the day the predictions were made.

* **Per model version**: the metrics are computed for each version the gateway logged that
  day — the champion and, while a rollout runs, the challenger (each against its own training
  rows and holdout) — and stored with the version and its ``variant``.
* **Skew**: the inputs the gateway logged, against the lake's rows of the same ids, when the
  lake has them (training–serving skew).

Outputs: a time series in ``monitoring_metrics``, alerts in ``monitoring_alerts``, the
Evidently report (HTML + JSON, on a sample) under ``reports/<usecase>/<day>/`` in the lake,
and the :class:`~mlstack.stages.retrain.RetrainEvidence` the retrain policy decides on — built from
the champion's series only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import sqlalchemy as sa

from mlstack import lake, modeling, registry, store
from mlstack.monitoring import drift, performance, quality, reports
from mlstack.settings import Settings, get_settings
from mlstack.specs import UseCaseSpec
from mlstack.stages.retrain import RetrainEvidence
from mlstack.vocabulary import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, SHADOW

log = logging.getLogger(__name__)


@dataclass
class Reference:
    """The champion and the rows it was trained on."""

    version: int
    run_id: str
    model: Any
    frame: pd.DataFrame  # training rows (features, id, time, target)
    holdout: pd.DataFrame  # holdout rows with ``_score`` (champion's output)
    metric: str
    value: float | None  # champion's holdout value of the primary metric


@dataclass
class MonitorResult:
    """What one monitoring run computed (JSON-safe via :meth:`summary`)."""

    usecase: str
    run_date: date
    model_version: int | None
    source: str
    rows: int
    metrics: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    report_uri: str | None = None
    evidence: RetrainEvidence | None = None
    #: Rows monitored per model version: {version: {"variant": ..., "rows": ...}}.
    versions: dict[int, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Short JSON-safe summary (XCom, CLI, Asset extra)."""
        return {
            "usecase": self.usecase,
            "run_date": self.run_date.isoformat(),
            "model_version": self.model_version,
            "source": self.source,
            "rows": self.rows,
            "versions": {str(k): v for k, v in self.versions.items()},
            "alerts": [a["message"] for a in self.alerts],
            "report_uri": self.report_uri,
        }


# --- reading ----------------------------------------------------------------------------------


def _days_param(value: Any) -> tuple[date, date]:
    first, last = str(value).split("..")
    return date.fromisoformat(first), date.fromisoformat(last)


def champion_reference(spec: UseCaseSpec, settings: Settings | None = None) -> Reference | None:
    """The champion's training and holdout rows at the snapshots its run recorded."""
    s = settings or get_settings()
    champ = registry.get_alias(spec.name, CHAMPION, s)
    if champ is None:
        return None
    return version_reference(spec, int(champ.version), s)


def version_reference(
    spec: UseCaseSpec, version: int, settings: Settings | None = None
) -> Reference:
    """A model version's training and holdout rows at the snapshots its run recorded."""
    from mlstack.stages import train

    s = settings or get_settings()
    mv = registry.get_version(spec.name, version, s)
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
    model = registry.load_model(spec.name, mv.version, s)
    holdout["_score"], _ = modeling.predict(spec, model, modeling.model_input(spec, holdout))
    holdout["_label"] = pd.to_numeric(holdout[spec.schema.target_column], errors="coerce")
    ref = Reference(int(mv.version), str(mv.run_id), model, reference, holdout, "", None)
    ref.metric = watched_metric(spec)
    ref.value = performance_metrics(spec, ref, holdout, estimated=False).get(ref.metric)
    return ref


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def gateway_window(spec: UseCaseSpec, day: date, settings: Settings) -> pd.DataFrame:
    """The day's logged predictions as features + ``_score`` + ``_version`` + ``_variant``.

    Shadow rows are included: they are the challenger's scores of the same requests, so a
    rollout's shadow stage gives the challenger its own metrics (:func:`answered` counts the
    requests themselves)."""
    p = store.predictions.c
    start, end = _day_bounds(day)
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


def lake_window(spec: UseCaseSpec, day: date, ref: Reference, settings: Settings) -> pd.DataFrame:
    """The day's rows from the lake, scored by the champion (batch monitoring)."""
    table = lake.catalog(settings).load_table(lake.table_identifier(spec.table_name(), settings))
    frame = table.scan(row_filter=f"{spec.schema.timestamp_column} == '{day.isoformat()}'")
    df = frame.to_arrow().to_pandas()
    if df.empty:
        return df
    df["_score"], _ = modeling.predict(spec, ref.model, modeling.model_input(spec, df))
    df["_version"] = ref.version
    return df


def attach_labels(spec: UseCaseSpec, window: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Add ``_label`` from gateway feedback and the lake's labels (NaN where none yet)."""
    sch = spec.schema
    out = window.copy()
    out["_label"] = np.nan
    if out.empty:
        return out
    if sch.target_column in out.columns and spec.labels is None:
        out["_label"] = pd.to_numeric(out[sch.target_column], errors="coerce")
    if spec.labels is not None:
        table = lake.catalog(settings).load_table(
            lake.table_identifier(spec.table_name("labels"), settings)
        )
        labels = table.scan(selected_fields=(sch.id_column, str(sch.target_column))).to_pandas()
        labels = labels.drop_duplicates(sch.id_column, keep="last").set_index(sch.id_column)
        out["_label"] = out[sch.id_column].map(labels[sch.target_column]).astype(float)
    f = store.feedback.c
    ids = [str(i) for i in out[sch.id_column].dropna().unique()]
    if ids:
        with store.engine(settings).connect() as conn:
            fb = conn.execute(
                sa.select(f.entity_id, f.prediction_id, f.label).where(
                    f.usecase == spec.name, f.entity_id.in_(ids[:50_000])
                )
            ).all()
        by_entity = {r.entity_id: r.label for r in fb if r.entity_id is not None}
        got = out[sch.id_column].map(by_entity)
        out["_label"] = out["_label"].where(out["_label"].notna(), got.astype(float))
    return out


#: How many days back realised performance may reach to gather ``monitoring.min_labels``.
LABEL_POOL_MAX_DAYS = 14


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


def load_window(
    spec: UseCaseSpec, day: date, ref: Reference, settings: Settings
) -> tuple[pd.DataFrame, str]:
    """Current rows of ``day`` and where they came from (``gateway`` or ``lake``)."""
    window = gateway_window(spec, day, settings)
    if not window.empty:
        return attach_labels(spec, window, settings), "gateway"
    return attach_labels(spec, lake_window(spec, day, ref, settings), settings), "lake"


def lake_rows(spec: UseCaseSpec, current: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The lake's rows (id + model features) of the entity ids the gateway logged.

    At most ``monitoring.skew_sample_rows`` ids (a fixed-seed sample) are looked up; empty
    when the rows came from the lake itself, or the lake has none of those ids (yet).
    """
    from pyiceberg.expressions import In

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
    table = lake.catalog(settings).load_table(lake.table_identifier(spec.table_name(), settings))
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


# --- computing --------------------------------------------------------------------------------


def _metric(
    name: str,
    value: float | None,
    *,
    feature: str | None = None,
    threshold: float | None = None,
    alert: bool = False,
    details: dict[str, Any] | None = None,
    day: date | None = None,
) -> dict[str, Any]:
    clean = None if value is None or (isinstance(value, float) and np.isnan(value)) else value
    return {
        "metric": name,
        "feature": feature,
        "value": None if clean is None else float(clean),
        "threshold": threshold,
        "alert": bool(alert),
        "details": details or {},
        "run_date": day,
    }


INTERNAL = ["_score", "_label", "_version", "_variant", "_prediction_id"]


def source_is_gateway(window: pd.DataFrame) -> bool:
    """Whether rows came from the gateway's log (their columns are what was served)."""
    return "_prediction_id" in window.columns


def split_columns(spec: UseCaseSpec) -> tuple[list[str], list[str]]:
    """Model features split into numerical and categorical, by the spec's types."""
    feats = modeling.feature_columns(spec)
    numeric = [c for c in feats if spec.schema.columns[c].type in ("int", "float", "bool")]
    return numeric, [c for c in feats if c not in numeric]


def performance_metrics(
    spec: UseCaseSpec, ref: Reference, window: pd.DataFrame, *, estimated: bool
) -> dict[str, float]:
    """CBPE/DLE estimates (``estimated``) or realised metrics of a window's rows."""
    if spec.task == "classification":
        costs = spec.training.cost_matrix.model_dump() if spec.training.cost_matrix else None
        scores = window["_score"].to_numpy(float)
        thr = spec.training.threshold
        if estimated:
            y_ref = ref.holdout[spec.schema.target_column].to_numpy(float)
            cal = performance.Calibrator().fit(y_ref, ref.holdout["_score"].to_numpy(float))
            return performance.cbpe(scores, thr, calibrator=cal, costs=costs)
        y = window["_label"].to_numpy(float)
        out = performance.realised_classification(y, scores, thr)
        if costs:
            out["business_value_per_row"] = (
                performance.confusion(y, scores, thr).value(costs) / len(y) if len(y) else np.nan
            )
        return out
    numeric, categorical = split_columns(spec)
    if estimated:
        y_ref = ref.holdout[spec.schema.target_column].to_numpy(float)
        dle = performance.LossEstimator(numeric + categorical).fit(
            ref.holdout, ref.holdout["_score"].to_numpy(float), y_ref
        )
        return dle.estimate(window, window["_score"].to_numpy(float))
    return performance.realised_regression(window["_label"], window["_score"])


SUPPORTED = {
    "classification": (
        "roc_auc",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "business_value_per_row",
    ),
    "regression": ("mae", "rmse"),
}


def watched_metric(spec: UseCaseSpec) -> str:
    """The metric monitoring and the retrain policy compare with the champion's holdout."""
    name = spec.retraining.metric or modeling.primary_metric(spec).name
    if name not in SUPPORTED[spec.task]:
        name = "roc_auc" if spec.task == "classification" else "rmse"
    return name


def skew_findings(
    spec: UseCaseSpec, current: pd.DataFrame, lake: pd.DataFrame, day: date
) -> tuple[dict[str, float], list[dict[str, Any]], list[dict[str, Any]]]:
    """Training–serving skew of the served rows: findings, metrics and alerts (pure).

    Findings name every feature with a mismatch (share of matched ids whose served value
    differs from the lake's); an alert names those above ``monitoring.skew_threshold``.
    """
    id_col, limit = spec.schema.id_column, spec.monitoring.skew_threshold
    features = [c for c in modeling.feature_columns(spec) if c in current.columns]
    served = current[[id_col, *features]].copy()
    served[id_col] = served[id_col].astype(str)
    result = quality.skew(served, lake, id_col, features)
    shares: dict[str, float] = result["mismatch_share"]
    matched = result["matched_ids"]
    metrics = [
        _metric(
            "skew_matched_ids",
            matched,
            details={"served_ids": result["served_ids"]},
            day=day,
        )
    ]
    metrics += [
        _metric(
            "skew_mismatch_share",
            share,
            feature=name,
            threshold=limit,
            alert=share > limit,
            details={"matched_ids": matched},
            day=day,
        )
        for name, share in shares.items()
    ]
    ranked = sorted(((v, k) for k, v in shares.items() if v > 0), reverse=True)
    above = [(k, v) for v, k in ranked if v > limit]
    alerts = []
    if above:
        alerts.append(
            {
                "kind": "skew",
                "severity": "warning",
                "message": "training-serving skew: "
                + ", ".join(f"{k} {v:.1%}" for k, v in above[:5])
                + f" of {matched} logged ids differ from the lake",
            }
        )
    return {k: v for v, k in ranked}, metrics, alerts


def compute(
    spec: UseCaseSpec,
    ref: Reference,
    current: pd.DataFrame,
    labelled: pd.DataFrame,
    day: date,
    lake: pd.DataFrame | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Metrics, alerts and findings of one day of one model version (pure: no I/O).

    ``lake``: the lake's rows of the logged ids (see :func:`lake_rows`), for skew.
    """
    cfg = spec.monitoring
    numeric, categorical = split_columns(spec)
    metrics: list[dict[str, Any]] = [_metric("rows", len(current), day=day)]
    alerts: list[dict[str, Any]] = []
    findings: dict[str, Any] = {"drifted": [], "quality": [], "skew": {}}
    metric = ref.metric
    bar = None
    if ref.value is not None:
        bar = ref.value - cfg.performance_drop
        if not performance.higher_is_better(metric):
            bar = ref.value + cfg.performance_drop
    if not current.empty:
        report = drift.dataset_drift(
            ref.frame,
            current,
            numeric,
            categorical,
            drift_share=cfg.drift_share,
            methods=dict(cfg.drift_methods),
            thresholds=dict(cfg.drift_thresholds),
        )
        for c in report.columns:
            metrics.append(
                _metric(
                    "drift_score",
                    c.score,
                    feature=c.column,
                    threshold=c.threshold,
                    alert=c.drifted,
                    details={"method": c.method, "psi": c.psi},
                    day=day,
                )
            )
        pred_drift = drift.numerical_drift("prediction", ref.holdout["_score"], current["_score"])
        metrics.append(
            _metric(
                "prediction_drift",
                pred_drift.score,
                threshold=pred_drift.threshold,
                alert=pred_drift.drifted,
                details={"method": pred_drift.method},
                day=day,
            )
        )
        metrics.append(
            _metric(
                "drift_share",
                report.share_drifted,
                threshold=cfg.drift_share,
                alert=report.dataset_drift,
                details={"drifted": report.drifted_columns},
                day=day,
            )
        )
        alerting = drift.alerting(report.columns)  # multiple p-value tests corrected
        findings["drifted"] = [c.to_dict() for c in alerting]
        if alerting:
            alerts.append(
                {
                    "kind": "drift",
                    "severity": "warning",
                    "message": f"{len(alerting)} drifted feature(s): "
                    + ", ".join(c.column for c in alerting[:5]),
                }
            )
        expected = {c: spec.schema.columns[c] for c in numeric + categorical}
        served = current if source_is_gateway(current) else current[list(expected)]
        qual = quality.data_quality(
            served.drop(columns=INTERNAL + [spec.schema.id_column], errors="ignore"),
            expected,
            ref.frame,
        )
        findings["quality"] = qual.issues()
        metrics.append(
            _metric(
                "quality_issues",
                len(findings["quality"]),
                alert=bool(findings["quality"]),
                details={"issues": findings["quality"]},
                day=day,
            )
        )
        for q in qual.columns:
            metrics.append(_metric("missing_share", q.missing_share, feature=q.column, day=day))
        if findings["quality"]:
            alerts.append(
                {
                    "kind": "quality",
                    "severity": "warning",
                    "message": "data quality: " + "; ".join(findings["quality"][:3]),
                }
            )
        if lake is not None and not lake.empty and source_is_gateway(current):
            found, skew_metrics, skew_alerts = skew_findings(spec, current, lake, day)
            findings["skew"] = found
            metrics += skew_metrics
            alerts += skew_alerts
        est = performance_metrics(spec, ref, current, estimated=True)
        value = est.get(metric)
        worse = (
            bar is not None
            and value is not None
            and (value < bar if performance.higher_is_better(metric) else value > bar)
        )
        metrics.append(
            _metric(f"estimated_{metric}", value, threshold=bar, alert=worse, details=est, day=day)
        )
        if "business_value_per_row" in est and metric != "business_value_per_row":
            metrics.append(
                _metric("estimated_business_value_per_row", est["business_value_per_row"], day=day)
            )
        if worse:
            alerts.append(
                {
                    "kind": "performance",
                    "severity": "critical",
                    "message": f"estimated {metric} {value:.4f} below the bar {bar:.4f} "
                    f"(champion holdout {ref.value:.4f})",
                }
            )
    if not labelled.empty:
        lday = labelled.attrs.get("day", day)
        have = labelled[labelled["_label"].notna()]
        coverage = len(have) / len(labelled)
        metrics.append(
            _metric(
                "label_coverage",
                coverage,
                day=lday,
                details={"labelled": len(have), "rows": len(labelled)},
            )
        )
        if len(have) >= cfg.min_labels:
            pooled = labelled.attrs.get("days")  # (first, last) labelled day, when pooled
            real = performance_metrics(spec, ref, have, estimated=False)
            value = real.get(metric)
            worse = (
                bar is not None
                and value is not None
                and (value < bar if performance.higher_is_better(metric) else value > bar)
            )
            metrics.append(
                _metric(
                    f"realised_{metric}",
                    value,
                    threshold=bar,
                    alert=worse,
                    details={**real, "labelled_rows": len(have), "days": pooled},
                    day=lday,
                )
            )
            if "business_value_per_row" in real and metric != "business_value_per_row":
                metrics.append(
                    _metric(
                        "realised_business_value_per_row", real["business_value_per_row"], day=lday
                    )
                )
            findings["realised"] = (value, len(have))
            if worse:
                alerts.append(
                    {
                        "kind": "performance",
                        "severity": "critical",
                        "message": f"realised {metric} {value:.4f} on {lday} below the "
                        f"bar {bar:.4f} ({len(have)} labels"
                        + (f" of {pooled[0]}..{pooled[1]})" if pooled else ")"),
                    }
                )
    return metrics, alerts, findings


# --- writing ------------------------------------------------------------------------------


METRIC_FIELDS = ("metric", "feature", "value", "threshold", "alert", "details", "run_date")


def write_metrics(
    spec: UseCaseSpec,
    version: int | None,
    metrics: list[dict[str, Any]],
    settings: Settings,
    *,
    variant: str = CHAMPION,
) -> None:
    """Replace this version's series points of these (day, metric) pairs with the new values.

    The champion's points also replace any other version's champion points of those pairs
    (one champion per day, also when a day is monitored again after a promotion).
    """
    t = store.monitoring_metrics
    now = datetime.now(UTC)
    keys = {(m["run_date"], m["metric"]) for m in metrics}
    same = t.c.model_version == version if version is not None else t.c.model_version.is_(None)
    if variant == CHAMPION:
        same = sa.or_(same, t.c.variant == CHAMPION, t.c.variant.is_(None))
    with store.engine(settings).begin() as conn:
        for day, name in keys:
            conn.execute(
                t.delete().where(
                    t.c.usecase == spec.name, t.c.run_date == day, t.c.metric == name, same
                )
            )
        if metrics:
            conn.execute(
                t.insert(),
                [
                    {k: m[k] for k in METRIC_FIELDS}
                    | {
                        "usecase": spec.name,
                        "model_version": version,
                        "variant": variant,
                        "created_at": now,
                    }
                    for m in metrics
                ],
            )


def write_alerts(spec: UseCaseSpec, result: MonitorResult, settings: Settings) -> None:
    """Replace the day's monitoring alerts."""
    t = store.monitoring_alerts
    with store.engine(settings).begin() as conn:
        conn.execute(
            t.delete().where(
                t.c.usecase == spec.name, t.c.run_date == result.run_date, t.c.kind != "retrain"
            )
        )
        for a in result.alerts:
            conn.execute(
                t.insert().values(
                    usecase=spec.name,
                    model_version=a.get("model_version", result.model_version),
                    run_date=result.run_date,
                    kind=a["kind"],
                    severity=a["severity"],
                    message=a["message"],
                    details=a.get("details", {}),
                    report_uri=result.report_uri,
                    created_at=datetime.now(UTC),
                )
            )


def write_report(
    spec: UseCaseSpec,
    ref: Reference,
    current: pd.DataFrame,
    day: date,
    summary: dict[str, Any],
    settings: Settings,
) -> str:
    """Evidently's drift report (HTML + JSON, on a sample) under ``reports/`` in the lake."""
    numeric, categorical = split_columns(spec)
    rendered = reports.drift_report(
        ref.frame,
        current,
        numeric,
        categorical,
        rows=spec.monitoring.report_sample_rows,
        extra=summary,
    )
    key = f"reports/{spec.name}/{day.isoformat()}/monitor"
    lake.write_bytes(f"{key}.json", rendered.json.encode(), settings)
    return lake.write_bytes(f"{key}.html", rendered.html.encode(), settings)


class Point(NamedTuple):
    """One day of a metric's series: its value, whether it alerted, the threshold it had."""

    day: date
    value: float | None
    alert: bool
    threshold: float | None
    version: int | None = None


def points(
    usecase: str,
    metric: str,
    *,
    feature: str | None = None,
    since: date | None = None,
    variant: str | None = None,
    settings: Settings | None = None,
) -> list[Point]:
    """A metric's time series with the threshold each day was judged against, oldest first;
    only one ``variant``'s points when given (``champion`` includes rows from before variants)."""
    t = store.monitoring_metrics
    q = sa.select(t.c.run_date, t.c.value, t.c.alert, t.c.threshold, t.c.model_version).where(
        t.c.usecase == usecase, t.c.metric == metric
    )
    if feature is not None:
        q = q.where(t.c.feature == feature)
    if variant is not None:
        same = t.c.variant == variant
        q = q.where(sa.or_(same, t.c.variant.is_(None)) if variant == CHAMPION else same)
    if since is not None:
        q = q.where(t.c.run_date >= since)
    with store.engine(settings).connect() as conn:
        found = conn.execute(q.order_by(t.c.run_date))
        return [Point(r[0], r[1], bool(r[2]), r[3], r[4]) for r in found]


def series(
    usecase: str,
    metric: str,
    *,
    feature: str | None = None,
    since: date | None = None,
    settings: Settings | None = None,
) -> list[tuple[date, float | None, bool]]:
    """A metric's time series: (day, value, alert), oldest first (see :func:`points`)."""
    found = points(usecase, metric, feature=feature, since=since, settings=settings)
    return [(p.day, p.value, p.alert) for p in found]


def version_series(
    usecase: str,
    metric: str,
    model_version: int,
    *,
    since: date | None = None,
    settings: Settings | None = None,
) -> list[tuple[date, float | None, bool]]:
    """One model version's points of a metric: (day, value, alert), oldest first.

    The retrain policy's view: a champion is judged on its own series only, never on a
    challenger's (or a previous champion's) points of the same days.
    """
    t = store.monitoring_metrics
    q = sa.select(t.c.run_date, t.c.value, t.c.alert).where(
        t.c.usecase == usecase,
        t.c.metric == metric,
        t.c.model_version == model_version,
        t.c.feature.is_(None),
    )
    if since is not None:
        q = q.where(t.c.run_date >= since)
    with store.engine(settings).connect() as conn:
        return [(r[0], r[1], bool(r[2])) for r in conn.execute(q.order_by(t.c.run_date))]


def change_date(
    usecase: str, metric: str, day: date, settings: Settings, model_version: int | None = None
) -> date | None:
    """First day of the streak of alerting days (dataset drift or estimated drop) up to ``day``.

    With ``model_version``, only that version's points count (the champion's, for the policy).
    """

    def of(name: str) -> list[tuple[date, float | None, bool]]:
        if model_version is None:
            return series(usecase, name, settings=settings)
        return version_series(usecase, name, model_version, settings=settings)

    alerting = {d for d, _, a in of(f"estimated_{metric}") if a}
    alerting |= {d for d, v, _ in of("drift_share") if v}
    if day not in alerting:
        return None
    first = day
    while first - timedelta(days=1) in alerting:
        first -= timedelta(days=1)
    return first


def fresh_labels(spec: UseCaseSpec, since: date, until: date, settings: Settings) -> int:
    """Labels known on ``until`` for rows dated on or after ``since``."""
    sch = spec.schema
    if spec.labels is not None:
        name, column, field = spec.table_name("labels"), spec.labels.timestamp_column, sch.id_column
        first = since + timedelta(days=sch.label_delay_days)
    else:
        name, column, field = spec.table_name(), sch.timestamp_column, sch.target_column or ""
        first = since
    table = lake.catalog(settings).load_table(lake.table_identifier(name, settings))
    rows = table.scan(
        row_filter=f"{column} >= '{first.isoformat()}' and {column} <= '{until.isoformat()}'",
        selected_fields=(field,),
    ).to_arrow()
    lake_labels = len(rows) - rows.column(0).null_count
    f, p = store.feedback.c, store.predictions.c
    start, _ = _day_bounds(since)
    _, end = _day_bounds(until)
    with store.engine(settings).connect() as conn:
        gateway_labels = conn.execute(
            sa.select(sa.func.count())
            .select_from(store.feedback.join(store.predictions, f.prediction_id == p.prediction_id))
            .where(f.usecase == spec.name, p.created_at >= start, f.received_at < end)
        ).scalar_one()
    return max(int(lake_labels), int(gateway_labels))


def answered(window: pd.DataFrame) -> pd.DataFrame:
    """The rows that answered a request (a shadow score answered none)."""
    if window.empty or "_variant" not in window.columns:
        return window
    return window[window["_variant"] != SHADOW]


def of_version(window: pd.DataFrame, version: int) -> pd.DataFrame:
    """The rows a model version answered (all rows when the window has no versions)."""
    if window.empty or "_version" not in window.columns:
        return window
    return window[window["_version"] == version]


def variants(current: pd.DataFrame, labelled: pd.DataFrame, champion: int) -> dict[int, str]:
    """Versions to monitor and what each was: the champion first, then the others.

    A non-champion version is ``challenger`` when the gateway logged it as one or as the
    shadow (a rollout runs), else ``previous_champion`` (it served before a promotion).
    """
    out = {champion: CHAMPION}
    for window in (current, labelled):
        if window.empty or "_version" not in window.columns:
            continue
        for version, rows in window.groupby("_version"):
            v = int(version)
            if v in out:
                continue
            logged = rows["_variant"] if "_variant" in rows.columns else pd.Series(dtype=str)
            rolled_out = logged.isin([CHALLENGER, SHADOW]).any()
            out[v] = CHALLENGER if rolled_out else PREVIOUS_CHAMPION
    return out


def _monitor_version(
    spec: UseCaseSpec,
    ref: Reference,
    variant: str,
    windows: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    day: date,
    settings: Settings,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Compute and store one version's metrics; its alerts name it unless it is the champion."""
    current, labelled, lake_ids = windows
    cur, lab = of_version(current, ref.version), of_version(labelled, ref.version)
    lab.attrs["day"] = labelled.attrs.get("day", day)
    metrics, alerts, findings = compute(spec, ref, cur, lab, day, lake=lake_ids)
    write_metrics(spec, ref.version, metrics, settings, variant=variant)
    for a in alerts:
        a["model_version"] = ref.version
        if variant != CHAMPION:
            a["message"] = f"{variant} v{ref.version}: {a['message']}"
    return metrics, alerts, findings


def run(spec: UseCaseSpec, day: date, settings: Settings | None = None) -> MonitorResult:
    """Monitor ``day`` for each model version that served it; evidence from the champion's.

    Metrics, alerts and report; then the :class:`RetrainEvidence` for the retrain policy, built
    from the champion's own series (a challenger's points never count for or against it).
    """
    s = settings or get_settings()
    ref = champion_reference(spec, s)
    if ref is None:
        log.info("No champion for %s yet: nothing to monitor on %s", spec.name, day)
        return MonitorResult(spec.name, day, None, "none", 0)
    current, source = load_window(spec, day, ref, s)
    lday = day - timedelta(days=spec.schema.label_delay_days)
    labelled = current if lday == day else labelled_window(spec, lday, ref, s)
    labelled.attrs["day"] = lday
    windows = (current, labelled, lake_rows(spec, current, s))
    result = MonitorResult(spec.name, day, ref.version, source, len(answered(current)))
    findings: dict[str, Any] = {}
    for version, variant in variants(current, labelled, ref.version).items():
        try:
            vref = ref if version == ref.version else version_reference(spec, version, s)
        except Exception as exc:  # a deleted version or unreadable snapshot: skip, say so
            log.warning("Cannot monitor %s v%s on %s: %s", spec.name, version, day, exc)
            continue
        metrics, alerts, found = _monitor_version(spec, vref, variant, windows, day, s)
        result.metrics += [m | {"model_version": version, "variant": variant} for m in metrics]
        result.alerts += alerts
        result.versions[version] = {
            "variant": variant,
            "rows": len(of_version(current, version)),
            "labelled_rows": len(of_version(labelled, version)),
        }
        if version == ref.version:
            findings = found
    served = of_version(current, ref.version)
    if not served.empty:
        result.report_uri = write_report(spec, ref, served, day, result.to_dict(), s)
    write_alerts(spec, result, s)
    result.evidence = champion_evidence(spec, ref, day, findings, result.report_uri, s)
    log.info(
        "Monitored %s on %s (%s, %d rows, versions %s): %d alert(s)",
        spec.name,
        day,
        source,
        result.rows,
        result.versions,
        len(result.alerts),
    )
    return result


def champion_evidence(
    spec: UseCaseSpec,
    ref: Reference,
    day: date,
    findings: dict[str, Any],
    report_uri: str | None,
    settings: Settings,
) -> RetrainEvidence:
    """What the retrain policy decides on: the champion's findings and its own series."""
    metric = ref.metric
    changed = change_date(spec.name, metric, day, settings, model_version=ref.version)
    since = day - timedelta(days=spec.retraining.sustained_days - 1)
    estimated = [
        (d, v)
        for d, v, _ in version_series(
            spec.name, f"estimated_{metric}", ref.version, since=since, settings=settings
        )
        if v is not None and d <= day
    ]
    realised = findings.get("realised", (None, 0))
    return RetrainEvidence(
        usecase=spec.name,
        run_date=day,
        metric=metric,
        reference_value=ref.value,
        model_version=ref.version,
        realised_value=realised[0],
        labelled_rows=realised[1],
        estimated=estimated,
        drifted_features=findings.get("drifted", []),
        quality_issues=findings.get("quality", []),
        skew=findings.get("skew", {}),
        change_date=changed,
        fresh_labels=fresh_labels(spec, changed or day, day, settings),
        report_uri=report_uri,
    )
