"""Evidently, on a sample: the human-readable drift report (HTML + JSON) of a monitoring run.

Evidently is the report renderer, not the engine: verdicts come from :mod:`mlstack.monitoring.drift`
(same methods and thresholds, computed at scale). The report runs on a bounded sample so it
costs seconds whatever the window size; :func:`evidently_drift` exposes Evidently's own
per-column verdicts so tests and the benchmark can check that both agree.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

REPORT_SAMPLE_ROWS = 20_000


@dataclass(frozen=True)
class RenderedReport:
    """An Evidently report: HTML page and JSON document."""

    html: str
    json: str


def _run(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
) -> Any:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    cols = [*numerical, *categorical]
    definition = DataDefinition(
        numerical_columns=list(numerical), categorical_columns=list(categorical)
    )
    report = Report([DataDriftPreset(columns=cols)])
    return report.run(
        Dataset.from_pandas(current[cols], data_definition=definition),
        Dataset.from_pandas(reference[cols], data_definition=definition),
    )


def evidently_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
) -> dict[str, dict[str, Any]]:
    """Evidently's per-column drift: ``{column: {method, score, threshold, drifted}}``."""
    snapshot = _run(reference, current, numerical, categorical)
    out: dict[str, dict[str, Any]] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        method, score, threshold = config["method"], float(metric["value"]), config["threshold"]
        is_p_value = "p_value" in method
        drifted = score < threshold if is_p_value else score >= threshold
        if "K-S" in method:
            drifted = score <= threshold
        out[config["column"]] = {
            "method": method,
            "score": score,
            "threshold": threshold,
            "drifted": drifted,
        }
    return out


def sample(frame: pd.DataFrame, rows: int = REPORT_SAMPLE_ROWS, seed: int = 0) -> pd.DataFrame:
    """At most ``rows`` rows, drawn reproducibly."""
    return frame if len(frame) <= rows else frame.sample(n=rows, random_state=seed)


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    *,
    rows: int = REPORT_SAMPLE_ROWS,
    extra: dict[str, Any] | None = None,
) -> RenderedReport:
    """Evidently's drift report on samples of both windows; ``extra`` joins the JSON."""
    snapshot = _run(sample(reference, rows), sample(current, rows), numerical, categorical)
    doc = json.loads(snapshot.json())
    doc["mlstack"] = {"sample_rows": rows, **(extra or {})}
    log.info("Rendered the Evidently drift report on at most %d rows per window", rows)
    return RenderedReport(html=snapshot.get_html_str(as_iframe=False), json=json.dumps(doc))
