"""Models and metrics: the built-in ``models`` and ``metrics`` plugins and the pipeline around them.

A use case's model is one scikit-learn ``Pipeline``: the spec's feature transforms (hooks,
applied to the raw frame), then imputation + scaling for numbers and one-hot encoding for
categories, then the estimator. The estimator comes from a ``models`` plugin (a factory
``(task, params, seed) -> estimator``) or from an import path such as
``sklearn.ensemble.RandomForestClassifier``. Because the whole pipeline is the logged model,
serving needs the raw columns only.

Metrics are ``metrics`` plugins: :class:`Metric` objects that know their task, their
direction and whether they read the score (probability) or the decided label. Business value
is a metric too: the mean value per decision under the spec's cost matrix.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlstack import plugins
from mlstack.exceptions import PluginError, TrainingError
from mlstack.specs import TrainingSpec, UseCaseSpec
from mlstack.vocabulary import DEFAULT_PRIMARY

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

NUMERIC_TYPES = ("int", "float", "bool")
CATEGORICAL_TYPES = ("category", "string")
DEFAULT_MODEL = "hist_gradient_boosting"
DEFAULT_METRICS = {
    "classification": ["roc_auc", "pr_auc", "log_loss", "accuracy", "f1"],
    "regression": ["rmse", "mae", "r2"],
}

ModelFactory = Callable[[str, dict[str, Any], int], Any]


# --- metrics ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A named metric: ``fn(y_true, y_score, y_pred, training) -> float``."""

    name: str
    task: str
    greater_is_better: bool
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray, TrainingSpec], float]

    def __call__(
        self, y_true: np.ndarray, y_score: np.ndarray, y_pred: np.ndarray, training: TrainingSpec
    ) -> float:
        """The metric's value on one set of rows."""
        return float(self.fn(y_true, y_score, y_pred, training))

    def improvement(self, candidate: float, reference: float) -> float:
        """How much better ``candidate`` is than ``reference`` (positive = better)."""
        return candidate - reference if self.greater_is_better else reference - candidate


def _metric(
    name: str, task: str, greater_is_better: bool
) -> Callable[[Callable[..., float]], Metric]:
    def deco(fn: Callable[..., float]) -> Metric:
        metric = Metric(name, task, greater_is_better, fn)
        plugins.register("metrics", name)(metric)
        return metric

    return deco


@_metric("roc_auc", "classification", True)
def _roc_auc(y: np.ndarray, score: np.ndarray, pred: np.ndarray, t: TrainingSpec) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


@_metric("pr_auc", "classification", True)
def _pr_auc(y: np.ndarray, score: np.ndarray, pred: np.ndarray, t: TrainingSpec) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, score))


@_metric("log_loss", "classification", False)
def _log_loss(y: np.ndarray, score: np.ndarray, pred: np.ndarray, t: TrainingSpec) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(y, np.clip(score, 1e-15, 1 - 1e-15), labels=[0, 1]))


@_metric("brier", "classification", False)
def _brier(y: np.ndarray, score: np.ndarray, pred: np.ndarray, t: TrainingSpec) -> float:
    return float(np.mean((score - y) ** 2))


@_metric("accuracy", "classification", True)
def _accuracy(y: np.ndarray, score: np.ndarray, pred: np.ndarray, t: TrainingSpec) -> float:
    return float(np.mean(pred == y))


@_metric("precision", "classification", True)
def _precision(y: np.ndarray, score: np.ndarray, pred: np.ndarray, t: TrainingSpec) -> float:
    from sklearn.metrics import precision_score

    return float(precision_score(y, pred, zero_division=0))


@_metric("recall", "classification", True)
def _recall(y: np.ndarray, score: np.ndarray, pred: np.ndarray, t: TrainingSpec) -> float:
    from sklearn.metrics import recall_score

    return float(recall_score(y, pred, zero_division=0))


@_metric("f1", "classification", True)
def _f1(y: np.ndarray, score: np.ndarray, pred: np.ndarray, t: TrainingSpec) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, pred, zero_division=0))


@_metric("business_value", "classification", True)
def _business_value(y: np.ndarray, score: np.ndarray, pred: np.ndarray, t: TrainingSpec) -> float:
    """Mean value per decision: TP/FP/FN/TN counts weighted by the spec's cost matrix."""
    if t.cost_matrix is None:
        raise TrainingError("metric business_value needs training.cost_matrix in the spec")
    cm = t.cost_matrix
    tp = np.sum((pred == 1) & (y == 1))
    fp = np.sum((pred == 1) & (y == 0))
    fn = np.sum((pred == 0) & (y == 1))
    tn = np.sum((pred == 0) & (y == 0))
    return float((cm.tp * tp + cm.fp * fp + cm.fn * fn + cm.tn * tn) / max(len(y), 1))


