"""Monitoring's storage: a metric's series per variant (rows from before variants were
recorded are the champion's since migration 0005 backfilled them)."""

from __future__ import annotations

from mlstack import store
from mlstack.monitoring import history
from monitoring_rows import insert, metric_rows


def test_points_of_one_variant(embedded_settings) -> None:
    insert(
        embedded_settings,
        store.monitoring_metrics,
        metric_rows("estimated_roc_auc", [0.8, 0.8])  # the champion (metric_rows' default)
        + metric_rows("estimated_roc_auc", [0.79], variant="champion")
        + metric_rows("estimated_roc_auc", [0.9, 0.91], variant="challenger", version=2),
    )
    name = "estimated_roc_auc"
    champion = history.points("credit_default", name, variant="champion")
    assert [p.value for p in champion] == [0.8, 0.79, 0.8] and {p.version for p in champion} == {1}
    challenger = history.points("credit_default", name, variant="challenger")
    assert [(p.value, p.version) for p in challenger] == [(0.9, 2), (0.91, 2)]
    assert len(history.points("credit_default", name)) == 5
