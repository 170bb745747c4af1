"""The monitoring pages: charts with alert markers and thresholds, links to reports, MLflow
and the catalog, the login redirect, and the terminal view of the same data."""

from __future__ import annotations

import ast
import json
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
from mlstack.ui.app import create_app, login_redirect
from mlstack.ui.charts import bars, line_chart, stage_state, timeline
from mlstack.ui.links import alert_report_href, mlflow_links
from mlstack.ui.routes.catalog import lineage_groups, lineage_lines
from mlstack.ui.routes.reports import REPORT_CSP
from monitoring_rows import NOW, RID
from monitoring_rows import insert as _insert
from monitoring_rows import metric_rows as _metric_rows
from monitoring_rows import rollout_status as _rollout_status
from support import ROOT, use_settings


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


# --- charts -------------------------------------------------------------------------------------


def _chart_data(page: str) -> dict[str, Any]:
    """The chart data a page embeds for its script (id -> chart)."""
    found = re.search(
        r'<script type="application/json" id="mlstack-chart-data">(.*?)</script>', page, re.S
    )
    assert found, "no chart data on the page"
    return dict(json.loads(found.group(1)))


def test_line_chart_marks_alert_days_and_the_threshold() -> None:
    points = [
        {"day": "2026-02-14", "value": 0.0, "alert": False, "threshold": 0.5},
        {"day": "2026-02-15", "value": 0.3, "alert": True, "threshold": 0.5},
        {"day": "2026-02-16", "value": 0.4, "alert": True, "threshold": 0.5},
    ]
    chart = line_chart("c-drift_share", "drift_share", points)
    assert chart["alerts"] == [None, 0.3, 0.4] and chart["alert_days"] == 2
    assert chart["threshold"] == [0.5, 0.5, 0.5] and chart["challenger"] is None
    assert chart["caption"] == "drift_share — latest 0.4 · threshold 0.5"
    filled = line_chart("c", "x", [{**p, "threshold": None} for p in points], threshold=0.2)
    assert filled["threshold"] == [0.2, 0.2, 0.2]  # the spec's where a day recorded none


def test_line_chart_threshold_follows_each_day_and_carries_the_retrain_bar() -> None:
    points = [
        {"day": f"2026-02-1{i}", "value": v, "alert": v < t, "threshold": t, "retrain_threshold": r}
        for i, (v, t, r) in enumerate([(0.80, 0.77, 0.75), (0.79, 0.77, 0.75), (0.70, 0.72, 0.70)])
    ]
    chart = line_chart("c", "estimated_roc_auc", points)
    assert chart["threshold"] == [0.77, 0.77, 0.72]  # the bar moved with the champion
    assert chart["retrain"] == [0.75, 0.75, 0.70]
    assert "retrain bar 0.7" in chart["caption"] and "threshold 0.72" in chart["caption"]


def test_line_chart_aligns_the_challenger_on_the_champions_days() -> None:
    champion = [
        {"day": f"2026-02-1{i}", "value": 0.8, "alert": False, "threshold": 0.77} for i in range(5)
    ]
    challenger = [{"day": f"2026-02-1{i}", "value": 0.9, "alert": False} for i in (3, 4)]
    chart = line_chart("c", "estimated_roc_auc", champion, challenger=challenger)
    assert chart["days"] == [f"2026-02-1{i}" for i in range(5)]
    assert chart["challenger"] == [None, None, None, 0.9, 0.9]  # its last day is the champion's
    assert chart["threshold"] == [0.77] * 5  # the champion's bar only
    assert "challenger 0.9" in chart["caption"]
    assert line_chart("c", "x", champion)["challenger"] is None


def test_line_chart_without_values_says_so() -> None:
    chart = line_chart("c", "x", [{"day": "2026-01-01", "value": None, "alert": False}])
    assert chart["empty"] and chart["caption"] == "x: no data yet"


def test_bars_scale_to_the_largest() -> None:
    found = bars([("v2", 200.0), ("v1", 100.0), ("v0", 0.0)])
    assert [b["pct"] for b in found] == [100.0, 50.0, 0.5]  # a zero still shows a sliver
    assert bars([]) == []


def test_rollout_timeline_stages_in_order_with_their_decisions() -> None:
    summary = rollout_summary(_rollout_status())
    assert summary is not None
    stages = timeline(summary)
    assert [(st["name"], st["state"]) for st in stages] == [
        ("shadow", "passed"),
        ("10%", "current"),
        ("50%", "ahead"),
    ]
    assert [d["action"] for d in stages[0]["decisions"]] == ["wait", "next_stage"]  # waits folded
    ended = rollout_summary(_rollout_status("rolled_back"))
    assert ended is not None and stage_state(1, ended) == "rolled_back"


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


def test_lineage_groups_per_version_newest_first_down_to_models() -> None:
    edge = lambda s, r, t: {"source": s, "relation": r, "target": t}  # noqa: E731
    ds = {
        "dataset": {"name": "a"},
        "lineage": [
            edge("job:ingest", "produced", "dataset:a@v1"),
            edge("job:ingest", "produced", "dataset:a@v2"),
            edge("dataset:a@v2", "trained", "run:r1"),
            edge("job:ingest", "produced", "dataset:ab@v9"),  # another dataset's version
        ],
        "models": [edge("run:r1", "registered_as", "model:a/v1")],
    }
    groups = lineage_groups(ds)
    assert [g["version"] for g in groups] == [2, 1]
    assert groups[0]["counts"] == {"produced": 1, "trained": 1, "registered_as": 1}
    assert groups[0]["models"] == ["model:a/v1"]
    assert groups[1]["lines"] == ["job:ingest -produced-> dataset:a@v1"]


