"""Data quality of served inputs and training-serving skew."""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlstack.monitoring.quality import data_quality, skew
from mlstack.specs import ColumnSpec

COLUMNS = {
    "age": ColumnSpec(type="int", min=18, max=100),
    "purpose": ColumnSpec(type="category", categories=["car", "home"]),
    "income": ColumnSpec(type="float", min=0),
}


def test_data_quality_bad_window_reports_each_issue() -> None:
    ref = pd.DataFrame({"age": [30, 40] * 50, "purpose": ["car", "home"] * 50, "income": 1.0})
    cur = pd.DataFrame(
        {"age": [30, 150, np.nan, 40] * 25, "purpose": ["car", "boat", "home", "car"] * 25}
    )
    report = data_quality(cur, COLUMNS, ref)
    issues = report.issues()
    assert "column 'income' missing from served inputs" in issues
    assert any(i.startswith("age: 25.0% missing") for i in issues)
    assert any(i.startswith("age: 25.0% outside") for i in issues)
    assert any("unseen categories ['boat']" in i for i in issues)


def test_data_quality_clean_window_has_no_issues() -> None:
    frame = pd.DataFrame({"age": [30, 40], "purpose": ["car", "home"], "income": [1.0, 2.0]})
    assert data_quality(frame, COLUMNS, frame).issues() == []


def test_skew_value_computed_differently_online_is_found() -> None:
    lake = pd.DataFrame({"id": ["a", "b", "c", "d"], "income": [1.0, 2.0, 3.0, 4.0]})
    served = lake.assign(income=[1.0, 2.0, 3.0, 400.0])
    found = skew(served, lake, "id", ["income"])
    assert found["matched_ids"] == 4
    assert found["mismatch_share"] == {"income": 0.25}
