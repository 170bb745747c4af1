"""Performance: realised once labels arrive, estimated while they are missing, and its value.

* **Realised** metrics on the labelled part of a window, with the label coverage.
* **CBPE** (confidence-based performance estimation, binary classification): with calibrated
  probabilities ``p`` and decisions ``ŷ = p >= threshold``, each row contributes its
  *expected* confusion-matrix cell: ``TP = Σ p·ŷ``, ``FP = Σ (1-p)·ŷ``, ``FN = Σ p·(1-ŷ)``,
  ``TN = Σ (1-p)·(1-ŷ)``; metrics follow from the expected matrix. ROC AUC is estimated by
  sweeping the threshold over the sorted probabilities and integrating the expected
  TPR(FPR) curve (NannyML's published definition). Probabilities are calibrated on the
  reference (isotonic regression of the labels on the scores) only when that helps on
  held-out rows: see :func:`calibration_helps` (NannyML likewise calibrates only when needed).
  *Assumption*: ``P(y | x)`` is unchanged (no concept drift) — CBPE sees covariate shift,
  not a changed relation between inputs and outcome; realised metrics catch that later.
* **DLE** (direct loss estimation, regression): a model fitted on the reference predicts each
  row's absolute and squared error from its inputs and the prediction; the means over the
  window estimate MAE and RMSE. Same assumption as CBPE.
* **Business value** from the spec's cost matrix, realised or expected.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score

from mlstack.exceptions import InvalidInput

log = logging.getLogger(__name__)

CLASSIFICATION_METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1", "specificity")
REGRESSION_METRICS = ("mae", "rmse")


@dataclass(frozen=True)
class Confusion:
    """A (possibly expected, hence fractional) confusion matrix."""

    tp: float
    fp: float
    fn: float
    tn: float

    @property
    def n(self) -> float:
        """Rows counted."""
        return self.tp + self.fp + self.fn + self.tn

    def metrics(self) -> dict[str, float]:
        """Threshold metrics of this matrix (NaN where undefined)."""

        def ratio(a: float, b: float) -> float:
            return a / b if b > 0 else float("nan")

        return {
            "accuracy": ratio(self.tp + self.tn, self.n),
            "precision": ratio(self.tp, self.tp + self.fp),
            "recall": ratio(self.tp, self.tp + self.fn),
            "f1": ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn),
            "specificity": ratio(self.tn, self.tn + self.fp),
        }

    def value(self, costs: dict[str, float]) -> float:
        """Business value: Σ cell × value of one such decision (keys tp, fp, fn, tn)."""
        return sum(float(costs.get(k, 0.0)) * getattr(self, k) for k in ("tp", "fp", "fn", "tn"))

    def to_dict(self) -> dict[str, float]:
        """JSON-safe form."""
        return asdict(self)


def _check_proba(proba: np.ndarray) -> np.ndarray:
    p = np.asarray(proba, dtype=float)
    if p.size and (np.nanmin(p) < 0 or np.nanmax(p) > 1):
        raise InvalidInput(
            "scores must be probabilities in [0, 1] for CBPE; log predict_proba, not a margin"
        )
    return p


# --- realised -------------------------------------------------------------------------------


def confusion(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> Confusion:
    """The realised confusion matrix of decisions ``proba >= threshold``."""
    y = np.asarray(y_true, dtype=float) > 0.5
    pred = _check_proba(proba) >= threshold
    return Confusion(
        tp=float(np.sum(y & pred)),
        fp=float(np.sum(~y & pred)),
        fn=float(np.sum(y & ~pred)),
        tn=float(np.sum(~y & ~pred)),
    )


def realised_classification(
    y_true: np.ndarray, proba: np.ndarray, threshold: float
) -> dict[str, float]:
    """ROC AUC and threshold metrics from labels (ROC AUC NaN when one class only)."""
    y = np.asarray(y_true, dtype=float)
    out = confusion(y, proba, threshold).metrics()
    out["roc_auc"] = (
        float(roc_auc_score(y > 0.5, proba)) if 0 < np.sum(y > 0.5) < y.size else float("nan")
    )
    return out


def realised_regression(y_true: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """MAE and RMSE of predictions against labels."""
    err = np.asarray(prediction, dtype=float) - np.asarray(y_true, dtype=float)
    if err.size == 0:
        return {"mae": float("nan"), "rmse": float("nan")}
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}


# --- CBPE -----------------------------------------------------------------------------------


def expected_confusion(
    proba: np.ndarray, threshold: float, scores: np.ndarray | None = None
) -> Confusion:
    """CBPE's expected confusion matrix of calibrated probabilities ``proba``.

    The decisions are ``scores >= threshold`` — the model's own scores, which is what the
    service acted on — defaulting to ``proba`` when the scores are already calibrated.
    """
    p = _check_proba(proba)
    pred = (p if scores is None else np.asarray(scores, dtype=float)) >= threshold
    return Confusion(
        tp=float(np.sum(p[pred])),
        fp=float(np.sum(1 - p[pred])),
        fn=float(np.sum(p[~pred])),
        tn=float(np.sum(1 - p[~pred])),
    )


def estimated_roc_auc(proba: np.ndarray) -> float:
    """CBPE's ROC AUC: the expected ROC curve of calibrated probabilities, integrated.

    At threshold ``t`` (each distinct probability, descending) the expected true positives are
    ``Σ_{p_i >= t} p_i`` and false positives ``Σ_{p_i >= t} (1 - p_i)``; normalised by their
    totals they give the expected TPR and FPR; the area is the trapezoid rule over them.
    """
    p = np.sort(_check_proba(proba))[::-1]
    if p.size == 0:
        return float("nan")
    tps, fps = np.cumsum(p), np.cumsum(1 - p)
    last_of_value = np.r_[np.diff(p) != 0, True]  # one point per distinct threshold
    tps, fps = tps[last_of_value], fps[last_of_value]
    if tps[-1] <= 0 or fps[-1] <= 0:
        return float("nan")
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return float(np.trapezoid(tpr, fpr))


#: Bins of the expected calibration error (equal-count, by rank of the score).
ECE_BINS = 10
#: Folds of the held-out check that decides whether to calibrate.
CALIBRATION_FOLDS = 3


def expected_calibration_error(
    y_true: np.ndarray, proba: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE: the row-weighted mean of ``|mean label - mean probability|`` over ``bins``
    equal-count bins of the rows sorted by probability."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(proba, dtype=float)
    if y.size == 0:
        return float("nan")
    order = np.argsort(p, kind="stable")
    return float(
        sum(
            len(idx) * abs(y[idx].mean() - p[idx].mean())
            for idx in np.array_split(order, min(bins, y.size))
            if len(idx)
        )
        / y.size
    )


@dataclass(frozen=True)
class CalibrationCheck:
    """Held-out calibration error of the raw scores and of their isotonic calibration."""

    raw_ece: float
    calibrated_ece: float

    @property
    def helps(self) -> bool:
        """Calibrate only when it lowers the held-out error."""
        return bool(self.calibrated_ece < self.raw_ece)


def calibration_helps(
    y_true: np.ndarray, proba: np.ndarray, *, folds: int = CALIBRATION_FOLDS, seed: int = 0
) -> CalibrationCheck:
    """The rule that decides whether CBPE calibrates: cross-fitted on the reference rows.

    The rows are split into ``folds`` shuffled folds; each fold's scores are calibrated by an
    isotonic regression fitted on the other folds. Calibration is used only when the
    expected calibration error (:func:`expected_calibration_error`) of those held-out
    calibrated scores is lower than that of the raw scores on the same rows. Already
    calibrated scores are then left alone (an isotonic fit on a small holdout only adds its
    noise), and miscalibrated ones are calibrated.
    """
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(proba, dtype=float)
    rng = np.random.default_rng(seed)
    fold_of = rng.permutation(y.size) % folds
    held_out = np.empty_like(p)
    for k in range(folds):
        test = fold_of == k
        train = ~test
        if len(np.unique(y[train])) < 2:
            held_out[test] = p[test]
            continue
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p[train], y[train])
        held_out[test] = iso.predict(p[test])
    return CalibrationCheck(
        expected_calibration_error(y, p), expected_calibration_error(y, held_out)
    )


class Calibrator:
    """Isotonic calibration of scores, fitted on reference labels when it helps (identity
    when unfitted or when :func:`calibration_helps` says the raw scores are better)."""

    def __init__(self) -> None:
        self._iso: IsotonicRegression | None = None
        self.check: CalibrationCheck | None = None

    @property
    def applied(self) -> bool:
        """Whether the scores are transformed (calibration helped on held-out rows)."""
        return self._iso is not None

    def fit(self, y_true: np.ndarray, proba: np.ndarray) -> Calibrator:
        """Decide on reference labels and scores whether to calibrate; fit if so."""
        y = np.asarray(y_true, dtype=float)
        if y.size < 100 or len(np.unique(y)) < 2:
            raise InvalidInput(
                f"calibration needs at least 100 labelled reference rows of both classes; "
                f"got {y.size} rows with classes {sorted(np.unique(y).tolist())}"
            )
        p = _check_proba(proba)
        self.check = calibration_helps(y, p)
        self._iso = None
        if self.check.helps:
            self._iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            self._iso.fit(p, y)
        log.debug(
            "CBPE calibration %s: held-out ECE raw %.4f, calibrated %.4f",
            "applied" if self.applied else "skipped",
            self.check.raw_ece,
            self.check.calibrated_ece,
        )
        return self

    def transform(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities."""
        p = _check_proba(proba)
        return p if self._iso is None else np.asarray(self._iso.predict(p), dtype=float)