# --- boundaries ---------------------------------------------------------------------------------

#: What the pages must not import: they read the read model (mlstack.monitoring.views).
NOT_IN_UI = ("sqlalchemy", "airflow", "mlstack.cli", "mlstack.store", "mlstack.stages")


def test_ui_reads_the_read_model_only() -> None:
    found = {}
    for path in sorted((ROOT / "include" / "mlstack" / "ui").rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        found[path.name] = sorted(
            n for n in names if any(n == b or n.startswith(f"{b}.") for b in NOT_IN_UI)
        )
    assert not any(found.values()), found
    assert found  # the walk saw the package


# --- login --------------------------------------------------------------------------------------


def test_login_redirect_only_for_browsers_that_need_a_login() -> None:
    page = "/mlstack/monitoring/"
    html_accept = "text/html,application/xhtml+xml,*/*;q=0.8"
    target = login_redirect(401, "Not authenticated", html_accept, page)
    assert target == "/api/v2/auth/login?next=%2Fmlstack%2Fmonitoring%2F"
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
    browser = client.get(
        "/monitoring/?day=2026-01-05", headers={"accept": "text/html"}, follow_redirects=False
    )
    assert browser.status_code == 303
    # back to the page by its path (scheme and host are the browser's: a proxy's are not ours)
    assert browser.headers["location"] == (
        "/api/v2/auth/login?next=%2Fmonitoring%2F%3Fday%3D2026-01-05"
    )
    forbidden = TestClient(create_app([_refuse(403, "Forbidden")]))
    page = forbidden.get("/monitoring/", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 403


def test_pages_of_a_usecase_the_caller_may_not_read_are_refused() -> None:
    """The app asks ``usecase_access`` (the plugin: Airflow's per-DAG permission) per use case:
    the summary lists only the readable ones, every page of another answers 403."""
    client = TestClient(create_app(usecase_access=lambda: lambda usecase: usecase == "diabetes"))
    summary = client.get("/monitoring/")
    assert summary.status_code == 200
    assert "<h2>diabetes</h2>" in summary.text and "credit_default" not in summary.text
    for path in (
        "/monitoring/credit_default",
        "/monitoring/api/credit_default",
        "/monitoring/reports/credit_default/2026-02-17/monitor.html",
        "/monitoring/rollouts/credit_default/r1/0-next_stage.html",
        "/catalog/credit_default",
        "/maturity/credit_default",
        "/maturity/api/credit_default",
    ):
        refused = client.get(path, headers={"accept": "text/html"}, follow_redirects=False)
        assert refused.status_code == 403, path  # not a login redirect: logging in again won't help
        assert "you may not read use case 'credit_default'" in refused.text
        assert "team.users or team.groups" in refused.text
    assert client.get("/monitoring/api/diabetes").status_code == 200
    assert client.get("/catalog/diabetes").status_code == 200
    assert client.get("/monitoring/nope").status_code == 404


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
    charts = _chart_data(page.text)
    drift, income = charts["credit_default-drift_share"], charts["credit_default-drift-income"]
    assert (drift["alert_days"], income["alert_days"]) == (3, 1)  # 3 drift_share days + income
    assert drift["threshold"] == [0.5] * 8 and "threshold 0.5" in page.text
    assert 'aria-label="drift income"' in page.text and 'data-chart="credit_default-drift-income"'
    assert "vendor/uPlot.iife.min.js" in page.text  # drawn by the vendored library
    assert 'href="reports/credit_default/2026-02-17/monitor.html"' in page.text
    assert 'href="../catalog/credit_default"' in page.text
    assert 'href="http://mlflow.example/#/models/credit_default"' in page.text
    summary = page.text.split('aria-label="summary"')[1].split("</table>")[0]
    assert summary.index('data-usecase="credit_default"') < summary.index('data-usecase="diabetes"')
    assert page.text.index('aria-label="summary"') < page.text.index('<section id="credit_default"')
    one = client.get("/monitoring/credit_default")
    assert one.status_code == 200 and '<section id="diabetes"' not in one.text
    assert _chart_data(one.text).keys() == {k for k in charts if k.startswith("credit_default")}
    assert client.get("/monitoring/nope").status_code == 404
    tab = client.get("/monitoring/dag/credit_default__monitor", follow_redirects=False)
    assert tab.status_code == 307 and tab.headers["location"] == "../credit_default"
    other = client.get("/monitoring/dag/someone_elses_dag", follow_redirects=False)
    assert other.headers["location"] == "../"
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
    section = page.split('<section id="credit_default"')[1].split("</section>")[0]
    assert 'aria-label="rollout timeline"' in section and "champion 90% / challenger 10%" in section
    href = f"rollouts/credit_default/{RID}/0-next_stage"
    assert f'class="rollout-report" href="{href}.html"' in section
    assert f'class="rollout-report" href="{href}.json"' in section
    assert f'class="alert-report" href="{report}"' in section
    assert f'<a class="decision next_stage" href="{href}.html"' in section  # its timeline dot
    assert section.count('class="stage ') == 3 and 'class="end running"' in section
    assert "no rollout yet" in page.split('<section id="diabetes"')[1]
    row = page.split('data-usecase="credit_default"')[1].split("</tr>")[0]
    assert "2 drifted" in row and "rolling out" in row  # a rollout runs: said first
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
    lineage = page.text.split('<details class="lineage" open>')[1].split("</details>")[0]
    assert "<b>v2</b>" in lineage and f"model:{name}/v1" in lineage  # grouped, newest open
    assert 'class="schema-changed"' not in page.text  # {} is no change
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
