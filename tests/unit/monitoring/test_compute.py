"""The monitor's pure compute on small frames: typed records, drift and performance alerts
against the bar, realised figures on the labelled day, nothing at all on empty windows."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from mlstack.monitoring.bars import watched_metric
from mlstack.monitoring.compute import (
    AlertRecord,
    DayFigures,
    MetricRecord,
    Reference,
    compute,
    variants,
)

DAY = date(2026, 3, 10)
LABEL_DAY = date(2026, 3, 8)


@pytest.fixture
def spec(credit_spec):
    """credit_default watching ROC AUC (bar 0.03 below the holdout), 200 labels suffice."""
    retraining = credit_spec.retraining.model_copy(update={"metric": "roc_auc"})
    monitoring = credit_spec.monitoring.model_copy(
        update={"min_labels": 200, "performance_drop": 0.03}
    )
    return credit_spec.model_copy(update={"retraining": retraining, "monitoring": monitoring})


def _rows(spec, n: int, seed: int, *, income_scale: float = 1.0) -> pd.DataFrame:
    """``n`` rows of the credit use case's features, a score and a label that follows it."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for name, col in spec.schema.columns.items():
        if name in (spec.schema.id_column, spec.schema.timestamp_column, spec.schema.target_column):
            continue
        if col.type == "category":
            data[name] = rng.choice(col.categories, n)
        else:
            low = col.min if col.min is not None else 0
            high = min(col.max, low + 50) if col.max is not None else low + 50
            draw = rng.integers(low, high, n) if col.type == "int" else rng.uniform(low, high, n)
            data[name] = draw
    frame = pd.DataFrame(data)
    frame["income"] = frame["income"] * income_scale
    frame[spec.schema.id_column] = [f"a{seed}-{i}" for i in range(n)]
    frame[spec.schema.timestamp_column] = pd.Timestamp(DAY)
    frame["_score"] = 1 / (1 + np.exp(-rng.normal(-1.0, 1.5, n)))
    frame[spec.schema.target_column] = (rng.random(n) < frame["_score"]).astype(int)
    return frame


def _reference(spec, value: float) -> Reference:
    holdout = _rows(spec, 400, 1)
    holdout["_label"] = holdout[spec.schema.target_column].astype(float)
    return Reference(1, "run", None, _rows(spec, 2000, 0), holdout, watched_metric(spec), value)


def _labelled(frame: pd.DataFrame, spec) -> pd.DataFrame:
    out = frame.assign(_label=frame[spec.schema.target_column].astype(float))
    out.attrs["day"] = LABEL_DAY
    return out


def _named(figures: DayFigures, metric: str, feature: str | None = None) -> MetricRecord:
    return next(m for m in figures.metrics if m.metric == metric and m.feature == feature)


def test_compute_shifted_income_gives_typed_drift_records_and_a_drift_alert(spec) -> None:
    current = _rows(spec, 1200, 2, income_scale=0.3)
    ref = _reference(spec, value=0.5)

    figures = compute(spec, ref, current, _labelled(current, spec), DAY)

    assert all(isinstance(m, MetricRecord) for m in figures.metrics)
    assert all(isinstance(a, AlertRecord) for a in figures.alerts)
    assert _named(figures, "rows").value == 1200.0 and _named(figures, "rows").run_date == DAY
    income = _named(figures, "drift_score", "income")
    assert income.alert and income.threshold is not None and income.details["method"]
    assert not _named(figures, "drift_score", "age").alert
    drift = [a for a in figures.alerts if a.kind == "drift"]
    assert len(drift) == 1 and "income" in drift[0].message and drift[0].severity == "warning"
    assert [d["column"] for d in figures.findings.drifted] == ["income"]
    share = _named(figures, "drift_share")
    assert share.value == pytest.approx(1 / 12) and share.threshold == 0.5 and not share.alert


def test_compute_judges_estimated_and_realised_against_the_bar(spec) -> None:
    current = _rows(spec, 400, 3)
    ref = _reference(spec, value=0.99)  # a holdout no window can match: both alert

    figures = compute(spec, ref, current, _labelled(current, spec), DAY)

    bar = 0.99 - spec.monitoring.performance_drop
    estimated = _named(figures, "estimated_roc_auc")
    assert estimated.threshold == pytest.approx(bar) and estimated.alert
    assert estimated.run_date == DAY and estimated.value is not None and estimated.value < bar
    realised = _named(figures, "realised_roc_auc")
    assert realised.run_date == LABEL_DAY and realised.alert
    assert realised.details["labelled_rows"] == 400
    assert _named(figures, "label_coverage").value == 1.0
    assert "realised_business_value_per_row" in {m.metric for m in figures.metrics}
    performance = [a for a in figures.alerts if a.kind == "performance"]
    assert [a.severity for a in performance] == ["critical", "critical"]
    assert performance[0].message.startswith("estimated roc_auc")
    assert f"on {LABEL_DAY} below the bar" in performance[1].message
    assert figures.findings.realised_value == realised.value
    assert figures.findings.labelled_rows == 400


def test_compute_good_model_raises_no_performance_alert(spec) -> None:
    current = _rows(spec, 400, 4)
    figures = compute(spec, _reference(spec, 0.5), current, current.iloc[:0], DAY)

    assert not _named(figures, "estimated_roc_auc").alert
    assert not [a for a in figures.alerts if a.kind == "performance"]
    assert "label_coverage" not in {m.metric for m in figures.metrics}  # nothing labelled


def test_compute_too_few_labels_gives_coverage_but_no_realised_metric(spec) -> None:
    current = _rows(spec, 400, 5)
    labelled = _labelled(current, spec)
    labelled.loc[labelled.index[50:], "_label"] = np.nan  # 50 < min_labels (200)

    figures = compute(spec, _reference(spec, 0.5), current, labelled, DAY)

    assert _named(figures, "label_coverage").value == pytest.approx(50 / 400)
    assert "realised_roc_auc" not in {m.metric for m in figures.metrics}
    assert figures.findings.realised_value is None and figures.findings.labelled_rows == 0


def test_compute_empty_windows_count_zero_rows_and_alert_nothing(spec) -> None:
    empty = pd.DataFrame()
    figures = compute(spec, _reference(spec, 0.5), empty, empty, DAY)

    assert [m.row() for m in figures.metrics] == [
        {
            "metric": "rows",
            "feature": None,
            "value": 0.0,
            "threshold": None,
            "alert": False,
            "details": {},
            "run_date": DAY,
        }
    ]
    assert figures.alerts == [] and figures.findings.drifted == []


def test_metric_record_nan_is_none_and_alert_a_bool() -> None:
    record = MetricRecord.of("x", float("nan"), day=DAY, alert=np.bool_(True))
    assert record.value is None and record.alert is True and type(record.alert) is bool


def test_variants_champion_first_then_challenger_or_previous_champion() -> None:
    current = pd.DataFrame({"_version": [3, 3, 4, 2], "_variant": ["champion", "x", "shadow", "y"]})
    assert variants(current, pd.DataFrame(), 3) == {
        3: "champion",
        2: "previous_champion",
        4: "challenger",
    }
