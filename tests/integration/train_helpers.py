"""Helpers for training tests: small variants of the built-in specs and a lake filled by the
simulator through the real ingestion stage."""

from __future__ import annotations

from datetime import timedelta
from typing import Any


def spec_variant(spec: Any, **sections: Any) -> Any:
    """A copy of ``spec`` with top-level sections replaced (deep-merged for mappings)."""
    from mlstack.specs import UseCaseSpec

    data = spec.model_dump(by_alias=True, exclude={"path"})
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return UseCaseSpec.model_validate({**data, "path": spec.path})


def small_credit(spec: Any, **model: Any) -> Any:
    """credit_default made small: 400 rows a day, labels 2 days late, short split."""
    sim = spec.simulator.model_dump()
    sim.update(
        rows_per_day=400,
        options={**sim["options"], "label_delay_days": 2, "shock_after_days": None},
    )
    training = spec.training.model_dump()
    training.update(
        split={"validation_days": 2, "holdout_days": 3, "min_train_rows": 200}, schedule=None
    )
    if model:
        training["model"] = model
    promotion = spec.promotion.model_dump()
    promotion.update(
        min_score=None, slices=[{"column": "purpose", "tolerance": 0.05, "min_rows": 30}]
    )
    return spec_variant(spec, simulator=sim, training=training, promotion=promotion)


def with_model(spec: Any, estimator: str, **params: Any) -> Any:
    """``spec`` training another estimator."""
    training = spec.training.model_dump()
    training["model"] = {"estimator": estimator, "params": params}
    return spec_variant(spec, training=training)


def build_lake(spec: Any, days: int, settings: Any) -> None:
    """Land and ingest ``days`` days of the spec's simulator, every dataset."""
    from mlstack.sources import land
    from mlstack.stages.ingest import ingest_day

    for i in range(days):
        day = spec.simulator.start + timedelta(days=i)
        land(spec, day, settings)
        for dataset in spec.datasets():
            ingest_day(spec, day, dataset, settings=settings)
