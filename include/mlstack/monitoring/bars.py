"""Which metric monitoring watches and the bars it is held to: functions of names and numbers
only (no numpy, pandas or scikit-learn), so the read model (:mod:`mlstack.monitoring.views`)
and the lists load nothing heavy to draw a threshold. :mod:`mlstack.monitoring.compute` and
:mod:`mlstack.monitoring.performance` name them as before.
"""

from __future__ import annotations

from mlstack.specs import UseCaseSpec
from mlstack.vocabulary import DEFAULT_PRIMARY

#: Metrics the monitor and the retrain policy can watch, per task.
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
    """The metric monitoring and the retrain policy compare with the champion's holdout:
    ``retraining.metric``, else the primary metric (``training.primary_metric`` or the task's
    default), else — when that one cannot be watched — the task's default."""
    name = spec.retraining.metric or spec.training.primary_metric or DEFAULT_PRIMARY[spec.task]
    if name not in SUPPORTED[spec.task]:
        name = DEFAULT_PRIMARY[spec.task]
    return name


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (errors and losses are not)."""
    return metric not in {"mae", "rmse", "mse", "log_loss", "brier"}


def bar(metric: str, reference: float | None, allowed_drop: float) -> float | None:
    """The bar ``allowed_drop`` worse than ``reference`` (below it when higher is better,
    above it for errors); None without a reference. Monitoring alerts on the bar
    ``monitoring.performance_drop`` from the champion's holdout value, the retrain policy
    acts on the one ``retraining.metric_drop`` from it."""
    if reference is None:
        return None
    return reference - allowed_drop if higher_is_better(metric) else reference + allowed_drop


def worse_than(metric: str, value: float | None, limit: float | None) -> bool:
    """Whether ``value`` of ``metric`` is worse than the bar ``limit`` (False when either is
    missing or NaN): the one comparison the monitor's alerts and the retrain policy share."""
    if value is None or limit is None:
        return False
    return bool(value < limit) if higher_is_better(metric) else bool(value > limit)
