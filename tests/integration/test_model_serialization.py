"""Every built-in estimator family, in both tasks, survives log → register → load through the
real MLflow registry (embedded) with identical predictions — MLflow 3.17's default skops
format would refuse some of them (random forests, hook transforms)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlstack import modeling, plugins, registry
from mlstack.specs import UseCaseSpec

pytestmark = pytest.mark.integration


def _spec(base: UseCaseSpec, estimator: str, transforms: list[str] | None = None) -> UseCaseSpec:
    data = base.model_dump(by_alias=True, exclude={"path"})
    data["training"]["model"] = {"estimator": estimator, "params": {}}
    data["training"]["transforms"] = transforms or []
    return UseCaseSpec.model_validate({**data, "path": base.path})


def _data(spec: UseCaseSpec, n: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            c: rng.choice(col.categories, n) if col.categories else rng.normal(size=n)
            for c, col in spec.schema.columns.items()
            if c in modeling.feature_columns(spec)
        }
    )
    first = modeling.feature_columns(spec)[2]
    signal = pd.to_numeric(frame[first], errors="coerce").fillna(0).to_numpy()
    y = (signal > 0).astype(int) if spec.task == "classification" else signal * 3 + 1
    return modeling.model_input(spec, frame), y


@pytest.mark.parametrize("family", sorted(modeling.BUILTIN_MODELS))
@pytest.mark.parametrize("usecase", ["credit_default", "diabetes"])
def test_builtin_family_round_trips_through_registry(
    embedded_settings, credit_spec, diabetes_spec, family: str, usecase: str
) -> None:
    import mlflow
    from mlflow.models import infer_signature

    spec = _spec(credit_spec if usecase == "credit_default" else diabetes_spec, family)
    x, y = _data(spec)
    pipe = modeling.build_pipeline(spec, x).fit(x, y)
    before, _ = modeling.predict(spec, pipe, x)
    with mlflow.start_run(experiment_id=registry.experiment_id("roundtrip")):
        info = registry.log_sklearn_model(
            pipe, signature=infer_signature(x, before), input_example=x.head(2)
        )
    mv = registry.register(f"rt_{usecase}_{family}", info.model_uri, {})
    loaded = registry.load_model(mv.name, mv.version)
    after, _ = modeling.predict(spec, loaded, x)
    np.testing.assert_array_equal(before, after)


def test_hook_transform_is_pickled_by_value(embedded_settings, credit_spec) -> None:
    """A transform from a use case's hooks.py loads where the hooks module does not exist."""
    import sys

    import mlflow
    from mlflow.models import infer_signature

    module = type(sys)("mlstack_hooks_roundtrip")
    exec(
        "def loan_to_income(df):\n"
        "    out = df.copy()\n"
        "    out['loan_to_income'] = out['loan_amount'] / out['income'].abs().clip(lower=1)\n"
        "    return out\n",
        module.__dict__,
    )
    sys.modules[module.__name__] = module
    plugins.register("transforms", "loan_to_income", replace=True)(module.loan_to_income)
    spec = _spec(credit_spec, "linear", ["loan_to_income"])
    x, y = _data(spec)
    pipe = modeling.build_pipeline(spec, x).fit(x, y)
    with mlflow.start_run(experiment_id=registry.experiment_id("roundtrip")):
        info = registry.log_sklearn_model(pipe, signature=infer_signature(x), input_example=None)
    mv = registry.register("rt_hooks", info.model_uri, {})
    del sys.modules[module.__name__]
    loaded = registry.load_model(mv.name, mv.version)
    np.testing.assert_array_equal(loaded.predict_proba(x), pipe.predict_proba(x))
