"""Helpers for monitoring tests: a small credit use case with a shock on a chosen day."""

from __future__ import annotations

from datetime import timedelta

from train_helpers import small_credit, spec_variant, with_model


def shocked_credit(credit_spec, shock_day: int, **retraining):
    """credit_default small and fast: 1000 rows a day, labels 2 days late, shock on a day."""
    spec = with_model(small_credit(credit_spec), "linear", C=1.0)
    sim = spec.simulator.model_dump()
    sim["options"] = {**sim["options"], "shock_after_days": shock_day}
    sim["rows_per_day"] = 1000
    schema = spec.schema.model_dump(by_alias=True) | {"label_delay_days": 2}
    retraining = (
        spec.retraining.model_dump()
        | {
            "metric": "business_value_per_row",
            "metric_drop": 25.0,
            "min_labels": 800,
            "min_fresh_labels": 1500,
            "sustained_days": 2,
        }
        | retraining
    )
    monitoring = spec.monitoring.model_dump() | {"min_labels": 200, "performance_drop": 25.0}
    return spec_variant(
        spec, simulator=sim, retraining=retraining, monitoring=monitoring, schema=schema
    )


def ingest_days(spec, first: int, last: int, settings) -> None:
    """Land and ingest days ``first``..``last`` (indexes from the simulator start)."""
    from mlstack.sources import land
    from mlstack.stages.ingest import ingest_day

    for i in range(first, last + 1):
        day = spec.simulator.start + timedelta(days=i)
        land(spec, day, settings)
        for dataset in spec.datasets():
            ingest_day(spec, day, dataset, settings=settings)
