"""The monitoring pages: charts with alert markers and thresholds, links to reports, MLflow
and the catalog, the login redirect, and the terminal view of the same data."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from fastapi import Depends, HTTPException
from fastapi.testclient import TestClient
from mlstack import lake, store
from mlstack.cli.monitor import rollout_lines, series_line
from mlstack.monitoring.views import (
    rollout_summary,
)
from mlstack.ui.monitoring import (
    REPORT_CSP,
    alert_report_href,
    create_app,
    lineage_lines,
    login_redirect,
    mlflow_links,
    stage_fill,
    svg_bars,
    svg_chart,
    svg_rollout,
    tick_label,
)
from monitoring_rows import NOW, RID
from monitoring_rows import insert as _insert
from monitoring_rows import metric_rows as _metric_rows
from monitoring_rows import rollout_status as _rollout_status
from support import use_settings


def _seed_rollout(settings: object) -> str:
    """A rollout in its 10% stage: waits and a next_stage (with its reports) in shadow."""
    key = f"reports/rollouts/credit_default/{RID}/0-next_stage"
    lake.write_bytes(f"{key}.json", b'{"action": "next_stage"}', settings)  # type: ignore[arg-type]
    uri = lake.write_bytes(f"{key}.html", b"<p id='r'>rollout</p>", settings)  # type: ignore[arg-type]
    status = _rollout_status()
    ro = status["rollout"] | {"started_at": NOW, "stage_started_at": NOW, "actor": "test"}
    _insert(settings, store.rollouts, [ro])
    rows = [
        {k: d[k] for k in ("stage_index", "action", "reasons")}
        | {"rollout_id": RID, "usecase": "credit_default", "evidence": {}, "created_at": NOW}
        | {"report_uri": uri if d["report_uri"] else None}
        for d in status["decisions"][::-1]
    ]
    _insert(settings, store.rollout_decisions, rows)
    return uri


# --- drawing ------------------------------------------------------------------------------------


def test_svg_chart_alert_days_get_red_markers() -> None:
    points = [
        {"day": "2026-02-14", "value": 0.0, "alert": False},
        {"day": "2026-02-15", "value": 0.3, "alert": True},
        {"day": "2026-02-16", "value": 0.4, "alert": True},
    ]
    svg = svg_chart("drift_share", points, threshold=0.5)
    assert svg.count('class="alert"') == 2 and "<polyline" in svg and "stroke-dasharray" in svg
    assert 'class="threshold"' in svg and "threshold 0.5" in svg


def test_svg_chart_threshold_follows_each_day_and_draws_the_retrain_bar() -> None:
    points = [
        {"day": f"2026-02-1{i}", "value": v, "alert": v < t, "threshold": t, "retrain_threshold": r}
        for i, (v, t, r) in enumerate([(0.80, 0.77, 0.75), (0.79, 0.77, 0.75), (0.70, 0.72, 0.70)])
    ]
    svg = svg_chart("estimated_roc_auc", points)
    threshold = svg.split('class="threshold"')[1].split("points=")[1].split('"')[1]
    assert len(threshold.split()) == 3  # one vertex per day: the bar moved with the champion
    ys = [float(xy.split(",")[1]) for xy in threshold.split()]
    assert ys[0] == ys[1] < ys[2]  # the lower bar of the last day sits lower (larger y)
    assert 'class="retrain"' in svg and "retrain bar 0.7" in svg and "threshold 0.72" in svg


def test_svg_chart_draws_the_challenger_on_the_same_days() -> None:
    champion = [
        {"day": f"2026-02-1{i}", "value": 0.8, "alert": False, "threshold": 0.77} for i in range(5)
    ]
    challenger = [{"day": f"2026-02-1{i}", "value": 0.9, "alert": False} for i in (3, 4)]
    svg = svg_chart("estimated_roc_auc", champion, challenger=challenger)
    line = svg.split('class="challenger"')[1].split('points="')[1].split('"')[0].split()
    xs = [float(xy.split(",")[0]) for xy in line]
    last_x = float(
        svg.split('class="champion"')[1]
        .split('points="')[1]
        .split('"')[0]
        .split()[-1]
        .split(",")[0]
    )
    assert len(xs) == 2 and xs[-1] == last_x  # its last day sits on the champion's last day
    assert "challenger 0.9" in svg
    assert 'class="challenger"' not in svg_chart("x", champion)


def test_svg_chart_has_a_y_axis_labelled_min_max_and_threshold() -> None:
    points = [
        {"day": f"2026-02-1{i}", "value": v, "alert": v > 0.5} for i, v in enumerate([0.1, 0.7])
    ]
    svg = svg_chart("drift_share", points, threshold=0.5)
    ticks = dict(re.findall(r'class="tick (\w+)"[^>]* y="([\d.]+)"[^>]*>', svg))
    labels = dict(re.findall(r'class="tick (\w+)"[^>]*>([^<]+)<', svg))
    assert labels == {"min": "0.1", "max": "0.7", "threshold": "0.5"}
    assert float(ticks["min"]) > float(ticks["threshold"]) > float(ticks["max"])  # y grows down
    near = svg_chart("x", points, threshold=0.69)  # its label would overlap the max's
    assert 'class="tick threshold"' not in near and "threshold 0.69" in near
    flat = svg_chart("x", [{"day": "2026-02-10", "value": 3.0, "alert": False}])
    assert flat.count('class="tick') == 1
    assert tick_label(-123.456) == "-123.5" and tick_label(12345.6) == "12,346"


def test_svg_chart_without_values_says_so() -> None:
    assert "no data yet" in svg_chart("x", [{"day": "2026-01-01", "value": None, "alert": False}])


def test_svg_bars_scale_to_the_largest() -> None:
    svg = svg_bars("rows", [("v2", 200.0), ("v1", 100.0)])
    widths = [float(w) for w in re.findall(r'class="bar"[^>]* width="([\d.]+)"', svg)]
    assert len(widths) == 2 and widths[0] == pytest.approx(2 * widths[1])
    assert "none yet" in svg_bars("rows", [])


def test_svg_rollout_draws_stages_and_linked_decisions() -> None:
    summary = rollout_summary(_rollout_status())
    assert summary is not None
    svg = svg_rollout(summary)
    assert svg.count('class="stage"') == 3 and ">running</text>" in svg
    assert svg.count('class="decision ') == 3  # two waits folded into one dot
    link = f'<a href="rollouts/credit_default/{RID}/0-next_stage.html">'
    assert svg.count("<a href=") == 1 and f'{link}<circle class="decision next_stage"' in svg
    assert [stage_fill(i, summary) for i in range(3)] == ["#e6f2ea", "#fdf3e3", "#fafafa"]
    ended = rollout_summary(_rollout_status("rolled_back"))
    assert ended is not None and stage_fill(1, ended) == "#f6d0d0"


# --- thresholds ---------------------------------------------------------------------------------


def test_series_line_prints_thresholds_and_alert_marks() -> None:
    pts = [
        {"day": "2026-02-01", "value": 0.1, "alert": False, "threshold": 0.5},
        {"day": "2026-02-02", "value": 0.7, "alert": True, "threshold": 0.5},
    ]
    first, marks = series_line("drift_share", pts)
    assert "latest 0.7 (2026-02-02)" in first and "threshold 0.5" in first
    assert "retrain bar" not in first and marks.strip().startswith("[red]")
    pts[-1]["retrain_threshold"] = 0.4
    assert "retrain bar 0.4" in series_line("x", pts)[0]
    assert series_line("x", [])[0].split() == ["x", "(no", "data)"]


# --- links --------------------------------------------------------------------------------------


def test_alert_links_to_its_runs_report() -> None:
    uri = "file:///home/lake/reports/credit_default/2026-02-14/monitor.html"
    assert (
        alert_report_href("credit_default", uri) == "reports/credit_default/2026-02-14/monitor.html"
    )
    assert alert_report_href("credit_default", None) is None
    assert alert_report_href("diabetes", uri) is None
    assert alert_report_href("credit_default", "file:///x/reports/credit_default/x/y.html") is None


def test_rollout_lines_for_the_terminal() -> None:
    lines = rollout_lines(rollout_summary(_rollout_status()), lambda key: f"s3://lake/{key}")
    assert "running: challenger v2 vs champion v1, stage 10% (2/3)" in lines[0]
    assert "champion 90% / challenger 10%" in lines[0]
    assert any("shadow wait ×2: 80 labelled rows" in line for line in lines)
    report = f"report s3://lake/reports/rollouts/credit_default/{RID}/0-next_stage.html"
    assert sum(report in line for line in lines) == 1
    assert rollout_lines(None) == ["No rollout yet."]


def test_mlflow_links_to_the_model_and_each_alias() -> None:
    links = mlflow_links(
        "http://127.0.0.1:5000", "credit_default", {"champion": 3, "challenger": 4}
    )
    assert links == {
        "model": "http://127.0.0.1:5000/#/models/credit_default",
        "challenger": "http://127.0.0.1:5000/#/models/credit_default/versions/4",
        "champion": "http://127.0.0.1:5000/#/models/credit_default/versions/3",
    }
    assert mlflow_links("", "credit_default", {"champion": 3}) == {}


def test_mlflow_ui_url_defaults_to_an_http_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    s = use_settings(monkeypatch, mlflow_tracking_uri="http://mlflow:5000/")
    assert s.mlflow_ui_url == "http://mlflow:5000"  # type: ignore[attr-defined]
    s = use_settings(monkeypatch, mlflow_ui_url="http://127.0.0.1:5000")
    assert s.mlflow_ui_url == "http://127.0.0.1:5000"  # type: ignore[attr-defined]
    monkeypatch.delenv("MLSTACK_MLFLOW_UI_URL")
    s = use_settings(monkeypatch, mlflow_tracking_uri="sqlite:///x.db")
    assert s.mlflow_ui_url == ""  # type: ignore[attr-defined]


def test_lineage_lines_follow_datasets_to_models() -> None:
    ds = {
        "lineage": [{"source": "job:ingest", "relation": "produced", "target": "dataset:a@v1"}],
        "models": [{"source": "run:r1", "relation": "registered_as", "target": "model:a/v1"}],
    }
    assert lineage_lines(ds) == [
        "job:ingest -produced-> dataset:a@v1",
        "run:r1 -registered_as-> model:a/v1",
    ]


# --- login --------------------------------------------------------------------------------------


def test_login_redirect_only_for_browsers_that_need_a_login() -> None:
    page = "http://h/mlstack/monitoring/"
    html_accept = "text/html,application/xhtml+xml,*/*;q=0.8"
    target = login_redirect(401, "Not authenticated", html_accept, page)
    assert target == "/api/v2/auth/login?next=http%3A%2F%2Fh%2Fmlstack%2Fmonitoring%2F"
    assert login_redirect(403, "Invalid JWT token", html_accept, page) is not None
    assert login_redirect(403, "Forbidden", html_accept, page) is None  # logged in, not allowed
    assert login_redirect(401, "Not authenticated", "application/json", page) is None


def _refuse(status: int, detail: str) -> Any:
    def dependency() -> None:
        raise HTTPException(status_code=status, detail=detail)

    return Depends(dependency)


def test_app_runs_the_auth_dependency_on_every_route() -> None:
    client = TestClient(create_app([_refuse(401, "Not authenticated")]))
    for path in ("/monitoring/", "/catalog/credit_default", "/monitoring/api/credit_default"):
        assert client.get(path, headers={"accept": "application/json"}).status_code == 401
    browser = client.get("/monitoring/", headers={"accept": "text/html"}, follow_redirects=False)
    assert browser.status_code == 303
    assert browser.headers["location"].startswith("/api/v2/auth/login?next=http")
    forbidden = TestClient(create_app([_refuse(403, "Forbidden")]))
    page = forbidden.get("/monitoring/", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 403


# --- pages --------------------------------------------------------------------------------------


def test_monitoring_page_lists_usecases_with_charts_thresholds_and_links(
    embedded_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = use_settings(
        monkeypatch, home=str(embedded_settings.home), mlflow_ui_url="http://mlflow.example"
    )
    _insert(
        settings,
        store.monitoring_metrics,
        _metric_rows("drift_share", [0.1 * i for i in range(8)], threshold=0.5, alert_from=5)
        + _metric_rows("drift_score", [0.01, 0.3], feature="income", threshold=0.1, alert_from=1),
    )
    lake.write_bytes("reports/credit_default/2026-02-17/monitor.html", b"<p>r</p>", settings)
    client = TestClient(create_app())
    page = client.get("/monitoring/")
    assert page.status_code == 200
    assert "<h2>credit_default</h2>" in page.text and "<h2>diabetes</h2>" in page.text
    assert page.text.count('class="alert"') == 4  # 3 drift_share days + 1 on income
    assert page.text.count('class="threshold"') == 2 and "threshold 0.5" in page.text
    assert 'aria-label="drift income"' in page.text
    assert "href='reports/credit_default/2026-02-17/monitor.html'" in page.text
    assert "href='../catalog/credit_default'" in page.text
    assert "href='http://mlflow.example/#/models/credit_default'" in page.text
    data = client.get("/monitoring/api/credit_default").json()
    assert [p["alert"] for p in data["series"]["drift_share"]][-3:] == [True, True, True]
    assert data["series"]["drift_share"][0]["threshold"] == 0.5
    assert data["reports"] == [{"day": "2026-02-17", "files": ["monitor.html"]}]
    assert client.get("/monitoring/api/nope").status_code == 404


def test_report_route_streams_from_the_lake_sandboxed(embedded_settings) -> None:
    body = b"<html>" + b"x" * (3 << 20) + b"</html>"  # several chunks
    lake.write_bytes("reports/credit_default/2026-02-17/monitor.html", body, embedded_settings)
    lake.write_bytes("reports/credit_default/2026-02-17/monitor.json", b"{}", embedded_settings)
    client = TestClient(create_app())
    got = client.get("/monitoring/reports/credit_default/2026-02-17/monitor.html")
    assert got.status_code == 200 and got.content == body
    assert got.headers["content-security-policy"] == REPORT_CSP
    assert got.headers["content-type"].startswith("text/html")
    js = client.get("/monitoring/reports/credit_default/2026-02-17/monitor.json")
    assert js.json() == {} and "content-security-policy" not in js.headers
    for path in (
        "/monitoring/reports/credit_default/2026-02-18/monitor.html",  # no such day
        "/monitoring/reports/credit_default/2026-02-17/other.html",  # not a report file
        "/monitoring/reports/credit_default/..%2F..%2Fx/monitor.html",  # not a day
        "/monitoring/reports/nope/2026-02-17/monitor.html",  # not a use case
    ):
        assert client.get(path).status_code == 404, path


def test_page_shows_the_rollout_and_alert_links_and_serves_rollout_reports(
    embedded_settings,
) -> None:
    _seed_rollout(embedded_settings)
    today = date.today()  # no metrics: the alerts shown are the last 30 days'
    report = f"reports/credit_default/{today}/monitor.html"
    uri = lake.write_bytes(report, b"<p>r</p>", embedded_settings)
    alert = {"usecase": "credit_default", "model_version": 1, "run_date": today}
    alert |= {"kind": "drift", "severity": "warning", "message": "2 drifted", "details": {}}
    _insert(
        embedded_settings, store.monitoring_alerts, [alert | {"report_uri": uri, "created_at": NOW}]
    )
    client = TestClient(create_app())
    page = client.get("/monitoring/").text
    section = page.split("<section id='credit_default'>")[1].split("</section>")[0]
    assert 'aria-label="rollout timeline"' in section and "champion 90% / challenger 10%" in section
    href = f"rollouts/credit_default/{RID}/0-next_stage"
    assert f"class='rollout-report' href='{href}.html'" in section
    assert f"class='rollout-report' href='{href}.json'" in section
    assert f"class='alert-report' href='{report}'" in section
    assert "no rollout yet" in page.split("<section id='diabetes'>")[1]
    got = client.get(f"/monitoring/{href}.html")
    assert got.status_code == 200 and got.headers["content-security-policy"] == REPORT_CSP
    assert client.get(f"/monitoring/{href}.json").json() == {"action": "next_stage"}
    for path in (
        f"/monitoring/rollouts/credit_default/{RID}/1-promote.html",  # not written
        f"/monitoring/rollouts/credit_default/{RID}/0-next_stage.txt",
        "/monitoring/rollouts/credit_default/..%2F..%2Fx/0-next_stage.html",
        f"/monitoring/rollouts/diabetes/{RID}/0-next_stage.html",  # another use case
        f"/monitoring/rollouts/nope/{RID}/0-next_stage.html",
    ):
        assert client.get(path).status_code == 404, path
    assert client.get("/monitoring/api/credit_default").json()["rollout"]["stage"] == "10%"


def test_catalog_page_shows_versions_as_bars_and_lineage_to_models(embedded_settings) -> None:
    name = "credit_default"
    _insert(
        embedded_settings,
        store.datasets,
        [
            {
                "name": name,
                "usecase": name,
                "kind": "features",
                "table_identifier": f"mlstack.{name}",
                "location": "file:///x",
                "owner": "risk-team",
                "description": "",
                "tags": [],
                "created_at": NOW,
                "updated_at": NOW,
            }
        ],
    )
    _insert(
        embedded_settings,
        store.versions,
        [
            {
                "dataset": name,
                "version": v,
                "snapshot_id": 1000 + v,
                "partition": f"day=2026-02-0{v}",
                "operation": "append",
                "total_rows": 100 * v,
                "partition_rows": 100,
                "rejected_rows": 3 if v == 2 else 0,
                "schema": [],
                "schema_changes": {},
                "stats": {},
                "producer": "ingest",
                "snapshot_at": NOW,
                "created_at": NOW,
            }
            for v in (1, 2)
        ],
    )
    edges = [
        ("job:ingest", "produced", f"dataset:{name}@v2"),
        (f"dataset:{name}@v2", "trained", "run:abc"),
        ("run:abc", "registered_as", f"model:{name}/v1"),
    ]
    _insert(
        embedded_settings,
        store.lineage,
        [
            {"source": s, "relation": r, "target": t, "details": {}, "created_at": NOW}
            for s, r, t in edges
        ],
    )
    client = TestClient(create_app())
    page = client.get(f"/catalog/{name}")
    assert page.status_code == 200
    assert page.text.count('class="bar"') == 3  # two versions, one with rejected rows
    assert f"run:abc -registered_as-&gt; model:{name}/v1" in page.text
    assert "snapshot 1002" in page.text and "risk-team" in page.text
    assert "No dataset recorded yet" in client.get("/catalog/diabetes").text
    assert client.get("/catalog/nope").status_code == 404


def test_monitor_show_prints_thresholds_feature_drift_and_reports(embedded_settings) -> None:
    from click.testing import CliRunner
    from mlstack.cli import main

    _insert(
        embedded_settings,
        store.monitoring_metrics,
        _metric_rows("drift_share", [0.1, 0.2, 0.7], threshold=0.5, alert_from=2)
        + _metric_rows("drift_score", [0.01, 0.3], feature="income", threshold=0.1, alert_from=1),
    )
    lake.write_bytes("reports/credit_default/2026-02-11/monitor.json", b"{}", embedded_settings)
    assert "No rollout yet." in CliRunner().invoke(main, ["monitor", "show", "diabetes"]).output
    uri = _seed_rollout(embedded_settings)
    out = CliRunner().invoke(main, ["monitor", "show", "credit_default"])
    assert out.exit_code == 0, out.output
    assert "challenger v2 vs champion v1, stage 10% (2/3)" in " ".join(out.output.split())
    assert uri in "".join(out.output.splitlines())  # rich folds lines over 160 columns
    drift = next(line for line in out.output.splitlines() if "drift_share" in line)
    assert "latest 0.7 (2026-02-12)" in drift and "threshold 0.5" in drift
    income = next(line for line in out.output.splitlines() if "drift_score income" in line)
    assert "threshold 0.1" in income
    assert "reports/credit_default/2026-02-11/monitor.json" in out.output
    data = CliRunner().invoke(main, ["monitor", "show", "credit_default", "--json"]).output
    assert '"threshold": 0.5' in data and '"feature_drift"' in data


def test_report_route_streams_from_an_s3_lake(
    tmp_path, monkeypatch: pytest.MonkeyPatch, s3_endpoint: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    settings = use_settings(
        monkeypatch,
        home=str(tmp_path / "home"),
        lake_url="s3://lake-reports",
        s3_endpoint_url=s3_endpoint,
        s3_access_key_id="test",
        s3_secret_access_key="test",
    )
    lake.prepare(settings)  # type: ignore[arg-type]
    lake.write_bytes("reports/credit_default/2026-02-17/monitor.json", b'{"ok": 1}', settings)
    client = TestClient(create_app())
    got = client.get("/monitoring/reports/credit_default/2026-02-17/monitor.json")
    assert got.status_code == 200 and got.json() == {"ok": 1}
    missing = client.get("/monitoring/reports/credit_default/2026-02-16/monitor.json")
    assert missing.status_code == 404
