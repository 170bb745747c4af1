"""Training without backends: spec sections, plugins, the day split, targets, metrics, gates."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlstack import modeling
from mlstack.exceptions import PluginError, SpecError, TrainingError
from mlstack.specs import UseCaseSpec, load_spec
from mlstack.stages import promote, train


def variant(spec: UseCaseSpec, **sections: Any) -> UseCaseSpec:
    data = spec.model_dump(by_alias=True, exclude={"path"})
    for key, value in sections.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    return UseCaseSpec.model_validate({**data, "path": spec.path})


def frame(spec: UseCaseSpec, days: int, rows: int = 50, seed: int = 0) -> pd.DataFrame:
    """Labelled credit-like rows over ``days`` days (defaults driven by debt_to_income)."""
    from mlstack.demo.simulator import credit_applications

    parts = [
        credit_applications(
            date(2026, 1, 1) + timedelta(days=i), seed=seed, rows=rows, shock_day=None
        )
        for i in range(days)
    ]
    out = pd.concat(parts, ignore_index=True)
    out["application_date"] = pd.to_datetime(out["application_date"])
    return out


def test_spec_empty_training_section_gets_defaults(tmp_path) -> None:
    src = load_spec("include/usecases/diabetes/usecase.yaml")
    data = src.model_dump(by_alias=True, exclude={"path"})
    spec = UseCaseSpec.model_validate({**data, "training": {}, "promotion": {}})
    assert spec.training.split.holdout_days == 7
    assert spec.promotion.min_delta == 0.0


def test_spec_slice_on_unknown_column_is_an_error(credit_spec) -> None:
    with pytest.raises(Exception, match="promotion.slices.column 'job' is not a column"):
        variant(credit_spec, promotion={"slices": [{"column": "job"}]})


def test_spec_unknown_training_key_is_an_error(credit_spec, tmp_path) -> None:
    text = credit_spec.path.read_text().replace(
        "  primary_metric: roc_auc\n", "  primary_metric: roc_auc\n  epochs: 3\n"
    )
    folder = tmp_path / "credit_default"
    folder.mkdir()
    (folder / "usecase.yaml").write_text(text)
    with pytest.raises(SpecError, match="training.epochs: unknown key"):
        load_spec(folder)


def test_spec_cost_matrix_on_regression_is_an_error(diabetes_spec) -> None:
    with pytest.raises(Exception, match="cost_matrix is only for classification"):
        variant(diabetes_spec, training={"cost_matrix": {"tp": 1}})


def test_check_config_unknown_estimator_lists_known_models(credit_spec) -> None:
    spec = variant(credit_spec, training={"model": {"estimator": "xgboostt"}})
    with pytest.raises(
        PluginError,
        match="unknown models plugin 'xgboostt'; known models: .*"
        "hist_gradient_boosting.*random_forest",
    ):
        train.check_config(spec)


def test_check_config_unknown_import_path_says_what_is_allowed(credit_spec) -> None:
    spec = variant(credit_spec, training={"model": {"estimator": "sklearn.nope.Forest"}})
    with pytest.raises(PluginError, match="not a models plugin .* nor an importable class"):
        train.check_config(spec)


def test_check_config_unknown_metric_lists_known_metrics(credit_spec) -> None:
    spec = variant(credit_spec, training={"primary_metric": "auc"})
    with pytest.raises(PluginError, match="unknown metrics plugin 'auc'; known metrics: .*roc_auc"):
        train.check_config(spec)


def test_check_config_metric_of_other_task_is_refused(credit_spec) -> None:
    spec = variant(credit_spec, training={"metrics": ["rmse"]})
    with pytest.raises(PluginError, match="metric 'rmse' is for regression, not classification"):
        train.check_config(spec)


def test_check_config_bad_estimator_params_name_them(credit_spec) -> None:
    spec = variant(credit_spec, training={"model": {"estimator": "linear", "params": {"depth": 3}}})
    with pytest.raises(PluginError, match=r"bad params \['depth'\]"):
        train.check_config(spec)


def test_time_split_never_puts_one_day_in_two_sets(credit_spec) -> None:
    data = frame(credit_spec, days=20, rows=250)
    split = train.time_split(credit_spec, data)  # 5 validation, 5 holdout days
    days = {
        k: set(getattr(split, k)["application_date"].dt.date)
        for k in ("train", "validation", "holdout")
    }
    assert not (days["train"] & days["validation"]) and not (days["validation"] & days["holdout"])
    assert max(days["train"]) < min(days["validation"]) <= max(days["validation"])
    assert max(days["validation"]) < min(days["holdout"])
    assert len(days["holdout"]) == 5 and split.days["holdout"][1] == "2026-01-20"
    assert len(split.train) + len(split.validation) + len(split.holdout) == len(data)


def test_time_split_window_days_keeps_only_recent_training_days(credit_spec) -> None:
    spec = variant(
        credit_spec,
        training={
            "split": {
                "validation_days": 2,
                "holdout_days": 2,
                "window_days": 3,
                "min_train_rows": 10,
            }
        },
    )
    split = train.time_split(spec, frame(spec, days=12))
    assert split.days["train"] == ("2026-01-06", "2026-01-08")


def test_time_split_in_a_requested_window_uses_exactly_its_days(credit_spec) -> None:
    spec = variant(
        credit_spec,
        training={
            "split": {
                "validation_days": 2,
                "holdout_days": 2,
                "window_days": 3,
                "min_train_rows": 10,
            }
        },
    )
    window = (date(2026, 1, 2), date(2026, 1, 10))  # a retrain request's, past window_days
    split = train.time_split(spec, frame(spec, days=12), window)
    assert split.days == {
        "train": ("2026-01-02", "2026-01-06"),  # window_days does not trim a chosen window
        "validation": ("2026-01-07", "2026-01-08"),
        "holdout": ("2026-01-09", "2026-01-10"),
    }
    with pytest.raises(TrainingError, match="within the requested window 2026-01-08..2026-01-11"):
        train.time_split(spec, frame(spec, days=12), (date(2026, 1, 8), date(2026, 1, 11)))


def test_time_split_too_few_days_is_an_empty_training_window(credit_spec) -> None:
    with pytest.raises(TrainingError, match=r"empty training window .* 10 labelled day\(s\)"):
        train.time_split(credit_spec, frame(credit_spec, days=10))


def test_time_split_too_few_rows_is_an_empty_training_window(credit_spec) -> None:
    with pytest.raises(TrainingError, match="fewer than split.min_train_rows=2000"):
        train.time_split(credit_spec, frame(credit_spec, days=12, rows=20))


def test_target_single_class_is_refused(credit_spec) -> None:
    data = frame(credit_spec, days=2).assign(defaulted=0)
    with pytest.raises(TrainingError, match="single-class target .* every defaulted is 0"):
        train.target(credit_spec, data)


def test_fit_same_rows_and_seed_gives_identical_metrics(credit_spec) -> None:
    spec = variant(
        credit_spec,
        training={
            "model": {"estimator": "random_forest", "params": {"n_estimators": 10}},
            "split": {"validation_days": 2, "holdout_days": 2, "min_train_rows": 100},
        },
    )
    split = train.time_split(spec, frame(spec, days=8, rows=200))
    _, first, _ = train.fit(spec, split)
    _, again, _ = train.fit(spec, split)
    assert first == again
    assert first["holdout_business_value"] == pytest.approx(first["holdout_business_value"])


def test_business_value_weights_outcomes_by_cost_matrix(credit_spec) -> None:
    metric = modeling.get_metric("business_value", "classification")
    y = np.array([1, 1, 0, 0])
    pred = np.array([1, 0, 1, 0])  # one TP, FN, FP, TN each
    value = metric(y, pred.astype(float), pred, credit_spec.training)
    cm = credit_spec.training.cost_matrix
    assert value == pytest.approx((cm.tp + cm.fn + cm.fp + cm.tn) / 4)


def test_metric_improvement_respects_direction() -> None:
    assert modeling.get_metric("roc_auc", "classification").improvement(0.8, 0.7) > 0
    assert modeling.get_metric("rmse", "regression").improvement(40.0, 50.0) == 10.0


def _signature(**cols: bool):
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("double", n, required=r) for n, r in cols.items()])
    )


def test_gate_signature_new_required_input_fails() -> None:
    gate = promote.gate_signature(_signature(a=True, b=True, c=True), _signature(a=True, b=True))
    assert not gate.passed and "['c']" in gate.detail


def test_gate_signature_dropped_input_passes() -> None:
    gate = promote.gate_signature(_signature(a=True), _signature(a=True, b=True))
    assert gate.passed and gate.evidence["removed"] == ["b"]


def test_gate_slices_loss_beyond_tolerance_fails(credit_spec) -> None:
    cand = {"slices": {"purpose": {"car": {"roc_auc": 0.70}, "home": {"roc_auc": 0.80}}}}
    champ = {"slices": {"purpose": {"car": {"roc_auc": 0.75}, "home": {"roc_auc": 0.79}}}}
    spec = variant(credit_spec, promotion={"slices": [{"column": "purpose", "tolerance": 0.03}]})
    gate = promote.gate_slices(spec, cand, champ)
    assert not gate.passed and "purpose=car" in gate.detail and "home" not in gate.detail
