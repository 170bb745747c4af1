"""Drift statistics: few false alarms on identical distributions, known shifts detected,
and the same verdicts and scores as Evidently's DataDriftPreset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlstack.exceptions import InvalidInput
from mlstack.monitoring.drift import (
    ColumnDrift,
    alerting,
    categorical_drift,
    choose_method,
    dataset_drift,
    numerical_drift,
    psi,
    wasserstein_sorted,
)
from scipy import stats
from scipy.spatial import distance

CATS = ["car", "home", "education", "business", "other"]


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0, cat_p=None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "income": rng.lognormal(10 + shift, 0.5, n),
            "score": rng.normal(650 + 50 * shift, 80, n).round(),
            "purpose": rng.choice(CATS, n, p=cat_p),
            "flag": rng.integers(0, 2, n),
        }
    )


def test_wasserstein_sorted_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    a, b = np.sort(rng.normal(size=3000)), np.sort(rng.exponential(size=2000))
    assert wasserstein_sorted(a, b) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)


def test_jensen_shannon_matches_scipy() -> None:
    ref = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    cur = pd.Series(["a"] * 20 + ["b"] * 30 + ["d"] * 50)
    got = categorical_drift("x", ref, cur, method="jensenshannon").score
    p = np.array([0.5, 0.3, 0.2, 0.0])
    q = np.array([0.2, 0.3, 0.0, 0.5])
    assert got == pytest.approx(distance.jensenshannon(p, q), rel=1e-9)


@pytest.mark.parametrize(
    ("kind", "ref_rows", "n_values", "method"),
    [
        ("numerical", 5000, 100, "wasserstein"),
        ("numerical", 5000, 3, "jensenshannon"),
        ("categorical", 5000, 6, "jensenshannon"),
        ("numerical", 800, 100, "ks"),
        ("categorical", 800, 6, "chisquare"),
        ("categorical", 800, 2, "z"),
    ],
)
def test_choose_method_by_type_and_size_matches_evidently_defaults(
    kind: str, ref_rows: int, n_values: int, method: str
) -> None:
    assert choose_method(kind, ref_rows, n_values) == method  # type: ignore[arg-type]


def test_dataset_drift_identical_distributions_rarely_alarms() -> None:
    rng = np.random.default_rng(7)
    alarms = trials = 0
    for _ in range(20):
        report = dataset_drift(
            _frame(rng, 5000), _frame(rng, 5000), ["income", "score", "flag"], ["purpose"]
        )
        alarms += sum(c.drifted for c in report.columns)
        trials += len(report.columns)
    assert alarms / trials <= 0.01


def test_small_reference_p_value_tests_alarm_near_their_level() -> None:
    rng = np.random.default_rng(3)
    alarms = [
        numerical_drift("x", rng.normal(size=500), rng.normal(size=500)).drifted for _ in range(200)
    ]
    assert 0.0 <= np.mean(alarms) <= 0.1  # KS at 5 %


def test_dataset_drift_known_numeric_shift_detected() -> None:
    rng = np.random.default_rng(11)
    report = dataset_drift(
        _frame(rng, 5000), _frame(rng, 5000, shift=0.3), ["income", "score"], ["purpose"]
    )
    assert set(report.drifted_columns) == {"income", "score"}
    assert report.dataset_drift


def test_dataset_drift_known_categorical_shift_detected() -> None:
    rng = np.random.default_rng(12)
    report = dataset_drift(
        _frame(rng, 5000),
        _frame(rng, 5000, cat_p=[0.6, 0.1, 0.1, 0.1, 0.1]),
        ["income"],
        ["purpose"],
    )
    assert report.drifted_columns == ["purpose"]
    # Evidently's rule is share >= drift_share: one of two columns is a dataset drift
    assert report.share_drifted == 0.5 and report.dataset_drift


def test_categorical_drift_unseen_category_small_reference_is_drift() -> None:
    ref = pd.Series(["a", "b", "c"] * 100)
    cur = pd.Series(["a", "b", "c", "z"] * 75)
    result = categorical_drift("x", ref, cur)
    assert result.method == "chisquare" and result.drifted


def test_numerical_drift_all_missing_current_raises() -> None:
    with pytest.raises(InvalidInput, match="no non-missing values in the current"):
        numerical_drift("x", np.arange(10.0), np.array([np.nan, np.nan]))


def test_psi_identical_is_near_zero_and_shift_is_large() -> None:
    rng = np.random.default_rng(0)
    a = np.sort(rng.normal(size=20000))
    assert psi(a, np.sort(rng.normal(size=20000))) < 0.01
    assert psi(a, np.sort(rng.normal(1.0, size=20000))) > 0.25


def test_dataset_drift_same_scores_and_verdicts_as_evidently() -> None:
    from mlstack.monitoring.reports import evidently_drift

    rng = np.random.default_rng(5)
    ref = _frame(rng, 3000)
    cur = _frame(rng, 3000, shift=0.15, cat_p=[0.3, 0.2, 0.2, 0.2, 0.1])
    ours = dataset_drift(ref, cur, ["income", "score", "flag"], ["purpose"])
    theirs = evidently_drift(ref, cur, ["income", "score", "flag"], ["purpose"])
    for col in ours.columns:
        assert col.drifted == theirs[col.column]["drifted"], col
        assert col.score == pytest.approx(theirs[col.column]["score"], rel=1e-6, abs=1e-12)


def test_alert_corrects_for_many_p_value_tests_but_keeps_distance_verdicts() -> None:
    """Twelve unchanged columns tested at 0.05 flag one on about half the days; the alert
    needs p below 0.05 / 12, while each column's verdict stays Evidently's."""

    def col(name: str, method: str, score: float, threshold: float = 0.05) -> ColumnDrift:
        drifted = score >= threshold if method == "wasserstein" else score <= threshold
        return ColumnDrift(name, "numerical", method, score, threshold, drifted, 300, 300)  # type: ignore[arg-type]

    noise = [col(f"c{i}", "ks", 0.5) for i in range(9)]
    fluke, real = col("age", "ks", 0.02), col("income", "ks", 1e-6)
    found = alerting([*noise, fluke, real, col("dti", "ks", 0.003)])
    assert fluke.drifted and [c.column for c in found] == ["income", "dti"]
    # distances are never corrected; one p-value test alone keeps its own threshold
    alone = alerting([col("x", "wasserstein", 0.2, 0.1), col("y", "wasserstein", 0.05, 0.1), fluke])
    assert {c.column for c in alone} == {"x", "age"}
