"""Monitoring, the stage: one day of a use case's champion, compared with what it was trained on.

:func:`run` orchestrates the :mod:`mlstack.monitoring` package for one day:

1. **reads** (:mod:`~mlstack.monitoring.windows`): the champion's reference rows, the day's
   current window (gateway log or lake), the labelled window ``label_delay_days`` earlier,
   the lake's rows of the logged ids (skew);
2. **compute** (:mod:`~mlstack.monitoring.compute`, pure) per model version that served the
   day — the champion and, while a rollout runs, the challenger (each against its own
   training rows and holdout) — giving typed metric and alert records;
3. **writes** (:mod:`~mlstack.monitoring.history`): the series in ``monitoring_metrics``
   (with the version and its ``variant``), alerts in ``monitoring_alerts``, the Evidently
   report (HTML + JSON, on a sample) at the day's report key in the lake — every day, or
   as ``monitoring.reports`` says (:func:`wants_report`: on alert days, or on days with a
   new alert);

and ends with the :class:`~mlstack.stages.retrain.RetrainEvidence` the retrain policy decides on —
built from the champion's findings and its own series only (:func:`champion_evidence`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import pandas as pd

from mlstack.monitoring import history, windows
from mlstack.monitoring.compute import (
    AlertRecord,
    Findings,
    MetricRecord,
    Reference,
    answered,
    compute,
    of_version,
    variants,
)
from mlstack.settings import Settings, get_settings
from mlstack.specs import UseCaseSpec
from mlstack.stages.retrain import RetrainEvidence
from mlstack.vocabulary import CHAMPION

log = logging.getLogger(__name__)


@dataclass
class MonitorResult:
    """What one monitoring run computed (JSON-safe via :meth:`to_dict`)."""

    usecase: str
    run_date: date
    model_version: int | None
    source: str
    rows: int
    #: Each monitored version's metric records: {version: [...]}.
    metrics: dict[int, list[MetricRecord]] = field(default_factory=dict)
    #: Alerts of every version (each names its ``model_version``).
    alerts: list[AlertRecord] = field(default_factory=list)
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
            "alerts": [a.message for a in self.alerts],
            "report_uri": self.report_uri,
        }


def _monitor_version(
    spec: UseCaseSpec,
    ref: Reference,
    variant: str,
    frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    day: date,
    settings: Settings,
) -> tuple[list[MetricRecord], list[AlertRecord], Findings]:
    """Compute and store one version's metrics; its alerts name it unless it is the champion."""
    current, labelled, lake_ids = frames
    cur, lab = of_version(current, ref.version), of_version(labelled, ref.version)
    lab.attrs["day"] = labelled.attrs.get("day", day)
    figures = compute(spec, ref, cur, lab, day, lake=lake_ids)
    history.write_metrics(spec, ref.version, figures.metrics, settings, variant=variant)
    prefix = "" if variant == CHAMPION else f"{variant} v{ref.version}: "
    alerts = [
        replace(a, model_version=ref.version, message=prefix + a.message) for a in figures.alerts
    ]
    return figures.metrics, alerts, figures.findings


def run(spec: UseCaseSpec, day: date, settings: Settings | None = None) -> MonitorResult:
    """Monitor ``day`` for each model version that served it; evidence from the champion's.

    Metrics, alerts and report; then the :class:`RetrainEvidence` for the retrain policy, built
    from the champion's own series (a challenger's points never count for or against it).
    """
    s = settings or get_settings()
    ref = windows.champion_reference(spec, s)
    if ref is None:
        log.info("No champion for %s yet: nothing to monitor on %s", spec.name, day)
        return MonitorResult(spec.name, day, None, "none", 0)
    current, source = windows.load_window(spec, day, ref, s)
    lday = day - timedelta(days=spec.schema.label_delay_days)
    labelled = current if lday == day else windows.labelled_window(spec, lday, ref, s)
    labelled.attrs["day"] = lday
    frames = (current, labelled, windows.lake_rows(spec, current, s))
    result = MonitorResult(spec.name, day, ref.version, source, len(answered(current)))
    findings = Findings()
    for version, variant in variants(current, labelled, ref.version).items():
        try:
            vref = ref if version == ref.version else windows.version_reference(spec, version, s)
        except Exception as exc:  # a deleted version or unreadable snapshot: skip, say so
            log.warning("Cannot monitor %s v%s on %s: %s", spec.name, version, day, exc)
            continue
        metrics, alerts, found = _monitor_version(spec, vref, variant, frames, day, s)
        result.metrics[version] = metrics
        result.alerts += alerts
        result.versions[version] = {
            "variant": variant,
            "rows": len(of_version(current, version)),
            "labelled_rows": len(of_version(labelled, version)),
        }
        if version == ref.version:
            findings = found
    served = of_version(current, ref.version)
    if not served.empty and wants_report(spec, day, result.alerts, ref.version, s):
        result.report_uri = history.write_report(spec, ref, served, day, result.to_dict(), s)
    history.write_alerts(
        spec, day, result.alerts, result.report_uri, s, model_version=result.model_version
    )
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


def wants_report(
    spec: UseCaseSpec, day: date, alerts: list[AlertRecord], version: int, settings: Settings
) -> bool:
    """Whether ``day`` gets Evidently's report of champion ``version``, by
    ``monitoring.reports``: ``daily``; ``on_alert``: the day has an alert; ``on_new_alert``:
    the day has an alert of ``version`` whose signature (kind, drifted features, estimated or
    realised: :func:`~mlstack.monitoring.compute.alert_signature`) the day before had not —
    a drift that lasts gets one report when it starts and one when its features change."""
    how = spec.monitoring.reports
    if how == "daily":
        return True
    if how == "on_alert":
        return bool(alerts)
    today = {a.signature() for a in alerts if a.model_version in (None, version)}
    before = history.alert_signatures(spec.name, day - timedelta(days=1), version, settings)
    return bool(today - before)


def champion_evidence(
    spec: UseCaseSpec,
    ref: Reference,
    day: date,
    findings: Findings,
    report_uri: str | None,
    settings: Settings,
) -> RetrainEvidence:
    """What the retrain policy decides on: the champion's findings and its own series."""
    metric = ref.metric
    changed = history.change_date(spec.name, metric, day, settings, model_version=ref.version)
    since = day - timedelta(days=spec.retraining.sustained_days - 1)
    estimated = [
        (d, v)
        for d, v, _ in history.version_series(
            spec.name, f"estimated_{metric}", ref.version, since=since, settings=settings
        )
        if v is not None and d <= day
    ]
    return RetrainEvidence(
        usecase=spec.name,
        run_date=day,
        metric=metric,
        reference_value=ref.value,
        model_version=ref.version,
        realised_value=findings.realised_value,
        labelled_rows=findings.labelled_rows,
        estimated=estimated,
        drifted_features=findings.drifted,
        quality_issues=findings.quality,
        skew=findings.skew,
        change_date=changed,
        fresh_labels=windows.fresh_labels(spec, changed or day, day, settings),
        report_uri=report_uri,
    )
