"""A compiled scorer for mlstack's standard pipeline: numpy instead of pandas per request.

mlstack's pipeline is ``prepare`` (a ColumnTransformer: median imputation + standard
scaling of numbers, constant imputation + one-hot encoding of categories) then ``model``.
Run through pandas and the ColumnTransformer, one row costs ~2 ms whatever the model; the
same arithmetic on a numpy array costs microseconds. :func:`compile_pipeline` reads the
fitted parameters, builds that array directly from the JSON records and hands it to the
fitted estimator. It is only used when it reproduces the pipeline's own output on probe
rows (to 1e-9); any other pipeline (hook transforms, other steps) keeps the pandas path.
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Scorer = Callable[[list[dict[str, Any]]], np.ndarray]
MISSING = "missing"


def _numeric_block(trans: Any, cols: list[str]) -> Callable[[list[dict[str, Any]]], np.ndarray]:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps = [s for _, s in trans.steps] if isinstance(trans, Pipeline) else []
    if len(steps) != 2 or not isinstance(steps[0], SimpleImputer):
        raise TypeError("numeric block is not SimpleImputer + StandardScaler")
    imputer, scaler = steps
    if not isinstance(scaler, StandardScaler) or imputer.add_indicator:
        raise TypeError("numeric block is not SimpleImputer + StandardScaler")
    fill = np.asarray(imputer.statistics_, dtype=float)
    mean = np.asarray(scaler.mean_, dtype=float) if scaler.with_mean else None
    scale = np.asarray(scaler.scale_, dtype=float) if scaler.with_std else None

    get = operator.itemgetter(*cols) if len(cols) > 1 else None

    def block(records: list[dict[str, Any]]) -> np.ndarray:
        try:  # every column present: numpy turns None into nan itself
            if get is None:
                raise KeyError(cols[0])
            x = np.array([get(r) for r in records], dtype=float)
        except KeyError:  # a nullable column left out of a record
            x = np.array(
                [[math.nan if (v := r.get(c)) is None else v for c in cols] for r in records],
                dtype=float,
            )
        x = np.where(np.isnan(x), fill, x)
        if mean is not None:
            x -= mean
        if scale is not None:
            x /= scale
        return x

    return block


def _category_block(trans: Any, cols: list[str]) -> Callable[[list[dict[str, Any]]], np.ndarray]:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    steps = [s for _, s in trans.steps] if isinstance(trans, Pipeline) else []
    if len(steps) != 2 or not isinstance(steps[0], SimpleImputer):
        raise TypeError("category block is not SimpleImputer + OneHotEncoder")
    imputer, enc = steps
    if not isinstance(enc, OneHotEncoder) or enc.drop is not None or imputer.add_indicator:
        raise TypeError("category block is not SimpleImputer + OneHotEncoder (no drop)")
    if getattr(enc, "_infrequent_enabled", False) or imputer.strategy != "constant":
        raise TypeError("infrequent categories or non-constant imputation")
    fill = imputer.fill_value
    offsets, lookups = [], []
    width = 0
    for cats in enc.categories_:
        lookups.append({c: i for i, c in enumerate(cats.tolist())})
        offsets.append(width)
        width += len(cats)

    def block(records: list[dict[str, Any]]) -> np.ndarray:
        x = np.zeros((len(records), width))
        for j, c in enumerate(cols):
            table, off = lookups[j], offsets[j]
            for i, r in enumerate(records):
                v = r.get(c)
                # the imputer fills NaN, not None: None is a category of its own if the
                # training data had it, else unknown (all zeros), as in the pipeline
                k = table.get(fill if isinstance(v, float) and v != v else v)
                if k is not None:
                    x[i, off + k] = 1.0
        return x

    return block


def _estimator_head(est: Any, task: str) -> Callable[[np.ndarray], np.ndarray]:
    """The estimator's own method: the positive class's probability, or the value."""
    if task == "classification":
        return lambda x: np.asarray(est.predict_proba(x))[:, 1]
    return lambda x: np.asarray(est.predict(x), dtype=float)


def _linear_head(est: Any, task: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """``x @ coef + intercept`` (through the logistic function for a binary classifier)."""
    from scipy.special import expit
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

    coef = getattr(est, "coef_", None)
    intercept = getattr(est, "intercept_", 0.0)
    if coef is None:
        return None
    if task == "classification" and isinstance(est, LogisticRegression) and coef.shape[0] == 1:
        w, b = np.asarray(coef[0], dtype=float), float(np.ravel(intercept)[0])
        return lambda x: expit(x @ w + b)
    if task == "regression" and isinstance(est, LinearRegression | Ridge) and coef.ndim == 1:
        w, b = np.asarray(coef, dtype=float), float(intercept)
        return lambda x: x @ w + b
    return None


#: above this many rows a batch goes to the estimator's own (Cython, per tree) predict: its
#: fixed cost per tree is amortised there, and its cost per row is lower than the loop below
TREE_HEAD_MAX_ROWS = 128


def _tree_head(
    est: Any, task: str, *, lone_row: bool = True
) -> Callable[[np.ndarray], np.ndarray] | None:
    """A fitted HistGradientBoosting model's prediction with every tree walked at once
    (the estimator's own method above TREE_HEAD_MAX_ROWS rows).

    scikit-learn predicts tree by tree: 200 trees cost ~1.2 ms per call whatever the batch
    (a Python call, argument checks and an OpenMP region per tree), which is most of a
    micro-batch's cost at low load. Here the trees' nodes are one table, every (row, tree)
    pair steps down one level per numpy operation, and finished pairs drop out. The leaf
    values are added in the estimator's order, starting from its baseline, so the result is
    the same floating-point sum. Numeric splits only (a model with categorical splits gets
    None); binary classifiers and regressors. A batch of one row takes ``leaves_of_one``
    (``lone_row=False``: the loop as for more rows, for bench/bench_tree_head.py).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if not isinstance(est, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        return None
    if est.n_trees_per_iteration_ != 1 or getattr(est, "_preprocessor", None) is not None:
        return None
    if task == "classification" and not isinstance(est, HistGradientBoostingClassifier):
        return None
    nodes = [p.nodes for iteration in est._predictors for p in iteration]
    if not nodes or any(n["is_categorical"].any() for n in nodes):
        return None
    sizes = [len(n) for n in nodes]
    starts = np.cumsum([0, *sizes[:-1]])
    table = np.concatenate(nodes)
    here = np.arange(len(table))
    leaf = table["is_leaf"].astype(bool)
    shift = np.repeat(starts, sizes)
    # child[2 * node + went_left]; a leaf is its own child, so a pair stays on its leaf
    child = np.empty(2 * len(table), dtype=np.intp)
    child[0::2] = np.where(leaf, here, table["right"] + shift)
    child[1::2] = np.where(leaf, here, table["left"] + shift)
    feature = table["feature_idx"].astype(np.intp)
    threshold = table["num_threshold"].astype(float)
    nan_left = table["missing_go_to_left"].astype(bool)
    value = table["value"].astype(float)
    depth = int(table["depth"].max())
    baseline = float(np.ravel(est._baseline_prediction)[0])
    roots = starts.astype(np.intp)
    twice = 2 * here
    own = _estimator_head(est, task)

    def leaves_of_one(row: np.ndarray) -> np.ndarray:
        """One row's leaf in every tree: each node's way is decided for this row at once
        (one numpy operation over all nodes), then every tree's path is followed with one
        gather per level. For a lone row (a micro-batch at low load) 0.050 ms instead of
        the loop's 0.085 (bench/results/tree_head.md); from two rows on the loop is as fast."""
        v = row[feature]
        left = v <= threshold
        if np.isnan(row).any():
            left |= np.isnan(v) & nan_left
        step = child[twice + left]  # where each node leads for this row; a leaf to itself
        node = roots
        for _ in range(depth):
            node = step[node]
        return node

    def leaves(x: np.ndarray) -> np.ndarray:
        """Each row's leaf in every tree, ``(rows, trees)``: the pairs walked level by level."""
        m, width = x.shape
        flat = np.ascontiguousarray(x, dtype=float).ravel()
        has_nan = bool(np.isnan(flat).any())
        at = np.tile(roots, m)  # each pair's node, final once it reaches a leaf
        node, pair, row = at.copy(), np.arange(at.size), np.repeat(np.arange(m) * width, len(roots))
        for step in range(depth):
            v = flat[row + feature[node]]
            left = v <= threshold[node]
            if has_nan:
                left |= np.isnan(v) & nan_left[node]
            node = child[2 * node + left]
            if step % 3 == 2:  # drop the pairs that reached a leaf
                done = leaf[node]
                at[pair[done]] = node[done]
                node, pair, row = node[~done], pair[~done], row[~done]
                if not node.size:
                    break
        at[pair] = node
        return at.reshape(m, len(roots))

    def raw(x: np.ndarray) -> np.ndarray:
        m = x.shape[0]
        if m == 1 and lone_row:
            at = leaves_of_one(np.asarray(x[0], dtype=float))[None, :]
        else:
            at = leaves(x)
        terms = np.hstack([np.full((m, 1), baseline), value[at]])
        return np.cumsum(terms, axis=1)[:, -1:]  # sequential, in the estimator's order

    def head(x: np.ndarray) -> np.ndarray:
        if x.shape[0] > TREE_HEAD_MAX_ROWS:
            return own(x)
        if task == "classification":
            return est._loss.predict_proba(raw(x))[:, 1]
        return est._loss.link.inverse(raw(x).ravel())

    return head


def compile_pipeline(pipe: Any, task: str, *, direct_head: bool = True) -> Scorer | None:
    """A numpy scorer equal to ``pipe`` (score per record), or None if the shape differs.

    ``direct_head`` also replaces a linear estimator's own method by its formula, and a
    HistGradientBoosting model's by :func:`_tree_head`.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(pipe, Pipeline) or [n for n, _ in pipe.steps] != ["prepare", "model"]:
        return None
    prep, est = pipe.steps[0][1], pipe.steps[1][1]
    if not isinstance(prep, ColumnTransformer) or prep.remainder != "drop":
        return None
    blocks = []
    try:
        for name, trans, cols in prep.transformers_:
            if name == "remainder" or not len(cols):
                continue
            make = {"num": _numeric_block, "cat": _category_block}.get(name)
            if make is None:
                return None
            blocks.append(make(trans, list(cols)))
    except (TypeError, AttributeError) as exc:
        log.info("No fast path: %s", exc)
        return None
    if task == "classification" and not hasattr(est, "predict_proba"):
        return None

    head = (_linear_head(est, task) or _tree_head(est, task)) if direct_head else None
    head = head or _estimator_head(est, task)

    def score(records: list[dict[str, Any]]) -> np.ndarray:
        x = np.hstack([b(records) for b in blocks]) if len(blocks) > 1 else blocks[0](records)
        return head(x)

    return score
