"""Report keys, built and parsed in one place: writers and readers agree, and nothing that
is not of the written shape is ever turned into a lake key."""

from __future__ import annotations

from datetime import date

import pytest
from mlstack.monitoring import report_keys

RID = "0b7c3f9e-1d2a-4c5b-8e6f-a1b2c3d4e5f6"


def test_daily_report_stem_and_key_agree() -> None:
    stem = report_keys.daily_report_stem("credit_default", date(2026, 2, 14))
    assert stem == "reports/credit_default/2026-02-14/monitor"
    for ext in ("html", "json"):
        key = report_keys.daily_report_key("credit_default", "2026-02-14", f"monitor.{ext}")
        assert key == f"{stem}.{ext}"
        assert report_keys.parse_daily_report_key("credit_default", key) == (
            "2026-02-14",
            f"monitor.{ext}",
        )


@pytest.mark.parametrize(
    ("usecase", "day", "name"),
    [
        ("credit_default", "2026-02-14", "other.html"),
        ("credit_default", "20260214", "monitor.html"),
        ("credit_default", "../../x", "monitor.html"),
        ("a/b", "2026-02-14", "monitor.html"),
        ("..", "2026-02-14", "monitor.html"),
    ],
)
def test_daily_report_key_refuses_other_shapes(usecase: str, day: str, name: str) -> None:
    assert report_keys.daily_report_key(usecase, day, name) is None


def test_daily_report_of_uri_only_for_the_usecases_report() -> None:
    uri = "s3://lake/reports/credit_default/2026-02-14/monitor.html"
    assert report_keys.daily_report_of_uri("credit_default", uri) == ("2026-02-14", "monitor.html")
    assert report_keys.daily_report_of_uri("diabetes", uri) is None
    assert report_keys.daily_report_of_uri("credit_default", None) is None
    assert report_keys.daily_report_of_uri("credit_default", "monitor.html") is None


def test_rollout_report_stem_gives_keys_the_readers_accept() -> None:
    stem = report_keys.rollout_report_stem("credit_default", RID, 1, "promote")
    assert stem == f"reports/rollouts/credit_default/{RID}/1-promote"
    assert report_keys.rollout_report_key("credit_default", RID, "1-promote.html") == (
        f"{stem}.html"
    )
    uri = f"file:///lake/{stem}.html"
    assert report_keys.rollout_report_files("credit_default", RID, uri) == [
        "1-promote.html",
        "1-promote.json",
    ]
    assert (
        report_keys.rollout_report_files("credit_default", RID, f"file:///lake/{stem}.json") == []
    )