@_metric("rmse", "regression", False)
def _rmse(y: np.ndarray, score: np.ndarray, pred: np.ndarray, t: TrainingSpec) -> float:
    return float(np.sqrt(np.mean((pred - y) ** 2)))


@_metric("mae", "regression", False)
def _mae(y: np.ndarray, score: np.ndarray, pred: np.ndarray, t: TrainingSpec) -> float:
    return float(np.mean(np.abs(pred - y)))


@_metric("r2", "regression", True)
def _r2(y: np.ndarray, score: np.ndarray, pred: np.ndarray, t: TrainingSpec) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(y, pred))


def get_metric(name: str, task: str) -> Metric:
    """The metric plugin ``name``; PluginError if unknown or meant for another task."""
    metric = plugins.get("metrics", name)
    if not isinstance(metric, Metric):
        raise PluginError(f"metrics plugin {name!r} is not a mlstack.modeling.Metric")
    if metric.task != task:
        same = [n for n in plugins.names("metrics") if plugins.get("metrics", n).task == task]
        raise PluginError(f"metric {name!r} is for {metric.task}, not {task}; use one of {same}")
    return metric


def primary_metric(spec: UseCaseSpec) -> Metric:
    """The metric promotion compares: ``training.primary_metric`` or the task's default."""
    return get_metric(spec.training.primary_metric or DEFAULT_PRIMARY[spec.task], spec.task)


def metric_names(spec: UseCaseSpec) -> list[str]:
    """Every metric a training reports: primary first, then the spec's or the task's defaults."""
    names = [primary_metric(spec).name, *(spec.training.metrics or DEFAULT_METRICS[spec.task])]
    if spec.training.cost_matrix is not None:
        names.append("business_value")
    return list(dict.fromkeys(names))


# --- models -------------------------------------------------------------------------------


def _sk(classifier: str, regressor: str) -> ModelFactory:
    def factory(task: str, params: dict[str, Any], seed: int) -> Any:
        return build_from_path(classifier if task == "classification" else regressor, params, seed)

    factory.__doc__ = f"{classifier} for classification, {regressor} for regression."
    return factory


BUILTIN_MODELS: dict[str, ModelFactory] = {
    "hist_gradient_boosting": _sk(
        "sklearn.ensemble.HistGradientBoostingClassifier",
        "sklearn.ensemble.HistGradientBoostingRegressor",
    ),
    "random_forest": _sk(
        "sklearn.ensemble.RandomForestClassifier", "sklearn.ensemble.RandomForestRegressor"
    ),
    "gradient_boosting": _sk(
        "sklearn.ensemble.GradientBoostingClassifier",
        "sklearn.ensemble.GradientBoostingRegressor",
    ),
    "linear": _sk("sklearn.linear_model.LogisticRegression", "sklearn.linear_model.Ridge"),
    "decision_tree": _sk(
        "sklearn.tree.DecisionTreeClassifier", "sklearn.tree.DecisionTreeRegressor"
    ),
}
for _name, _factory in BUILTIN_MODELS.items():
    plugins.register("models", _name)(_factory)


def build_from_path(path: str, params: dict[str, Any], seed: int) -> Any:
    """Instantiate the estimator class at import path ``path`` with ``params`` (+ seed)."""
    module_name, _, attr = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attr) if module_name else None
    except (ImportError, AttributeError):
        cls = None
    if cls is None or not callable(cls):
        known = ", ".join(plugins.names("models"))
        raise PluginError(
            f"unknown estimator {path!r}: not a models plugin ({known}) nor an importable class "
            "path like sklearn.linear_model.LogisticRegression"
        )
    kwargs = dict(params)
    if "random_state" in inspect.signature(cls).parameters:
        kwargs.setdefault("random_state", seed)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise PluginError(f"estimator {path}: bad params {sorted(params)}: {exc}") from exc


def build_estimator(spec: UseCaseSpec) -> Any:
    """The estimator the spec names (plugin name or import path), seeded."""
    model = spec.training.model
    name = model.estimator if model else DEFAULT_MODEL
    params = dict(model.params) if model else {}
    try:
        if "." in name:
            return build_from_path(name, params, spec.training.seed)
        factory = plugins.get("models", name)
        try:
            return factory(spec.task, params, spec.training.seed)
        except TypeError as exc:
            raise PluginError(f"model {name!r}: bad params {sorted(params)}: {exc}") from exc
    except PluginError as exc:  # say where: the spec file and its field
        raise PluginError(f"{spec.path or spec.name}: training.model: {exc}") from exc


