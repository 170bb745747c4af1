"""Sample feeds a team would bring to `mlstack usecases new --from`, made up with a seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

DAYS = pd.date_range("2026-03-01", periods=12).strftime("%Y-%m-%d")


def churn_frame(rows: int = 360, seed: int = 0) -> pd.DataFrame:
    """Rows of a churn feed over 12 days: id, date, an int, a float with gaps, a category,
    a 0/1 target that depends on the features."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 60, rows).astype(float)
    spend = rng.gamma(2, 50, rows).round(2)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(rows)],
            "signup_date": np.sort(rng.choice(DAYS, rows)),
            "age": rng.integers(18, 90, rows),
            "spend": spend,
            "plan": rng.choice(["basic", "pro", "team"], rows),
            "tenure": tenure,
            "churned": (rng.random(rows) < 1 / (1 + np.exp(tenure / 20 - 1))).astype(int),
        }
    )
    frame.loc[::29, "tenure"] = np.nan
    return frame
