"""The monitoring page in a real browser, served by a real ``airflow api-server``.

The api-server runs as a subprocess on the session's migrated Airflow DB (SQLite) with the
repo's ``plugins/`` folder, so the page goes through Airflow's own plugin loading and
mounting; mlstack's database is an embedded home seeded with a metric series and alerts.
Debian's Chromium (``/usr/bin/chromium`` + ``/usr/bin/chromedriver``, driven by Selenium;
no driver is ever downloaded) loads the page, checks what a user sees, and saves a
screenshot.

The pages sit behind Airflow's own login (Airflow's simple auth manager here, with a viewer
whose password the test writes): without a token they answer 401 and send a browser to
Airflow's login page; the browser logs in through that page and lands back on monitoring.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from support import ROOT, free_port, stop_process, wait_http

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DAYS, ALERT_DAYS = 14, 4
USER, PASSWORD = "viewer", "monitoring-test-password"
MLFLOW_UI = "http://mlflow.example:5000"
REPORT_DAY = "2026-02-14"
ROLLOUT_ID = "0b7c3f9e-1d2a-4c5b-8e6f-a1b2c3d4e5f6"
ROLLOUT_REPORT = f"reports/rollouts/credit_default/{ROLLOUT_ID}/0-next_stage"


def _status(url: str, token: str | None = None, timeout: float = 5) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _token(base: str) -> str:
    """A JWT from Airflow's ``POST /auth/token`` (simple auth manager), as API clients get one."""
    body = json.dumps({"username": USER, "password": PASSWORD}).encode()
    request = urllib.request.Request(
        f"{base}/auth/token", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return str(json.loads(resp.read())["access_token"])


def _seed(settings: object, spec: object) -> None:
    """A fortnight of drift_share (the last days over threshold) and the watched metric."""
    from mlstack import lake, store
    from mlstack.monitoring.compute import watched_metric

    now = datetime.now(UTC)
    first = date(2026, 2, 1)
    watched = f"estimated_{watched_metric(spec)}"  # type: ignore[arg-type]
    rows = []
    for i in range(DAYS):
        alert = i >= DAYS - ALERT_DAYS
        common = {
            "usecase": "credit_default",
            "model_version": 1,
            "run_date": first + timedelta(days=i),
            "feature": None,
            "details": {},
            "created_at": now,
        }
        drift = 0.65 if alert else 0.05 + 0.02 * i
        rows.append(
            {**common, "metric": "drift_share", "value": drift, "threshold": 0.5, "alert": alert}
        )
        value = 0.68 if alert else 0.78
        rows.append(
            {**common, "metric": watched, "value": value, "threshold": 0.72, "alert": alert}
        )
    alerts = [
        {
            "usecase": "credit_default",
            "model_version": 1,
            "run_date": first + timedelta(days=i),
            "kind": "drift",
            "severity": "critical",
            "message": "drift share over 0.5",
            "details": {},
            "report_uri": None,
            "created_at": now,
        }
        for i in range(DAYS - ALERT_DAYS, DAYS)
    ]
    with store.engine(settings).begin() as conn:  # type: ignore[arg-type]
        conn.execute(store.monitoring_metrics.insert(), rows)
        conn.execute(store.monitoring_alerts.insert(), alerts)
    report = b"<html><body><h1 id='evidently'>drift report</h1></body></html>"
    lake.write_bytes(f"reports/credit_default/{REPORT_DAY}/monitor.html", report, settings)  # type: ignore[arg-type]
    _seed_rollout(settings, now)


def _seed_rollout(settings: object, now: datetime) -> None:
    """A rollout in its 10% stage, after a next_stage decision (with its report) in shadow."""
    from mlstack import lake, store

    page = b"<html><body><h1 id='rollout'>rollout decision</h1></body></html>"
    lake.write_bytes(f"{ROLLOUT_REPORT}.json", b"{}", settings)  # type: ignore[arg-type]
    uri = lake.write_bytes(f"{ROLLOUT_REPORT}.html", page, settings)  # type: ignore[arg-type]
    stages = [{"name": "shadow", "traffic": 0.0, "shadow": True}]
    stages += [{"name": "10%", "traffic": 0.1, "shadow": False}]
    rollout = {"rollout_id": ROLLOUT_ID, "usecase": "credit_default", "champion_version": 1}
    rollout |= {"challenger_version": 2, "stages": stages, "stage_index": 1, "state": "running"}
    rollout |= {"started_at": now, "stage_started_at": now, "ended_at": None, "actor": "test"}
    decision = {"rollout_id": ROLLOUT_ID, "usecase": "credit_default", "stage_index": 0}
    decision |= {"action": "next_stage", "reasons": ["no harm shown"], "evidence": {}}
    with store.engine(settings).begin() as conn:  # type: ignore[arg-type]
        conn.execute(store.rollouts.insert(), [rollout])
        conn.execute(
            store.rollout_decisions.insert(), [decision | {"report_uri": uri, "created_at": now}]
        )


@pytest.fixture
def api_server(airflow_db: Path, embedded_settings, credit_spec, tmp_path: Path) -> Iterator[str]:
    """``airflow api-server`` with the repo's plugins, reading the seeded embedded home."""
    _seed(embedded_settings, credit_spec)
    port = free_port()
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_db),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "MLSTACK_HOME": str(embedded_settings.home),  # type: ignore[attr-defined]
        "MLSTACK_MLFLOW_UI_URL": MLFLOW_UI,
    }
    log = tmp_path / "api-server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "-H", "127.0.0.1", "-p", str(port)]
            + ["-w", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/v2/monitor/health", proc, log, timeout=180)
        yield base
    finally:
        stop_process(proc, grace=30)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """Debian's headless Chromium through its own chromedriver (Selenium Manager unused)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for binary in (CHROMIUM, CHROMEDRIVER):
        if not binary.exists():
            raise RuntimeError(
                f"{binary} missing: apt-get install chromium chromium-driver (.ci/run does)"
            )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1600",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        service=Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "cd.log")),
        options=options,
    )
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _check_refusals(api_server: str) -> None:
    """Without a token 401, with a forged one 403, with Airflow's JWT 200 (as ``/api/v2``)."""
    pages = [
        "/mlstack/monitoring/",
        "/mlstack/monitoring/api/credit_default",
        f"/mlstack/monitoring/reports/credit_default/{REPORT_DAY}/monitor.html",
        f"/mlstack/monitoring/rollouts/credit_default/{ROLLOUT_ID}/0-next_stage.html",
        "/mlstack/catalog/credit_default",
    ]
    for page in pages:
        assert _status(f"{api_server}{page}") == 401, page
        assert _status(f"{api_server}{page}", token="not-a-jwt") == 403, page
    token = _token(api_server)
    for page in pages:
        # the first page a worker renders imports MLflow and PyIceberg: allow for it
        assert _status(f"{api_server}{page}", token=token, timeout=120) == 200, page
    assert _status(f"{api_server}/api/v2/dags") == 401  # as Airflow's own API
    assert "without Airflow authentication" not in (ROOT / "README.md").read_text()


def _log_in(browser, base: str) -> None:
    """Open the monitoring page, get sent to Airflow's login page, sign in there, come back."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{base}/mlstack/monitoring/")
    wait = WebDriverWait(browser, 60)
    wait.until(ec.presence_of_element_located((By.NAME, "username")))
    assert "/auth/login" in browser.current_url and "next=" in browser.current_url
    assert browser.title != "mlstack monitoring"
    browser.find_element(By.NAME, "username").send_keys(USER)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(ec.title_is("mlstack monitoring"))
    assert browser.current_url == f"{base}/mlstack/monitoring/"


def _check_rollout(browser) -> None:
    """The rollout's timeline and decisions render; a decision's report opens sandboxed."""
    from selenium.webdriver.common.by import By

    rollout = browser.find_element(By.CSS_SELECTOR, "#credit_default div.rollout")
    timeline = rollout.find_element(By.CSS_SELECTOR, "svg[aria-label='rollout timeline']")
    assert timeline.is_displayed() and timeline.size["width"] > 300
    assert len(timeline.find_elements(By.CSS_SELECTOR, "rect.stage")) == 2
    assert timeline.find_element(By.CSS_SELECTOR, "circle.decision.next_stage").is_displayed()
    assert "champion 90% / challenger 10%" in rollout.text and "no harm shown" in rollout.text
    rollout.find_element(By.CSS_SELECTOR, "a.rollout-report").click()
    assert browser.find_element(By.ID, "rollout").text == "rollout decision"
    assert browser.current_url.endswith(f"/rollouts/credit_default/{ROLLOUT_ID}/0-next_stage.html")
    browser.back()


def test_monitoring_page_in_chromium_after_airflow_login(
    api_server: str, browser, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    _check_refusals(api_server)
    _log_in(browser, api_server)
    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert "credit_default" in headings and "diabetes" in headings

    section = browser.find_element(By.ID, "credit_default")
    charts = section.find_elements(By.TAG_NAME, "svg")
    assert {c.get_attribute("aria-label") for c in charts} >= {"drift_share"}
    drift = next(c for c in charts if c.get_attribute("aria-label") == "drift_share")
    assert drift.is_displayed() and drift.size["width"] > 300 and drift.size["height"] > 100
    markers = drift.find_elements(By.CSS_SELECTOR, "circle.alert")
    assert len(markers) == ALERT_DAYS
    assert all(m.is_displayed() and m.size["width"] > 0 for m in markers)
    # the markers sit on the last days: right of the chart's middle
    middle = drift.location["x"] + drift.size["width"] / 2
    assert all(m.location["x"] > middle for m in markers)
    # the threshold (0.5) is drawn: below the alert markers (0.65), above the first days
    limit = drift.find_element(By.CSS_SELECTOR, "polyline.threshold")
    assert limit.is_displayed()
    top = limit.location["y"]
    assert all(m.location["y"] < top for m in markers)
    assert "threshold 0.5" in section.text
    alerts = [li.text for li in section.find_elements(By.CSS_SELECTOR, "li.critical")]
    assert len(alerts) == ALERT_DAYS and all("drift share over 0.5" in a for a in alerts)
    # diabetes has no metrics yet: its section says so instead of drawing empty charts
    assert "no data yet" in browser.find_element(By.ID, "diabetes").text

    mlflow = section.find_element(By.CSS_SELECTOR, "a.mlflow").get_attribute("href")
    assert mlflow == f"{MLFLOW_UI}/#/models/credit_default"
    shot = tmp_path / "monitoring.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")  # noqa: T201 — where to look when it fails

    # the latest report, streamed from the lake through the plugin with the same login
    section.find_element(By.CSS_SELECTOR, "a.report").click()
    assert browser.find_element(By.ID, "evidently").text == "drift report"
    assert browser.current_url.endswith(f"/reports/credit_default/{REPORT_DAY}/monitor.html")
    browser.back()
    _check_rollout(browser)
    browser.find_element(By.CSS_SELECTOR, "#credit_default a.catalog").click()
    assert browser.title == "credit_default catalog"
    assert "No dataset recorded yet" in browser.find_element(By.TAG_NAME, "body").text
