"""Realised and estimated performance: CBPE against its definition and against realised
metrics on calibrated data; DLE tracking a loss that moves with covariate shift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlstack.exceptions import InvalidInput
from mlstack.monitoring.performance import (
    Calibrator,
    LossEstimator,
    cbpe,
    confusion,
    estimated_roc_auc,
    expected_calibration_error,
    expected_confusion,
    realised_classification,
    realised_regression,
)
from sklearn.metrics import roc_auc_score

#: CBPE on a calibrated model lands within this of the realised metric (n = 20 000).
CBPE_TOLERANCE = 0.02


def _calibrated(rng: np.random.Generator, n: int, shift: float = 0.0) -> tuple[np.ndarray, ...]:
    x = rng.normal(shift, 1, n)
    p = 1 / (1 + np.exp(-(1.5 * x - 1.0)))
    y = (rng.random(n) < p).astype(int)
    return p, y


def test_expected_confusion_small_example_follows_definition() -> None:
    m = expected_confusion(np.array([0.9, 0.6, 0.2]), threshold=0.5)
    assert (m.tp, m.fp, m.fn, m.tn) == pytest.approx((1.5, 0.5, 0.2, 0.8))
    assert m.metrics()["precision"] == pytest.approx(0.75)
    assert m.metrics()["recall"] == pytest.approx(1.5 / 1.7)


def test_estimated_roc_auc_equals_mean_auc_over_label_draws() -> None:
    rng = np.random.default_rng(0)
    p = rng.beta(2, 5, 400)
    draws = [roc_auc_score(rng.random(p.size) < p, p) for _ in range(400)]
    assert estimated_roc_auc(p) == pytest.approx(np.mean(draws), abs=0.01)


@pytest.mark.parametrize("shift", [0.0, 0.8, -0.8])
def test_cbpe_calibrated_model_within_tolerance_of_realised(shift: float) -> None:
    rng = np.random.default_rng(42)
    ref_p, ref_y = _calibrated(rng, 20000)
    cal = Calibrator().fit(ref_y, ref_p)
    p, y = _calibrated(rng, 20000, shift)
    est = cbpe(p, 0.3, calibrator=cal)
    real = realised_classification(y, p, 0.3)
    for metric in ("roc_auc", "accuracy", "precision", "recall", "f1"):
        assert est[metric] == pytest.approx(real[metric], abs=CBPE_TOLERANCE), metric


def test_cbpe_covariate_shift_estimate_moves_with_realised() -> None:
    rng = np.random.default_rng(1)
    p0, _ = _calibrated(rng, 20000, shift=-1.5)  # mostly confident negatives
    p1, y1 = _calibrated(rng, 20000, shift=0.67)  # centred on the decision boundary
    assert cbpe(p1, 0.5)["accuracy"] < cbpe(p0, 0.5)["accuracy"] - 0.03
    assert cbpe(p1, 0.5)["accuracy"] == pytest.approx(
        realised_classification(y1, p1, 0.5)["accuracy"], abs=CBPE_TOLERANCE
    )


def test_calibrator_miscalibrated_scores_are_corrected() -> None:
    rng = np.random.default_rng(2)
    p, y = _calibrated(rng, 20000)
    skewed = p**2  # systematically under-confident about positives
    cal = Calibrator().fit(y, skewed)
    p2, y2 = _calibrated(rng, 20000)
    est = cbpe(p2**2, 0.25, calibrator=cal)
    real = realised_classification(y2, p2**2, 0.25)
    assert est["precision"] == pytest.approx(real["precision"], abs=CBPE_TOLERANCE)


def test_cbpe_business_value_matches_realised_in_expectation() -> None:
    rng = np.random.default_rng(3)
    p, y = _calibrated(rng, 50000)
    costs = {"tp": 0, "fp": -300, "fn": -2000, "tn": 300}
    est = cbpe(p, 0.25, costs=costs)["business_value_per_row"]
    real = confusion(y, p, 0.25).value(costs) / p.size
    assert est == pytest.approx(real, abs=10)


def test_cbpe_scores_outside_unit_interval_raise() -> None:
    with pytest.raises(InvalidInput, match="probabilities"):
        cbpe(np.array([0.2, 1.7]), 0.5)


def test_dle_heteroscedastic_shift_estimate_tracks_realised_mae() -> None:
    rng = np.random.default_rng(4)

    def window(n: int, loc: float, scale: float) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        x = rng.normal(loc, scale, n)
        y = 3 * x + rng.normal(0, 0.5 + np.abs(x), n)  # noise grows with |x|
        return pd.DataFrame({"x": x}), 3 * x, y

    ref_x, ref_pred, ref_y = window(10000, 0.0, 1.5)
    dle = LossEstimator(["x"]).fit(ref_x, ref_pred, ref_y)
    cur_x, cur_pred, cur_y = window(5000, 1.5, 0.5)
    est, real = dle.estimate(cur_x, cur_pred), realised_regression(cur_y, cur_pred)
    ref_mae = realised_regression(ref_y, ref_pred)["mae"]
    assert real["mae"] > ref_mae * 1.15
    assert est["mae"] == pytest.approx(real["mae"], rel=0.1)
    assert est["rmse"] == pytest.approx(real["rmse"], rel=0.1)


@pytest.mark.parametrize(
    ("metric", "value", "worse"),
    [("roc_auc", 0.76, True), ("roc_auc", 0.78, False), ("rmse", 11.0, True), ("rmse", 9.0, False)],
)
def test_worse_than_the_bar_follows_the_metrics_direction(
    metric: str, value: float, worse: bool
) -> None:
    from mlstack.monitoring.bars import bar, worse_than

    limit = bar(metric, 0.80 if metric == "roc_auc" else 10.0, 0.03 if metric == "roc_auc" else 0.5)
    assert worse_than(metric, value, limit) is worse


def test_worse_than_without_a_value_or_bar_is_never_worse() -> None:
    from mlstack.monitoring.bars import bar, worse_than

    assert bar("roc_auc", None, 0.03) is None
    assert not worse_than("roc_auc", None, 0.8)
    assert not worse_than("roc_auc", 0.1, None)
    assert not worse_than("roc_auc", float("nan"), 0.8)


def _forced_isotonic(y: np.ndarray, p: np.ndarray) -> Calibrator:
    """What CBPE did before: calibrate whether it helps or not."""
    from sklearn.isotonic import IsotonicRegression

    cal = Calibrator()
    cal._iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
    return cal


def test_calibrator_calibrated_scores_small_holdout_accuracy_no_longer_suffers() -> None:
    """Already-calibrated scores and a 300-row holdout: the held-out rule mostly skips the
    isotonic fit, and CBPE's accuracy error is lower than with calibration forced."""
    rule, forced, applied = [], [], 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        hp, hy = _calibrated(rng, 300)
        cal = Calibrator().fit(hy, hp)
        applied += cal.applied
        p, y = _calibrated(rng, 10000, shift=0.5)
        real = realised_classification(y, p, 0.3)["accuracy"]
        rule.append(abs(cbpe(p, 0.3, calibrator=cal)["accuracy"] - real))
        forced.append(abs(cbpe(p, 0.3, calibrator=_forced_isotonic(hy, hp))["accuracy"] - real))
    assert applied <= 8, f"calibrated {applied} of 20 already-calibrated holdouts"
    assert np.mean(rule) < 0.6 * np.mean(forced), (np.mean(rule), np.mean(forced))
    assert np.mean(rule) <= 0.01


def test_calibrator_miscalibrated_small_holdout_still_calibrates() -> None:
    rng = np.random.default_rng(3)
    hp, hy = _calibrated(rng, 300)
    cal = Calibrator().fit(hy, hp**2)
    assert cal.applied and cal.check is not None
    assert cal.check.calibrated_ece < cal.check.raw_ece


def test_expected_calibration_error_zero_when_bins_match() -> None:
    p = np.repeat([0.1, 0.9], 50)
    y = np.r_[np.repeat([1, 0], [5, 45]), np.repeat([1, 0], [45, 5])]
    assert expected_calibration_error(y, p, bins=2) == pytest.approx(0.0)
    assert expected_calibration_error(y, 1 - p, bins=2) == pytest.approx(0.8)
