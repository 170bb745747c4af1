"""The retrain policy, table-driven: drift alone alerts, drops retrain only with fresh labels,
within cooldown and budget; the request names its id and window, as training reads them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from mlstack.specs import RetrainingSpec
from mlstack.stages.retrain import (
    RetrainEvidence,
    decide,
    drop,
    request_tags,
    root_cause,
    training_window,
)

DAY = date(2026, 3, 20)
POLICY = RetrainingSpec(
    metric_drop=0.03,
    min_labels=500,
    sustained_days=3,
    min_fresh_labels=1000,
    cooldown_days=7,
    max_per_30_days=2,
)
DRIFT = [{"column": "income", "method": "wasserstein", "score": 0.4, "drifted": True}]


def _ev(**kw: Any) -> RetrainEvidence:
    base: dict[str, Any] = {
        "usecase": "credit_default",
        "run_date": DAY,
        "metric": "roc_auc",
        "reference_value": 0.80,
        "fresh_labels": 5000,
        "change_date": DAY - timedelta(days=20),
    }
    return RetrainEvidence(**(base | kw))


def _est(*values: float) -> list[tuple[date, float]]:
    return [(DAY - timedelta(days=len(values) - 1 - i), v) for i, v in enumerate(values)]


CASES = [
    # (id, evidence, past retrains, decision, reason fragment)
    ("nothing_wrong_none", _ev(realised_value=0.80, labelled_rows=900), [], "none", "no perf"),
    ("drift_only_alert", _ev(drifted_features=DRIFT), [], "alert", "drift alone never"),
    (
        "quality_only_alert",
        _ev(quality_issues=["age: 30% missing"]),
        [],
        "alert",
        "drift alone never",
    ),
    (
        "drift_and_estimated_drop_two_days_alert",
        _ev(drifted_features=DRIFT, estimated=_est(0.80, 0.74, 0.74)),
        [],
        "alert",
        "drift alone",
    ),
    (
        "estimated_drop_sustained_retrain",
        _ev(drifted_features=DRIFT, estimated=_est(0.74, 0.74, 0.73)),
        [],
        "retrain",
        "3 days in a row",
    ),
    (
        "realised_drop_enough_labels_retrain",
        _ev(realised_value=0.75, labelled_rows=800),
        [],
        "retrain",
        "on 800 labelled rows",
    ),
    (
        "realised_drop_too_few_labels_none",
        _ev(realised_value=0.70, labelled_rows=100),
        [],
        "none",
        "no perf",
    ),
    (
        "realised_drop_within_threshold_none",
        _ev(realised_value=0.78, labelled_rows=5000),
        [],
        "none",
        "no perf",
    ),
    (
        "delayed_labels_blocked",
        _ev(estimated=_est(0.7, 0.7, 0.7), fresh_labels=200),
        [],
        "blocked",
        "waiting for labels covering the new period: 200 of 1000",
    ),
    (
        "cooldown_blocked",
        _ev(realised_value=0.7, labelled_rows=5000),
        [DAY - timedelta(days=3)],
        "blocked",
        "cooldown",
    ),
    (
        "cooldown_over_retrain",
        _ev(realised_value=0.7, labelled_rows=5000),
        [DAY - timedelta(days=8)],
        "retrain",
        "realised",
    ),
    (
        "budget_spent_blocked",
        _ev(realised_value=0.7, labelled_rows=5000),
        [DAY - timedelta(days=25), DAY - timedelta(days=10)],
        "blocked",
        "budget: 2 retrains",
    ),
    (
        "budget_renewed_after_30_days_retrain",
        _ev(realised_value=0.7, labelled_rows=5000),
        [DAY - timedelta(days=45), DAY - timedelta(days=10)],
        "retrain",
        "realised",
    ),
    # drift alone never retrains, whatever else holds
    (
        "drift_and_quality_many_labels_alert",
        _ev(drifted_features=DRIFT, quality_issues=["age: 30% missing"], fresh_labels=10**6),
        [],
        "alert",
        "drift alone never",
    ),
    (
        "drift_only_during_cooldown_still_alert",
        _ev(drifted_features=DRIFT),
        [DAY - timedelta(days=1)],
        "alert",
        "drift alone never",
    ),
    # delayed labels: an estimated drop must be sustained, then fresh labels must cover it
    (
        "delayed_labels_estimated_drop_not_sustained_none",
        _ev(estimated=_est(0.74, 0.79, 0.74)),
        [],
        "none",
        "no perf",
    ),
    (
        "delayed_labels_too_few_estimated_days_none",
        _ev(estimated=_est(0.70, 0.70)),
        [],
        "none",
        "no perf",
    ),
    (
        "delayed_labels_no_fresh_label_yet_blocked",
        _ev(drifted_features=DRIFT, estimated=_est(0.7, 0.7, 0.7), fresh_labels=0),
        [],
        "blocked",
        "0 of 1000 labels dated on or after 2026-02-28",
    ),
    (
        "delayed_labels_covered_retrain",
        _ev(drifted_features=DRIFT, estimated=_est(0.7, 0.7, 0.7), fresh_labels=1000),
        [],
        "retrain",
        "3 days in a row",
    ),
    (
        "realised_drop_fresh_labels_short_blocked",
        _ev(realised_value=0.7, labelled_rows=5000, fresh_labels=999),
        [],
        "blocked",
        "waiting for labels",
    ),
    (
        "fresh_labels_short_reported_before_cooldown",
        _ev(realised_value=0.7, labelled_rows=5000, fresh_labels=10),
        [DAY - timedelta(days=1)],
        "blocked",
        "waiting for labels",
    ),
    # cooldown and budget, at their edges
    (
        "cooldown_ends_on_its_last_day_retrain",
        _ev(realised_value=0.7, labelled_rows=5000),
        [DAY - timedelta(days=7)],
        "retrain",
        "realised",
    ),
    (
        "cooldown_reported_before_budget",
        _ev(realised_value=0.7, labelled_rows=5000),
        [DAY - timedelta(days=20), DAY - timedelta(days=2)],
        "blocked",
        "cooldown",
    ),
    (
        "budget_request_30_days_ago_no_longer_counts_retrain",
        _ev(realised_value=0.7, labelled_rows=5000),
        [DAY - timedelta(days=30), DAY - timedelta(days=10)],
        "retrain",
        "realised",
    ),
    (
        "budget_29_days_ago_still_counts_blocked",
        _ev(realised_value=0.7, labelled_rows=5000),
        [DAY - timedelta(days=29), DAY - timedelta(days=10)],
        "blocked",
        "budget: 2 retrains",
    ),
    (
        "later_requests_ignored_when_a_past_day_is_rerun_retrain",
        _ev(realised_value=0.7, labelled_rows=5000),
        [DAY + timedelta(days=2), DAY + timedelta(days=5)],
        "retrain",
        "realised",
    ),
]


@pytest.mark.parametrize(
    ("evidence", "past", "expected", "fragment"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decide_policy_table(
    evidence: RetrainEvidence, past: list[date], expected: str, fragment: str
) -> None:
    result = decide(evidence, POLICY, past)
    assert result.decision == expected
    assert fragment in result.reason


def test_decide_disabled_policy_only_alerts() -> None:
    ev = _ev(realised_value=0.6, labelled_rows=5000)
    assert decide(ev, RetrainingSpec(enabled=False), []).decision == "alert"


def test_decide_regression_metric_lower_is_better() -> None:
    ev = _ev(metric="rmse", reference_value=50.0, realised_value=60.0, labelled_rows=5000)
    assert decide(ev, POLICY, []).decision == "retrain"
    assert drop("rmse", 50.0, 45.0) == -5.0


def test_decide_retrain_request_carries_evidence_and_window() -> None:
    ev = _ev(drifted_features=DRIFT, estimated=_est(0.7, 0.7, 0.7), skew={"income": 0.02})
    result = decide(ev, POLICY, [], training_days=60)
    request = result.request()
    assert request["decision"] == "retrain"
    assert request["training_window"]["includes_post_change_from"] == "2026-02-28"
    assert (
        request["training_window"]["start"]
        < request["training_window"]["includes_post_change_from"]
    )
    assert request["evidence"]["drifted_features"][0]["column"] == "income"
    assert "income (wasserstein 0.4)" in request["root_cause"]
    assert "training-serving skew: income 2.0%" in request["root_cause"]


def test_request_names_its_id_and_window_as_training_reads_them() -> None:
    ev = _ev(realised_value=0.7, labelled_rows=5000, skew={"income": 0.4})
    result = replace(decide(ev, POLICY, [], training_days=30), request_id=17)
    request = result.request()
    assert request["request_id"] == 17
    assert training_window(request) == (date(2026, 1, 29), DAY)  # 30 days before the change
    tags = request_tags(request)
    assert tags["mlstack.retrain_request.id"] == "17"
    assert tags["mlstack.retrain_request.window"] == "2026-01-29..2026-03-20"
    assert tags["mlstack.retrain_request.change_date"] == "2026-02-28"
    assert "training-serving skew: income 40.0%" in tags["mlstack.retrain_request.root_cause"]
    assert training_window(decide(_ev(), POLICY, []).request()) is None  # no retrain, no window


def test_root_cause_nothing_found_says_so() -> None:
    assert "no drift" in root_cause(_ev(change_date=None))
