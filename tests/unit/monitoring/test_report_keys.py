"""Report keys, built and parsed in one place: writers and readers agree, and nothing that
is not of the written shape is ever turned into a lake key."""

from __future__ import annotations

from datetime import date

import pytest
from mlstack.monitoring import report_keys
from mlstack.monitoring.report_keys import report_days, rollout_report_files, rollout_report_key
from monitoring_rows import RID


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


def test_report_days_newest_first_and_only_well_formed_keys() -> None:
    keys = [
        "reports/credit_default/2026-02-01/monitor.html",
        "reports/credit_default/2026-02-01/monitor.json",
        "reports/credit_default/2026-02-03/monitor.html",
        "reports/credit_default/../../etc/passwd",
        "reports/credit_default/2026-02-04/secret.txt",
        "reports/credit_default/20260205/monitor.html",
        "reports/diabetes/2026-02-09/monitor.html",
        "reports/rollouts/credit_default/1/0-promote.html",
    ]
    assert report_days("credit_default", keys) == [
        {"day": "2026-02-03", "files": ["monitor.html"]},
        {"day": "2026-02-01", "files": ["monitor.html", "monitor.json"]},
    ]
    assert len(report_days("credit_default", keys, limit=1)) == 1


def test_rollout_report_keys_only_of_the_shape_rollout_writes() -> None:
    key = rollout_report_key("credit_default", RID, "2-promote.json")
    assert key == f"reports/rollouts/credit_default/{RID}/2-promote.json"
    for rid, name in [
        ("../../x", "0-promote.html"),  # not a rollout id
        (RID, "0-wait.html"),  # waits have no report
        (RID, "../0-promote.html"),
        (RID, "0-promote.txt"),
    ]:
        assert rollout_report_key("credit_default", rid, name) is None, (rid, name)
    uri = f"s3://lake/reports/rollouts/credit_default/{RID}/1-rollback.html"
    assert rollout_report_files("credit_default", RID, uri) == [
        "1-rollback.html",
        "1-rollback.json",
    ]
    assert rollout_report_files("credit_default", RID, None) == []
    assert rollout_report_files("diabetes", RID, uri) == []  # another use case's path
