"""The monitoring page: charts with alert markers from the metric series, JSON beside."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient
from mlstack import store
from mlstack.ui.monitoring import create_app, svg_chart


def test_svg_chart_alert_days_get_red_markers() -> None:
    points = [
        {"day": "2026-02-14", "value": 0.0, "alert": False},
        {"day": "2026-02-15", "value": 0.3, "alert": True},
        {"day": "2026-02-16", "value": 0.4, "alert": True},
    ]
    svg = svg_chart("drift_share", points, threshold=0.5)
    assert svg.count('class="alert"') == 2 and "<polyline" in svg and "stroke-dasharray" in svg


def test_monitoring_page_lists_usecases_with_charts(embedded_settings) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "usecase": "credit_default",
            "model_version": 1,
            "run_date": date(2026, 2, 10) + timedelta(days=i),
            "metric": "drift_share",
            "feature": None,
            "value": 0.1 * i,
            "threshold": 0.5,
            "alert": i >= 5,
            "details": {},
            "created_at": now,
        }
        for i in range(8)
    ]
    with store.engine(embedded_settings).begin() as conn:
        conn.execute(store.monitoring_metrics.insert(), rows)
    client = TestClient(create_app())
    page = client.get("/monitoring/")
    assert page.status_code == 200
    assert "<h2>credit_default</h2>" in page.text and "<h2>diabetes</h2>" in page.text
    assert page.text.count('class="alert"') == 3
    data = client.get("/monitoring/api/credit_default").json()
    assert [p["alert"] for p in data["series"]["drift_share"]][-3:] == [True, True, True]
    assert client.get("/monitoring/api/nope").status_code == 404