def feature_columns(spec: UseCaseSpec) -> list[str]:
    """Model inputs: ``training.features`` or every column but id, timestamp and target."""
    sch = spec.schema
    if spec.training.features:
        return list(spec.training.features)
    skip = {sch.id_column, sch.timestamp_column, sch.target_column}
    return [
        c
        for c, col in sch.columns.items()
        if c not in skip and col.type not in ("date", "timestamp")
    ]


def model_input(spec: UseCaseSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The raw model input: feature columns, numbers as float64, categories as object strings.

    One dtype per column whatever the snapshot holds (ints with or without nulls), so the
    signature is stable from one training to the next.
    """
    out = {}
    for name in feature_columns(spec):
        col = spec.schema.columns[name]
        values = frame[name]
        if col.type in NUMERIC_TYPES:
            out[name] = pd.to_numeric(values, errors="coerce").astype("float64")
        else:
            out[name] = values.astype(object).where(values.notna(), None)
    return pd.DataFrame(out, index=frame.index)


def _apply_transforms(spec: UseCaseSpec) -> Callable[[pd.DataFrame], pd.DataFrame]:
    fns = [
        plugins.get_for(spec, "transforms", n, f"training.transforms[{i}]")
        for i, n in enumerate(spec.training.transforms)
    ]

    def apply(frame: pd.DataFrame) -> pd.DataFrame:
        for fn in fns:
            frame = fn(frame)
        return frame

    return apply


def build_pipeline(spec: UseCaseSpec, sample: pd.DataFrame) -> Pipeline:
    """Transforms → impute/scale numbers, one-hot categories → estimator, as one Pipeline.

    ``sample`` (raw model input) tells which columns the transforms produce.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    steps: list[tuple[str, Any]] = []
    transformed = sample
    if spec.training.transforms:
        fn = _apply_transforms(spec)
        _pickle_hooks_by_value(spec.training.transforms)
        steps.append(("transforms", FunctionTransformer(fn, validate=False)))
        transformed = fn(sample.copy())
    numeric = [c for c in transformed.columns if pd.api.types.is_numeric_dtype(transformed[c])]
    categorical = [c for c in transformed.columns if c not in numeric]
    prep = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                categorical,
            ),
        ],
        remainder="drop",
    )
    steps += [("prepare", prep), ("model", build_estimator(spec))]
    return Pipeline(steps)


def _pickle_hooks_by_value(transform_names: list[str]) -> None:
    """Hook functions live in modules serving cannot import: pickle them by value."""
    import sys

    import cloudpickle

    for name in transform_names:
        module = sys.modules.get(getattr(plugins.get("transforms", name), "__module__", ""))
        if module is not None and module.__name__.startswith("mlstack_hooks_"):
            cloudpickle.register_pickle_by_value(module)


# --- predicting and scoring ---------------------------------------------------------------


def predict(spec: UseCaseSpec, model: Any, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(score, decision)``: probability and thresholded label, or the regression value twice."""
    if spec.task == "classification":
        score = np.asarray(model.predict_proba(x))[:, 1]
        return score, (score >= spec.training.threshold).astype(int)
    value = np.asarray(model.predict(x), dtype=float)
    return value, value


def score(
    spec: UseCaseSpec, y: np.ndarray, y_score: np.ndarray, y_pred: np.ndarray
) -> dict[str, float]:
    """Every reported metric on one set of rows."""
    return {
        n: get_metric(n, spec.task)(y, y_score, y_pred, spec.training) for n in metric_names(spec)
    }


def slice_scores(
    spec: UseCaseSpec,
    frame: pd.DataFrame,
    y: np.ndarray,
    y_score: np.ndarray,
    y_pred: np.ndarray,
    column: str,
    min_rows: int,
) -> dict[str, dict[str, float]]:
    """Primary metric per value of ``column`` (values with fewer than ``min_rows`` skipped).

    A classification slice with one class only cannot have a ranking metric; it is skipped.
    """
    metric = primary_metric(spec)
    values = frame[column].astype(object).where(frame[column].notna(), "(missing)").to_numpy()
    out: dict[str, dict[str, float]] = {}
    for value in sorted(set(values), key=str):
        mask = values == value
        if mask.sum() < min_rows:
            continue
        if spec.task == "classification" and len(np.unique(y[mask])) < 2:
            continue
        out[str(value)] = {
            "rows": float(mask.sum()),
            metric.name: metric(y[mask], y_score[mask], y_pred[mask], spec.training),
        }
    return out
