"""Helpers for gateway tests: register a model quickly (simulated rows, no lake) and
simulated records with their true labels."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from mlstack.gateway.app import create_app
from mlstack.gateway.core.config import GatewaySettings


def applications(rows: int, day: date = date(2026, 2, 1), seed: int = 42) -> pd.DataFrame:
    """Clean credit applications with their outcome (the simulator's ground truth)."""
    from mlstack.demo.simulator import credit_applications

    return credit_applications(day, seed=seed, rows=rows, shock_day=None)


def records(spec: Any, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Request records: the id and the model's input columns, JSON-safe."""
    from mlstack.modeling import feature_columns

    cols = [spec.schema.id_column, *feature_columns(spec)]
    out = frame[cols].astype(object).where(frame[cols].notna(), None).to_dict("records")
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in out]


def register_model(
    spec: Any,
    settings: Any,
    *,
    estimator: str = "linear",
    alias: str | None = "champion",
    **params: Any,
) -> int:
    """Fit ``estimator`` on simulated rows, log it like training does, register and record
    its digest (as training does), and with an ``alias`` record it again as promotion does
    and set the alias."""
    import mlflow
    from mlflow.models import infer_signature
    from mlstack import integrity, modeling, registry
    from train_helpers import with_model

    spec = with_model(spec, estimator, **params)
    frame = applications(3000, date(2026, 1, 15))
    x = modeling.model_input(spec, frame)
    pipe = modeling.build_pipeline(spec, x)
    pipe.fit(x, frame[spec.schema.target_column].to_numpy())
    exp = registry.experiment_id(spec.name, settings)
    with mlflow.start_run(experiment_id=exp):
        score, _ = modeling.predict(spec, pipe, x.head(200))
        info = registry.log_sklearn_model(
            pipe,
            signature=infer_signature(x.head(200), score),
            input_example=x.head(3),
            predict_fn="predict_proba",
        )
    mv = registry.register(spec.name, info.model_uri, {"mlstack.threshold": "0.5"}, settings)
    integrity.record(spec.name, int(mv.version), settings, recorded_by="train")
    if alias:
        integrity.record(spec.name, int(mv.version), settings, recorded_by="promote")
        registry.set_alias(spec.name, alias, mv.version, settings)
    return int(mv.version)


def gateway_client(settings: Any, tmp_path: Any, usecase: str, **kw: Any) -> TestClient:
    """An in-process gateway for ``usecase`` with a spool under ``tmp_path`` and fast
    flush/replay intervals (no registry polling: ``refresh_interval_s`` is an hour)."""
    g = GatewaySettings(
        usecases=[usecase],
        refresh_interval_s=3600,
        spool_dir=tmp_path / "spool",
        replay_interval_s=0.2,
        log_flush_interval_s=0.05,
        **kw,
    )
    return TestClient(create_app(settings, g))
