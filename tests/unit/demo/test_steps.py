"""The demo's steps (``mlstack.demo.story`` / ``steps`` / ``timeline``): the explicit order
of a day, and how monitoring output reads on the timeline."""

from __future__ import annotations

from mlstack.demo import steps, story, timeline


def test_demo_day_runs_ingest_then_train_then_monitor() -> None:
    assert (steps.step_ingest, steps.step_train, steps.step_monitor) == story.STEPS
    assert (steps.final_reproduce,) == story.FINAL_STEPS


def test_policy_verdict_names_what_blocks_a_retrain() -> None:
    reason = "performance dropped; waiting for labels: 120 of 500"
    assert timeline.policy_verdict("blocked", reason) == "blocked: waiting for labels"
    assert timeline.policy_verdict("blocked", "x; cooldown: 3 days left") == "blocked: cooldown"
    assert timeline.policy_verdict("retrain", reason) == "retrain"


def test_alert_kind_groups_alerts_for_the_timeline() -> None:
    assert timeline.alert_kind("3 features drifted: income, debt_ratio") == "drift"
    assert timeline.alert_kind("estimated roc_auc dropped by 0.05") == "estimated drop"
    assert timeline.alert_kind("realised roc_auc dropped by 0.05") == "realised drop"
    assert timeline.alert_kind("missing values above the limit in income") == "missing values above"


def test_gate_evidence_puts_the_metric_first_and_failed_gates_after() -> None:
    decided = {
        "gates": [
            {"name": "latency", "passed": True, "detail": "median 3 ms"},
            {"name": "min_score", "passed": False, "detail": "0.6 below 0.65"},
            {"name": "metric", "passed": True, "detail": "0.71 vs 0.70"},
        ]
    }
    assert timeline.gate_evidence({"version": 2}, decided) == (
        "metric ok: 0.71 vs 0.70; latency ok: median 3 ms; min_score FAILED: 0.6 below 0.65"
    )
    assert timeline.gate_evidence({"version": 2}, None) == "v2: no promotion decision"


def test_demo_spec_copy_reports_on_new_alerts_unless_full_and_scales_row_counts(
    embedded_settings: object, credit_spec: object
) -> None:
    import os

    from mlstack.specs import get_spec

    before = os.environ.get("MLSTACK_USECASES_DIR")
    try:
        fast = story.demo_usecases(credit_spec, 1.0, embedded_settings, full=False)
        copy = get_spec("credit_default", fast.usecases_dir)
        assert copy.monitoring.reports == "on_new_alert"
        assert copy.training.split.min_train_rows == credit_spec.training.split.min_train_rows
        full = story.demo_usecases(credit_spec, 0.5, embedded_settings, full=True)
        copy = get_spec("credit_default", full.usecases_dir)
        assert copy.monitoring.reports == credit_spec.monitoring.reports == "daily"
        assert copy.training.split.min_train_rows == credit_spec.training.split.min_train_rows // 2
        assert copy.monitoring.min_labels == credit_spec.monitoring.min_labels  # never scaled
        assert copy.promotion.max_latency_ms == 1000 > credit_spec.promotion.max_latency_ms
    finally:
        if before is None:
            os.environ.pop("MLSTACK_USECASES_DIR", None)
        else:
            os.environ["MLSTACK_USECASES_DIR"] = before


def test_a_batch_stops_before_the_shock_which_runs_alone_and_batching_resumes_after() -> None:
    """story.up_to_shock: days before the scripted shock batch up to it; the shock's day goes
    alone; the days after it batch again (they went one a run, a DAG run each, before)."""
    from datetime import date, timedelta

    from mlstack.demo.story import up_to_shock

    days = [date(2026, 2, 10) + timedelta(days=i) for i in range(10)]
    assert up_to_shock(days, "2026-02-14") == days[:4]
    assert up_to_shock(days[4:], "2026-02-14") == [days[4]]
    assert up_to_shock(days[5:], "2026-02-14") == days[5:]
