"""The monitor's figures of one day of one model version — pure: frames in, records out.

:func:`compute` takes the model's :class:`Reference` (its training rows and scored holdout)
and the day's windows (current rows, labelled rows, the lake's rows of the logged ids) and
returns a :class:`DayFigures`: typed :class:`MetricRecord` rows (what
:mod:`mlstack.monitoring.history` stores in ``monitoring_metrics``), :class:`AlertRecord`
alerts and the :class:`Findings` the retrain policy's evidence is built from. No database,
lake or registry is touched here: the reads are :mod:`mlstack.monitoring.windows`, the writes
:mod:`mlstack.monitoring.history`, the orchestration :mod:`mlstack.stages.monitor`.

The figures: drift per feature, of the prediction and of the dataset
(:mod:`~mlstack.monitoring.drift`), data quality and training–serving skew
(:mod:`~mlstack.monitoring.quality`), estimated performance (CBPE/DLE) and, once labels
arrived, realised performance (:mod:`~mlstack.monitoring.performance`), each judged against
its threshold or the bar ``monitoring.performance_drop`` worse than the holdout value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from mlstack import modeling
from mlstack.monitoring import drift, performance, quality
from mlstack.monitoring.bars import bar, worse_than
from mlstack.specs import UseCaseSpec
from mlstack.vocabulary import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, SHADOW

#: Columns the windows add to a model's features (never monitored as features).
INTERNAL = ["_score", "_label", "_version", "_variant", "_prediction_id"]


@dataclass
class Reference:
    """A model version and the rows it was trained on (built by
    :func:`mlstack.monitoring.windows.version_reference`)."""

    version: int
    run_id: str
    model: Any
    frame: pd.DataFrame  # training rows (features, id, time, target)
    holdout: pd.DataFrame  # holdout rows with ``_score`` (the model's output)
    metric: str
    value: float | None  # the model's holdout value of the watched metric


@dataclass(frozen=True)
class MetricRecord:
    """One point of a series: a row of ``monitoring_metrics`` without its version."""

    metric: str
    value: float | None
    run_date: date | None
    feature: str | None = None
    threshold: float | None = None
    alert: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        name: str,
        value: float | None,
        *,
        day: date | None,
        feature: str | None = None,
        threshold: float | None = None,
        alert: bool = False,
        details: dict[str, Any] | None = None,
    ) -> MetricRecord:
        """A record with ``value`` as a float (NaN as None) and ``alert`` as a bool."""
        clean = None if value is None or (isinstance(value, float) and np.isnan(value)) else value
        return cls(
            metric=name,
            value=None if clean is None else float(clean),
            run_date=day,
            feature=feature,
            threshold=threshold,
            alert=bool(alert),
            details=details or {},
        )

    def row(self) -> dict[str, Any]:
        """The ``monitoring_metrics`` columns this record fills."""
        return {
            "metric": self.metric,
            "feature": self.feature,
            "value": self.value,
            "threshold": self.threshold,
            "alert": self.alert,
            "details": self.details,
            "run_date": self.run_date,
        }


@dataclass(frozen=True)
class AlertRecord:
    """One alert: a row of ``monitoring_alerts`` without its day and report."""

    kind: str  # drift, quality, skew, performance
    severity: str  # warning, critical
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    model_version: int | None = None

    def signature(self) -> tuple[str, str]:
        """What makes this alert the same as another day's: see :func:`alert_signature`."""
        return alert_signature(self.kind, self.message)


def drift_alert_features(message: str) -> list[str]:
    """The features a drift alert's message names (``N drifted feature(s): a, b``)."""
    return [f.strip() for f in message.split(":", 1)[-1].split(",")]


def alert_signature(kind: str, message: str) -> tuple[str, str]:
    """An alert without its day's figures: ``(kind, topic)``, the topic being the drifted
    features a drift alert names (sorted: the message ranks them by the day's scores),
    ``estimated``/``realised`` for a performance alert, and nothing for the other kinds
    (their messages carry the day's numbers)."""
    if kind == "drift":
        return kind, ", ".join(sorted(drift_alert_features(message)))
    if kind == "performance":
        return kind, message.split(" ", 1)[0]
    return kind, ""


