"""Realised performance's labels: gateway feedback joined by prediction id and entity id, for
every row of a window (no cap), and the retrain policy's fresh-label count agreeing with it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
from mlstack import store
from mlstack.gateway.prediction_log import _insert
from mlstack.monitoring import compute, windows
from monitoring_rows import insert

DAY = date(2026, 3, 2)
T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
ROWS = 57_000  # 51,300 entities: more than the old 50,000 cap


def _predictions(n: int) -> list[dict[str, Any]]:
    return [
        {
            "prediction_id": f"p-{i:06d}",
            "usecase": "credit_default",
            "entity_id": f"e-{i:06d}" if i % 10 else None,  # every tenth without an entity
            "rollout_id": None,
            "rollout_stage": None,
            "variant": "shadow" if i % 1000 == 999 else "champion",
            "model_version": 1,
            "features": {"age": 30},
            "prediction": 0.0,
            "score": 0.2,
            "latency_ms": 1.0,
            "created_at": T0 + timedelta(seconds=i % 3600),
        }
        for i in range(n)
    ]


def _feedback(pid: str | None, entity: str | None, label: float, minutes: int = 0) -> dict:
    at = T0 + timedelta(days=1, minutes=minutes)
    return {
        "usecase": "credit_default",
        "prediction_id": pid,
        "entity_id": entity,
        "label": label,
        "label_at": at,
        "received_at": at,
    }


def _setup(settings: object) -> dict[str, float]:
    """Predictions and feedback of every kind; returns the label each prediction should get."""
    insert(settings, store.predictions, _predictions(ROWS))
    feedback, expected = [], {}
    for i in range(0, ROWS, 7):  # by prediction id only, as the traffic simulator sends it
        feedback.append(_feedback(f"p-{i:06d}", None, 1.0))
        expected[f"p-{i:06d}"] = 1.0
    for i in range(56_001, ROWS, 3):  # by entity id only, past the old 50,000 cap
        if i % 10 and i % 7:
            feedback.append(_feedback(None, f"e-{i:06d}", 0.0))
            expected[f"p-{i:06d}"] = 0.0
    # sent twice with different labels: the writer's upsert keeps the last received (the
    # table holds one label per prediction; see the insert of `resent` below)
    resent = _feedback("p-000014", None, 0.0, minutes=5)
    expected["p-000014"] = 0.0
    # both ids: the prediction id's label wins over an older entity label
    feedback.append(_feedback(None, "e-000021", 0.0, minutes=-5))
    # another use case's feedback for the same ids is not ours
    feedback.append({**_feedback("p-000001", "e-000001", 1.0), "usecase": "other"})
    insert(settings, store.feedback, feedback)
    _insert(store.engine(settings), store.feedback, [resent])  # type: ignore[arg-type]
    return expected


class _NoLakeLabels:
    """The lake holds no labels yet: every label here comes from the gateway."""

    def current_snapshot(self) -> None:  # as an Iceberg table with no commit yet
        return None

    def scan(self, **_: Any) -> Any:
        return self

    def to_arrow(self) -> pa.Table:
        return pa.table(
            {"application_id": pa.array([], pa.string()), "defaulted": pa.array([], pa.float64())}
        )

    def to_pandas(self) -> Any:
        return self.to_arrow().to_pandas()


def test_realised_labels_joined_by_both_ids_for_all_rows_and_fresh_count_agrees(
    embedded_settings, credit_spec, monkeypatch
) -> None:
    monkeypatch.setattr(windows.lake, "load_table", lambda *a, **k: _NoLakeLabels())
    expected = _setup(embedded_settings)
    window = windows.gateway_window(credit_spec, DAY, embedded_settings)
    assert len(window) == ROWS
    labelled = windows.attach_labels(credit_spec, window, embedded_settings, DAY)
    got = labelled.set_index("_prediction_id")["_label"]
    want = got.index.map(expected).astype(float)
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
    assert got.loc["p-056997"] == 0.0  # an entity label past the 50,000th entity

    # the retrain policy's fresh-label count is the realised join's labelled answered rows
    realised = int(compute.answered(labelled)["_label"].notna().sum())
    fresh = windows.fresh_labels(credit_spec, DAY, DAY + timedelta(days=1), embedded_settings)
    assert fresh == realised
    shadow = sum(1 for pid in expected if int(pid[2:]) % 1000 == 999)
    assert fresh == len(expected) - shadow
    # labels received after the last day asked about are not known on it
    assert windows.fresh_labels(credit_spec, DAY, DAY, embedded_settings) == 0
