"""The days a daily DAG run works on: ``day``, or ``day`` through ``through`` (the ingest
DAG's catch-up of several days in one run), with errors that say what to give instead."""

from __future__ import annotations

from datetime import date

import pytest
from airflow.sdk.exceptions import AirflowFailException
from mlstack.airflow.usecase_dag import MAX_RUN_DAYS, run_days
from mlstack.exceptions import SpecError


def days(**params: str | None) -> list[date]:
    return run_days({"params": params})


def test_day_alone_is_one_day_and_through_makes_an_inclusive_range() -> None:
    assert days(day="2026-01-05") == [date(2026, 1, 5)]
    assert days(day="2026-01-05", through=None) == [date(2026, 1, 5)]
    assert days(day="2026-01-30", through="2026-02-02") == [
        date(2026, 1, 30),
        date(2026, 1, 31),
        date(2026, 2, 1),
        date(2026, 2, 2),
    ]


@pytest.mark.parametrize(
    ("through", "says"),
    [
        ("2026-01-04", "is before day=2026-01-05"),
        ("next week", "is not a date; use YYYY-MM-DD"),
        ("2027-02-01", f"one run takes at most {MAX_RUN_DAYS}"),
    ],
)
def test_a_range_that_cannot_be_run_says_what_to_give(through: str, says: str) -> None:
    with pytest.raises(SpecError, match=says) as raised:
        days(day="2026-01-05", through=through)
    # Airflow fails the task at once: a retry would read the same params
    assert isinstance(raised.value, AirflowFailException)