@dataclass
class Findings:
    """What the retrain policy's evidence needs from one version's day."""

    drifted: list[dict[str, Any]] = field(default_factory=list)  # alerting features
    quality: list[str] = field(default_factory=list)  # data quality issues
    skew: dict[str, float] = field(default_factory=dict)  # feature: mismatch share
    realised_value: float | None = None  # realised watched metric, when enough labels
    labelled_rows: int = 0  # labels it rests on


@dataclass
class DayFigures:
    """Everything :func:`compute` found for one day of one model version."""

    metrics: list[MetricRecord]
    alerts: list[AlertRecord]
    findings: Findings


# --- windows (pure helpers) ---------------------------------------------------------------------


def source_is_gateway(window: pd.DataFrame) -> bool:
    """Whether rows came from the gateway's log (their columns are what was served)."""
    return "_prediction_id" in window.columns


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


def split_columns(spec: UseCaseSpec) -> tuple[list[str], list[str]]:
    """Model features split into numerical and categorical, by the spec's types."""
    feats = modeling.feature_columns(spec)
    numeric = [c for c in feats if spec.schema.columns[c].type in ("int", "float", "bool")]
    return numeric, [c for c in feats if c not in numeric]


# --- performance --------------------------------------------------------------------------------


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


# --- the day's figures --------------------------------------------------------------------------


