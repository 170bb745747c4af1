"""The maturity page beside the monitoring pages: every use case's declared level, the
checklist answered from the database, what the next level needs; the same report as JSON."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from mlstack import model_records, store
from mlstack.ui.app import create_app
from monitoring_rows import insert, metric_rows
from support import ROOT, use_settings

NOW = datetime(2026, 2, 20, 9, 30, tzinfo=UTC)


def test_maturity_page_answers_from_the_database(tmp_path, monkeypatch) -> None:
    settings = use_settings(
        monkeypatch, home=str(tmp_path / "home"), usecases_dir=str(ROOT / "include" / "usecases")
    )
    client = TestClient(create_app())
    page = client.get("/maturity/")
    assert page.status_code == 200
    assert '<section id="credit_default"' in page.text and '<section id="diabetes"' in page.text
    assert "maturity 5 continuously improved" in page.text
    assert "no monitoring run recorded yet" in page.text

    insert(settings, store.monitoring_metrics, metric_rows("drift_share", [0.1, 0.2]))
    model_records.record_version(
        "credit_default", 1, "run1", {"mlstack.features_snapshot": "7"}, NOW, settings
    )
    model_records.record_alias("credit_default", "champion", 1, settings)
    one = client.get("/maturity/credit_default")
    assert one.status_code == 200 and '<section id="diabetes"' not in one.text
    assert "2 days monitored, the latest 2026-02-11; 0 alerts" in one.text
    assert "1 versions, champion v1" in one.text
    assert 'href="../monitoring/credit_default"' in one.text

    api = client.get("/maturity/api/credit_default").json()
    registry = next(i for i in api["items"] if i["name"] == "model registry")
    assert (registry["status"], api["declared"]) == ("yes", 5)
    assert client.get("/maturity/nope").status_code == 404
    assert 'href="../maturity/credit_default"' in client.get("/monitoring/credit_default").text
