"""The demo simulator: deterministic, delayed labels, a scripted shock, some malformed rows."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pandas as pd
from mlstack.demo.simulator import credit_applications, credit_default, diabetes

START = date(2026, 1, 1)
OPTS = {"shock_after_days": 45, "label_delay_days": 30, "malformed_share": 0.005}


def land(day: date, rows: int = 2000, seed: int = 42) -> dict[str, tuple[str, bytes]]:
    return credit_default(day, seed=seed, rows=rows, start=START, options=OPTS)


def test_simulator_same_seed_and_day_gives_same_bytes() -> None:
    assert land(START) == land(START)
    assert land(START)["features"] != land(START, seed=1)["features"]
    assert land(START)["features"] != land(START + timedelta(days=1))["features"]


def test_simulator_labels_arrive_after_the_delay() -> None:
    assert land(START + timedelta(days=29))["labels"][1].count(b"\n") == 1  # header only
    labels = pd.read_csv(io.BytesIO(land(START + timedelta(days=30))["labels"][1]))
    assert len(labels) == 2000
    assert labels["application_id"].str.startswith("20260101-").all()
    assert set(labels["label_date"]) == {"2026-01-31"}


def test_simulator_shock_lowers_income_and_raises_defaults() -> None:
    before = credit_applications(
        START + timedelta(days=40), seed=42, rows=20000, shock_day=START + timedelta(days=45)
    )
    after = credit_applications(
        START + timedelta(days=50), seed=42, rows=20000, shock_day=START + timedelta(days=45)
    )
    assert after["income"].median() < 0.85 * before["income"].median()
    assert after["defaulted"].mean() > before["defaulted"].mean() + 0.05


def test_simulator_lands_a_small_share_of_malformed_rows() -> None:
    text = land(START, rows=10000)["features"][1].decode()
    frame = pd.read_csv(io.StringIO(text), dtype=str, on_bad_lines="skip")
    bad_purpose = (frame["purpose"] == "crypto").sum()
    assert 0 < bad_purpose < 50
    assert "oops,extra,fields" in text


def test_diabetes_simulator_lands_parquet_with_dates() -> None:
    name, data = diabetes(START, seed=7, rows=40, start=START, options={})["features"]
    frame = pd.read_parquet(io.BytesIO(data))
    assert name.endswith(".parquet")
    assert len(frame) == 40 and frame["visit_date"].nunique() == 1
    assert {"patient_id", "bmi", "progression"} <= set(frame.columns)
