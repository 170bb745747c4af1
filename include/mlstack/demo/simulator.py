"""Demo data simulators: upstream systems that land a day's files in ``landing/``.

``credit_default``: daily loan applications whose default outcome becomes known only
``label_delay_days`` later, delivered as their own daily label files; an economic shock
from ``shock_day`` lowers incomes, raises debt ratios and raises the default rate. A small
share of rows is malformed, as real feeds are. ``diabetes``: scikit-learn's diabetes
regression data spread over days with a synthetic date, landed as Parquet.

Output is a pure function of (seed, day): re-landing a day gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mlstack.plugins import register

PURPOSES = ["car", "home", "education", "business", "debt_consolidation", "other"]
HOME = ["rent", "own", "mortgage"]
REGIONS = ["north", "south", "east", "west"]


class Simulator(Protocol):
    """A simulator returns, for one day, the bytes of each dataset's landing file."""

    def __call__(
        self, day: date, *, seed: int, rows: int, start: date, options: Mapping[str, Any]
    ) -> dict[str, tuple[str, bytes]]: ...


def _rng(seed: int, day: date, stream: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{day.isoformat()}:{stream}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def credit_applications(day: date, *, seed: int, rows: int, shock_day: date | None) -> pd.DataFrame:
    """The clean applications of one day, with their (hidden) default outcome."""
    rng = _rng(seed, day, "applications")
    shocked = shock_day is not None and day >= shock_day
    age = rng.integers(18, 76, rows)
    income = rng.lognormal(np.log(52_000), 0.45, rows) * (0.8 if shocked else 1.0)
    employment = np.clip(rng.gamma(2.0, 3.0, rows), 0, 50).round(1)
    dti = np.clip(rng.beta(2, 5, rows) * 1.2 * (1.3 if shocked else 1.0), 0, 3).round(4)
    score = np.clip(rng.normal(680, 60, rows), 300, 850).astype(int)
    term = rng.choice([12, 24, 36, 48, 60], rows, p=[0.1, 0.2, 0.35, 0.15, 0.2])
    amount = (income * rng.uniform(0.05, 0.6, rows)).round(2)
    accounts = rng.poisson(6, rows)
    late = rng.poisson(0.6, rows)
    purpose = rng.choice(PURPOSES, rows, p=[0.2, 0.15, 0.1, 0.1, 0.3, 0.15])
    home = rng.choice(HOME, rows, p=[0.4, 0.2, 0.4])
    region = rng.choice(REGIONS, rows)
    logit = (
        -2.2
        + 2.4 * (dti - 0.35)
        - 0.012 * (score - 680)
        - 0.5 * (np.log(income) - np.log(52_000))
        + 0.35 * late
        + 0.6 * (amount / income - 0.3)
        + 0.004 * (term - 36)
        - 0.015 * (age - 40)
        + np.where(purpose == "business", 0.4, 0.0)
        + np.where(home == "rent", 0.2, 0.0)
        + (0.8 if shocked else 0.0)
    )
    defaulted = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "application_id": [f"{day:%Y%m%d}-{i:06d}" for i in range(rows)],
            "application_date": day.isoformat(),
            "age": age,
            "income": income.round(2),
            "employment_years": employment,
            "debt_to_income": dti,
            "credit_score": score,
            "loan_amount": amount,
            "loan_term_months": term,
            "num_open_accounts": accounts,
            "num_late_payments": late,
            "purpose": purpose,
            "home_ownership": home,
            "region": region,
            "defaulted": defaulted.astype(int),
        }
    )


def _corrupt(frame: pd.DataFrame, rng: np.random.Generator, share: float) -> list[str]:
    """Damage ``share`` of the rows in place like a real feed would; return extra raw lines."""
    n = len(frame)
    k = int(n * share)
    if k == 0:
        return []
    idx = rng.choice(n, k, replace=False)
    kinds = rng.integers(0, 6, k)
    for i, kind in zip(idx, kinds, strict=True):
        if kind == 0:
            frame.at[i, "income"] = -abs(float(frame.at[i, "income"]))
        elif kind == 1:
            frame.at[i, "purpose"] = "crypto"
        elif kind == 2:
            frame.at[i, "credit_score"] = None
        elif kind == 3:
            frame.at[i, "age"] = "unknown"
        elif kind == 4:
            frame.at[i, "application_id"] = frame.at[(i + 1) % n, "application_id"]
        else:
            frame.at[i, "debt_to_income"] = 99.0
    return [f"{frame.iat[idx[0], 0]}-broken,{frame.iat[idx[0], 1]},oops,extra,fields,,"]


@register("simulators", "credit_default")
def credit_default(
    day: date, *, seed: int, rows: int, start: date, options: Mapping[str, Any]
) -> dict[str, tuple[str, bytes]]:
    """Land one day: applications (features, with malformed rows) and the labels now due."""
    shock_after = options.get("shock_after_days", 45)
    shock_day = start + timedelta(days=int(shock_after)) if shock_after is not None else None
    delay = int(options.get("label_delay_days", 30))
    malformed = float(options.get("malformed_share", 0.005))
    apps = credit_applications(day, seed=seed, rows=rows, shock_day=shock_day)
    features = apps.drop(columns=["defaulted"]).astype(object)
    extra_lines = _corrupt(features, _rng(seed, day, "corrupt"), malformed)
    text = features.to_csv(index=False, lineterminator="\n")
    if extra_lines:
        text += "\n".join(extra_lines) + "\n"
    files = {"features": ("applications.csv", text.encode())}
    label_day = day - timedelta(days=delay)
    if label_day >= start:
        due = credit_applications(label_day, seed=seed, rows=rows, shock_day=shock_day)
        labels = pd.DataFrame(
            {
                "application_id": due["application_id"],
                "defaulted": due["defaulted"],
                "label_date": day.isoformat(),
            }
        )
        files["labels"] = ("labels.csv", labels.to_csv(index=False, lineterminator="\n").encode())
    else:
        files["labels"] = ("labels.csv", b"application_id,defaulted,label_date\n")
    return files


@register("simulators", "diabetes")
def diabetes(
    day: date, *, seed: int, rows: int, start: date, options: Mapping[str, Any]
) -> dict[str, tuple[str, bytes]]:
    """Land one day of scikit-learn's diabetes data (rows cycle through the 442 patients)."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True).frame
    offset = ((day - start).days * rows) % len(data)
    picked = data.iloc[[(offset + i) % len(data) for i in range(rows)]].reset_index(drop=True)
    picked.insert(0, "patient_id", [f"{day:%Y%m%d}-{i:04d}" for i in range(rows)])
    picked.insert(1, "visit_date", pd.Timestamp(day))
    picked = picked.rename(columns={"target": "progression"})
    buf = io.BytesIO()
    picked.to_parquet(buf, index=False)
    return {"features": ("visits.parquet", buf.getvalue())}