def skew_findings(
    spec: UseCaseSpec, current: pd.DataFrame, lake: pd.DataFrame, day: date
) -> tuple[dict[str, float], list[MetricRecord], list[AlertRecord]]:
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
        MetricRecord.of(
            "skew_matched_ids", matched, details={"served_ids": result["served_ids"]}, day=day
        )
    ]
    metrics += [
        MetricRecord.of(
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
            AlertRecord(
                "skew",
                "warning",
                "training-serving skew: "
                + ", ".join(f"{k} {v:.1%}" for k, v in above[:5])
                + f" of {matched} logged ids differ from the lake",
            )
        )
    return {k: v for v, k in ranked}, metrics, alerts


def _drift_and_quality(
    spec: UseCaseSpec, ref: Reference, current: pd.DataFrame, day: date, out: DayFigures
) -> None:
    """Drift per feature, of the prediction and of the dataset; data quality (into ``out``)."""
    cfg = spec.monitoring
    numeric, categorical = split_columns(spec)
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
        out.metrics.append(
            MetricRecord.of(
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
    out.metrics.append(
        MetricRecord.of(
            "prediction_drift",
            pred_drift.score,
            threshold=pred_drift.threshold,
            alert=pred_drift.drifted,
            details={"method": pred_drift.method},
            day=day,
        )
    )
    out.metrics.append(
        MetricRecord.of(
            "drift_share",
            report.share_drifted,
            threshold=cfg.drift_share,
            alert=report.dataset_drift,
            details={"drifted": report.drifted_columns},
            day=day,
        )
    )
    alerting = drift.alerting(report.columns)  # multiple p-value tests corrected
    out.findings.drifted = [c.to_dict() for c in alerting]
    if alerting:
        out.alerts.append(
            AlertRecord(
                "drift",
                "warning",
                f"{len(alerting)} drifted feature(s): " + ", ".join(c.column for c in alerting[:5]),
            )
        )
    expected = {c: spec.schema.columns[c] for c in numeric + categorical}
    served = current if source_is_gateway(current) else current[list(expected)]
    qual = quality.data_quality(
        served.drop(columns=INTERNAL + [spec.schema.id_column], errors="ignore"),
        expected,
        ref.frame,
    )
    issues = qual.issues()
    out.findings.quality = issues
    out.metrics.append(
        MetricRecord.of(
            "quality_issues",
            len(issues),
            alert=bool(issues),
            details={"issues": issues},
            day=day,
        )
    )
    for q in qual.columns:
        out.metrics.append(
            MetricRecord.of("missing_share", q.missing_share, feature=q.column, day=day)
        )
    if issues:
        message = "data quality: " + "; ".join(issues[:3])
        out.alerts.append(AlertRecord("quality", "warning", message))


def _estimated(
    spec: UseCaseSpec, ref: Reference, current: pd.DataFrame, day: date, out: DayFigures
) -> None:
    """Estimated performance (CBPE/DLE) against the alert bar (into ``out``)."""
    metric = ref.metric
    limit = bar(metric, ref.value, spec.monitoring.performance_drop)
    est = performance_metrics(spec, ref, current, estimated=True)
    value = est.get(metric)
    worse = worse_than(metric, value, limit)
    out.metrics.append(
        MetricRecord.of(
            f"estimated_{metric}", value, threshold=limit, alert=worse, details=est, day=day
        )
    )
    if "business_value_per_row" in est and metric != "business_value_per_row":
        out.metrics.append(
            MetricRecord.of(
                "estimated_business_value_per_row", est["business_value_per_row"], day=day
            )
        )
    if worse:
        out.alerts.append(
            AlertRecord(
                "performance",
                "critical",
                f"estimated {metric} {value:.4f} below the bar {limit:.4f} "
                f"(champion holdout {ref.value:.4f})",
            )
        )


def _realised(
    spec: UseCaseSpec, ref: Reference, labelled: pd.DataFrame, day: date, out: DayFigures
) -> None:
    """Label coverage and, on enough labels, realised performance (into ``out``)."""
    metric = ref.metric
    limit = bar(metric, ref.value, spec.monitoring.performance_drop)
    lday = labelled.attrs.get("day", day)
    have = labelled[labelled["_label"].notna()]
    coverage = len(have) / len(labelled)
    out.metrics.append(
        MetricRecord.of(
            "label_coverage",
            coverage,
            day=lday,
            details={"labelled": len(have), "rows": len(labelled)},
        )
    )
    if len(have) < spec.monitoring.min_labels:
        return
    pooled = labelled.attrs.get("days")  # (first, last) labelled day, when pooled
    real = performance_metrics(spec, ref, have, estimated=False)
    value = real.get(metric)
    worse = worse_than(metric, value, limit)
    out.metrics.append(
        MetricRecord.of(
            f"realised_{metric}",
            value,
            threshold=limit,
            alert=worse,
            details={**real, "labelled_rows": len(have), "days": pooled},
            day=lday,
        )
    )
    if "business_value_per_row" in real and metric != "business_value_per_row":
        out.metrics.append(
            MetricRecord.of(
                "realised_business_value_per_row", real["business_value_per_row"], day=lday
            )
        )
    out.findings.realised_value, out.findings.labelled_rows = value, len(have)
    if worse:
        out.alerts.append(
            AlertRecord(
                "performance",
                "critical",
                f"realised {metric} {value:.4f} on {lday} below the "
                f"bar {limit:.4f} ({len(have)} labels"
                + (f" of {pooled[0]}..{pooled[1]})" if pooled else ")"),
            )
        )


def compute(
    spec: UseCaseSpec,
    ref: Reference,
    current: pd.DataFrame,
    labelled: pd.DataFrame,
    day: date,
    lake: pd.DataFrame | None = None,
) -> DayFigures:
    """Metrics, alerts and findings of one day of one model version (pure: no I/O).

    ``current``: the day's rows with ``_score``; ``labelled``: the rows realised performance
    is judged on, with ``_label`` (``attrs["day"]``: the day they were predicted on,
    ``attrs["days"]``: the span pooled); ``lake``: the lake's rows of the logged ids (see
    :func:`mlstack.monitoring.windows.lake_rows`), for skew.
    """
    out = DayFigures([MetricRecord.of("rows", len(current), day=day)], [], Findings())
    if not current.empty:
        _drift_and_quality(spec, ref, current, day, out)
        if lake is not None and not lake.empty and source_is_gateway(current):
            found, skew_metrics, skew_alerts = skew_findings(spec, current, lake, day)
            out.findings.skew = found
            out.metrics += skew_metrics
            out.alerts += skew_alerts
        _estimated(spec, ref, current, day, out)
    if not labelled.empty:
        _realised(spec, ref, labelled, day, out)
    return out
