"""The numpy scorer of mlstack's standard pipeline gives the pipeline's own answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlstack.gateway.compiled_pipeline import TREE_HEAD_MAX_ROWS, _tree_head, compile_pipeline
from mlstack.gateway.model_cache import (
    InputField,
    LoadedModel,
    _verified_fast_path,
    probe_records,
)
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMS = ["age", "income", "debt"]


def records(n: int, seed: int) -> list[dict]:
    """Applications with numbers, a category and missing values (None) in every column."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        rec = {c: float(rng.normal() * 10) for c in NUMS}
        rec["city"] = ["a", "b", "c", "never-seen"][int(rng.integers(0, 4))]
        if i % 5 == 1:
            rec[NUMS[i % 3]] = None
        if i % 11 == 2:
            rec["city"] = None
        out.append(rec)
    return out


def fitted(estimator, missing_city: object = None) -> tuple[Pipeline, list[dict]]:
    """mlstack's pipeline shape (``prepare`` + ``model``) fitted on 3000 records whose
    missing cities are ``missing_city`` (None stays a category of its own; NaN is imputed)."""
    rows = records(3000, seed=1)
    frame = pd.DataFrame(rows)
    frame["city"] = pd.Series(
        [missing_city if c is None else c for c in frame["city"]], dtype=object
    )
    y = np.nan_to_num(frame["age"].to_numpy(dtype=float)) + (frame["city"] == "b") * 5.0
    prepare = ColumnTransformer(
        [
            (
                "num",
                Pipeline([("i", SimpleImputer(strategy="median")), ("s", StandardScaler())]),
                NUMS,
            ),
            (
                "cat",
                Pipeline(
                    [
                        ("i", SimpleImputer(strategy="constant", fill_value="missing")),
                        ("o", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                ["city"],
            ),
        ]
    )
    pipe = Pipeline([("prepare", prepare), ("model", estimator)])
    target = (y > 2).astype(int) if isinstance(estimator, HistGradientBoostingClassifier) else y
    return pipe.fit(frame, target), rows


@pytest.mark.parametrize(
    ("estimator", "task"),
    [
        (
            HistGradientBoostingClassifier(max_iter=60, max_leaf_nodes=31, random_state=0),
            "classification",
        ),
        (HistGradientBoostingRegressor(max_iter=60, random_state=0), "regression"),
    ],
)
@pytest.mark.parametrize("missing_city", [None, np.nan])
def test_tree_head_gives_the_estimators_own_floats(estimator, task, missing_city) -> None:
    """Every batch size, missing numbers included: the estimator's own floats to the last bit
    on the same array (above TREE_HEAD_MAX_ROWS the estimator answers itself), and the
    pipeline's answers to the 1e-9 the gateway's check allows."""
    pipe, _ = fitted(estimator, missing_city)
    assert _tree_head(pipe.named_steps["model"], task) is not None
    trees_at_once = compile_pipeline(pipe, task)
    tree_by_tree = compile_pipeline(pipe, task, direct_head=False)
    for n in (1, 2, 7, 64, TREE_HEAD_MAX_ROWS, TREE_HEAD_MAX_ROWS + 1, 500):
        batch = records(n, seed=n)
        got = trees_at_once(batch)
        assert np.array_equal(got, tree_by_tree(batch)), n
        frame = pd.DataFrame(batch, columns=[*NUMS, "city"])  # as the gateway's frame()
        frame["city"] = pd.Series([r["city"] for r in batch], dtype=object)
        ref = pipe.predict_proba(frame)[:, 1] if task == "classification" else pipe.predict(frame)
        assert np.max(np.abs(got - ref)) <= 1e-9, n


def test_tree_head_declines_categorical_splits_and_multiclass() -> None:
    """A model with native categorical splits, or more than one tree per iteration, keeps
    scikit-learn's predict."""
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.integers(0, 4, 500).astype(float), rng.normal(size=500)])
    y = (x[:, 0] == 2).astype(int)
    categorical = HistGradientBoostingClassifier(max_iter=5, categorical_features=[0]).fit(x, y)
    assert _tree_head(categorical, "classification") is None
    multiclass = HistGradientBoostingClassifier(max_iter=5).fit(x, x[:, 0].astype(int))
    assert _tree_head(multiclass, "classification") is None


FIELDS = [*(InputField(c, "double", False) for c in NUMS), InputField("city", "string", False)]


def test_a_version_gets_the_numpy_scorer_only_when_it_answers_as_the_pipeline(
    monkeypatch,
) -> None:
    """The gateway's check at load: probe rows with missing values, the numpy scorer kept
    when it gives the pipeline's answers to 1e-9, and None (the pandas path) when not."""
    from mlstack.gateway import compiled_pipeline

    pipe, _ = fitted(HistGradientBoostingClassifier(max_iter=20, random_state=0))
    model = LoadedModel("u", 1, pipe, FIELDS, "classification", 0.5)
    probe = probe_records(FIELDS, pipe)
    assert any(r[c] is None for r in probe for c in [*NUMS, "city"])  # missing values probed
    fast = _verified_fast_path(model)
    assert fast is not None
    assert np.max(np.abs(fast(probe) - pipe.predict_proba(model.frame(probe))[:, 1])) <= 1e-9

    real = compiled_pipeline.compile_pipeline

    def off_by_a_millionth(p, task, *, direct_head=True):
        scorer = real(p, task, direct_head=direct_head)
        return lambda records: scorer(records) + 1e-6

    monkeypatch.setattr(compiled_pipeline, "compile_pipeline", off_by_a_millionth)
    assert _verified_fast_path(model) is None
