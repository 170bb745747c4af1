"""windows.lake_scores: a day of the lake's rows is scored once per model run and rows in a
process (the realised window pools the same labelled days on consecutive monitored days);
other rows, another run, or a changed day are scored afresh, and callers get their own copy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlstack.monitoring import windows
from mlstack.monitoring.compute import Reference


class CountingModel:
    """A classifier whose probability is a fixed function of ``x``; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        self.calls += 1
        p = 1 / (1 + np.exp(-x["a"].to_numpy(dtype=float)))
        return np.column_stack([1 - p, p])


def reference(run_id: str, model: CountingModel) -> Reference:
    return Reference(1, run_id, model, pd.DataFrame(), pd.DataFrame(), "roc_auc", None)


@pytest.fixture(autouse=True)
def empty_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(windows, "_score_memo", type(windows._score_memo)())


def test_the_same_rows_by_the_same_run_are_scored_once(credit_spec) -> None:
    model = CountingModel()
    ref = reference("run-1", model)
    rows = pd.DataFrame({"a": [0.0, 1.0, -2.0], "b": ["x", "y", "z"]})
    first = windows.lake_scores(credit_spec, ref, rows)
    again = windows.lake_scores(credit_spec, ref, rows.copy())
    assert model.calls == 1
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, 1 / (1 + np.exp(-rows["a"].to_numpy())))
    first[0] = 99.0  # a caller's copy: the memo is untouched
    assert windows.lake_scores(credit_spec, ref, rows)[0] != 99.0


def test_changed_rows_another_run_or_renamed_columns_are_scored_again(credit_spec) -> None:
    model = CountingModel()
    rows = pd.DataFrame({"a": [0.0, 1.0], "b": ["x", "y"]})
    windows.lake_scores(credit_spec, reference("run-1", model), rows)
    changed = rows.assign(a=[0.0, 1.5])  # the day ingested again with other values
    windows.lake_scores(credit_spec, reference("run-1", model), changed)
    windows.lake_scores(credit_spec, reference("run-2", model), rows)  # another model
    windows.lake_scores(credit_spec, reference("run-1", model), rows.rename(columns={"b": "c"}))
    assert model.calls == 4


def test_the_memo_keeps_only_the_newest_entries(credit_spec, monkeypatch) -> None:
    monkeypatch.setattr(windows, "SCORE_MEMO_SIZE", 2)
    model = CountingModel()
    ref = reference("run-1", model)
    days = [pd.DataFrame({"a": [float(i)]}) for i in range(3)]
    for rows in days:
        windows.lake_scores(credit_spec, ref, rows)
    assert len(windows._score_memo) == 2
    windows.lake_scores(credit_spec, ref, days[0])  # the oldest was dropped: scored again
    assert model.calls == 4
