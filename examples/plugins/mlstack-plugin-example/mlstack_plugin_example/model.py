"""Model factory ``balanced_linear``: a linear model that weighs the rare class up."""

from __future__ import annotations

from typing import Any

from mlstack.plugins import register


@register("models", "balanced_linear")
def balanced_linear(task: str, params: dict[str, Any], seed: int) -> Any:
    """Logistic regression with balanced class weights (classification), ridge (regression);
    ``params`` go to the estimator."""
    from sklearn.linear_model import LogisticRegression, Ridge

    if task == "classification":
        return LogisticRegression(
            **{"class_weight": "balanced", "max_iter": 1000, "random_state": seed, **params}
        )
    return Ridge(**params)