def cbpe(
    proba: np.ndarray,
    threshold: float,
    *,
    calibrator: Calibrator | None = None,
    costs: dict[str, float] | None = None,
) -> dict[str, float]:
    """Estimated classification metrics (and expected business value per row) of a window.

    ``proba`` are the model's scores as served; decisions use them, expectations use their
    calibrated values.
    """
    scores = _check_proba(proba)
    p = calibrator.transform(scores) if calibrator else scores
    matrix = expected_confusion(p, threshold, scores)
    out = matrix.metrics()
    out["roc_auc"] = estimated_roc_auc(p)
    if costs:
        out["business_value_per_row"] = matrix.value(costs) / matrix.n if matrix.n else np.nan
    return out


# --- DLE ------------------------------------------------------------------------------------


class LossEstimator:
    """DLE: models of a regression model's absolute and squared error, fitted on the reference.

    Inputs are the numerical features plus the model's prediction (categoricals as codes).
    """

    def __init__(self, features: list[str], *, seed: int = 0) -> None:
        self.features = features
        self.seed = seed
        self._abs: HistGradientBoostingRegressor | None = None
        self._sq: HistGradientBoostingRegressor | None = None
        self._categories: dict[str, list[str]] = {}

    def _x(self, frame: pd.DataFrame, prediction: np.ndarray) -> np.ndarray:
        cols = []
        for f in self.features:
            col = frame[f]
            if not pd.api.types.is_numeric_dtype(col):  # codes fixed by the reference's values
                cats = self._categories.setdefault(f, sorted(col.dropna().astype(str).unique()))
                codes = pd.Categorical(col.astype(str), categories=cats).codes
                col = pd.Series(np.where(codes < 0, np.nan, codes))
            cols.append(col.to_numpy(dtype=float))
        cols.append(np.asarray(prediction, dtype=float))
        return np.column_stack(cols)

    def fit(self, frame: pd.DataFrame, prediction: np.ndarray, y_true: np.ndarray) -> LossEstimator:
        """Fit the loss models on reference rows with labels."""
        if len(frame) < 50:
            raise InvalidInput(f"DLE needs at least 50 labelled reference rows; got {len(frame)}")
        x = self._x(frame, prediction)
        err = np.asarray(prediction, dtype=float) - np.asarray(y_true, dtype=float)
        kw: dict[str, Any] = {"max_iter": 200, "learning_rate": 0.05, "random_state": self.seed}
        self._abs = HistGradientBoostingRegressor(**kw).fit(x, np.abs(err))
        self._sq = HistGradientBoostingRegressor(**kw).fit(x, err**2)
        return self

    def estimate(self, frame: pd.DataFrame, prediction: np.ndarray) -> dict[str, float]:
        """Estimated MAE and RMSE of a window without labels."""
        if self._abs is None or self._sq is None:
            raise InvalidInput("LossEstimator.estimate called before fit")
        if len(frame) == 0:
            return {"mae": float("nan"), "rmse": float("nan")}
        x = self._x(frame, prediction)
        mae = float(np.mean(np.clip(self._abs.predict(x), 0, None)))
        rmse = float(np.sqrt(np.mean(np.clip(self._sq.predict(x), 0, None))))
        return {"mae": mae, "rmse": rmse}
