"""The monitoring page in a real browser, served by a real ``airflow api-server``.

The api-server runs as a subprocess on the session's migrated Airflow DB (SQLite) with the
repo's ``plugins/`` folder, so the page goes through Airflow's own plugin loading and
mounting; mlstack's database is an embedded home seeded with a metric series and alerts.
Debian's Chromium (``/usr/bin/chromium`` + ``/usr/bin/chromedriver``, driven by Selenium;
no driver is ever downloaded) loads the pages, checks what a user sees — the summary first,
charts drawn by the vendored uPlot with hover values and drag-to-zoom, Airflow's light and
dark colours — and saves a full-page screenshot of each page, light and dark, under
``data/screenshots/`` (or ``$MLSTACK_SCREENSHOTS``); the paths are printed.

The pages sit behind Airflow's own login (Airflow's simple auth manager here, with a viewer
whose password the test writes): without a token they answer 401 and send a browser to
Airflow's login page; the browser logs in through that page and lands back on monitoring.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from support import ROOT, free_port, run_airflow_api_server

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DAYS, ALERT_DAYS = 14, 4
USER, PASSWORD = "viewer", "monitoring-test-password"
MLFLOW_UI = "http://mlflow.example:5000"
REPORT_DAY = "2026-02-14"
ROLLOUT_ID = "0b7c3f9e-1d2a-4c5b-8e6f-a1b2c3d4e5f6"
ROLLOUT_REPORT = f"reports/rollouts/credit_default/{ROLLOUT_ID}/0-next_stage"
SHOTS = Path(os.environ.get("MLSTACK_SCREENSHOTS", ROOT / "data" / "screenshots"))
FEATURES = ("income", "age", "debt_ratio")
CATALOG_VERSIONS = 6


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


def _seed(settings: object, spec: object, tmp: Path) -> None:
    """A fortnight of drift_share (the last days over threshold), the watched metric (the
    challenger's too, on the last days), feature drift, policy decisions, a rollout, a
    catalogued dataset and the model's aliases."""
    from mlstack import lake, store
    from mlstack.monitoring.bars import watched_metric

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
            "variant": "champion",  # every row names every column: one executemany
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
        rows.append(
            {**common, "metric": "label_coverage", "value": min(1.0, 0.1 * i), "threshold": None}
            | {"alert": False}
        )
        if i >= DAYS - 5:
            rows.append(
                {**common, "metric": watched, "value": 0.8 - 0.005 * (DAYS - i), "alert": False}
                | {"threshold": None, "variant": "challenger", "model_version": 2}
            )
        for k, feature in enumerate(FEATURES):
            score = 0.02 + 0.01 * k + (0.2 if alert and k == 0 else 0.0)
            rows.append(
                {**common, "metric": "drift_score", "feature": feature, "value": score}
                | {"threshold": 0.1, "alert": score > 0.1}
            )
    decisions = [
        {"usecase": "credit_default", "model_version": 1, "run_date": first + timedelta(days=i)}
        | {"decision": decision, "reason": reason, "evidence": {}, "created_at": now}
        for i, decision, reason in [
            (DAYS - 2, "alert", "estimated value below the bar; waiting for labels"),
            (DAYS - 1, "blocked", "too few fresh labels (120 < 500)"),
        ]
    ]
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
        conn.execute(store.retrain_requests.insert(), decisions)
    report = b"<html><body><h1 id='evidently'>drift report</h1></body></html>"
    lake.write_bytes(f"reports/credit_default/{REPORT_DAY}/monitor.html", report, settings)  # type: ignore[arg-type]
    _seed_rollout(settings, now)
    _seed_catalog(settings, now)
    _seed_models(settings, tmp)


def _seed_catalog(settings: object, now: datetime) -> None:
    """The use case's dataset: daily versions from ingest, two of them trained on."""
    from mlstack import store

    name = "credit_default"
    dataset = {"name": name, "usecase": name, "kind": "features", "owner": "risk-team"}
    dataset |= {"table_identifier": f"mlstack.{name}", "location": "file:///lake/x"}
    dataset |= {"description": "", "tags": [], "created_at": now, "updated_at": now}
    columns = [{"name": c, "type": "double"} for c in FEATURES]
    versions = [
        {"dataset": name, "version": v, "snapshot_id": 7000 + v, "operation": "append"}
        | {"partition": f"day=2026-02-{v:02d}", "total_rows": 500 * v, "partition_rows": 500}
        | {"rejected_rows": 7 if v % 3 == 0 else 0, "schema": columns, "stats": {}}
        | {"schema_changes": {"initial": v == 1, "added": [], "removed": [], "retyped": []}}
        | {"producer": "ingest", "snapshot_at": now, "created_at": now}
        for v in range(1, CATALOG_VERSIONS + 1)
    ]
    edges = [("job:ingest", "produced", f"dataset:{name}@v{v}") for v in range(1, 7)]
    for v, run, model in [(3, "run:3f2a", 1), (6, "run:9c1d", 2)]:
        edges += [(f"dataset:{name}@v{v}", "trained", run)]
        edges += [(run, "registered_as", f"model:{name}/v{model}")]
    with store.engine(settings).begin() as conn:  # type: ignore[arg-type]
        conn.execute(store.datasets.insert(), [dataset])
        conn.execute(store.versions.insert(), versions)
        conn.execute(
            store.lineage.insert(),
            [
                {"source": s, "relation": r, "target": t, "details": {}, "created_at": now}
                for s, r, t in edges
            ],
        )


def _seed_models(settings: object, tmp: Path) -> None:
    """Two registered versions of the model: v1 the champion, v2 the challenger."""
    from mlstack import registry

    client = registry.client(settings)  # type: ignore[arg-type]
    client.create_registered_model("credit_default")
    for version in (1, 2):
        source = tmp / f"model-{version}"
        source.mkdir()
        client.create_model_version("credit_default", source=str(source))
    registry.set_alias("credit_default", "champion", 1, settings)  # type: ignore[arg-type]
    registry.set_alias("credit_default", "challenger", 2, settings)  # type: ignore[arg-type]


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
    _seed(embedded_settings, credit_spec, tmp_path)
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
    with run_airflow_api_server(env, port, tmp_path / "api-server.log", timeout=180) as base:
        yield base


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
        "/mlstack/monitoring/credit_default",
        "/mlstack/maturity/credit_default",
    ]
    for page in pages:
        assert _status(f"{api_server}{page}") == 401, page
        assert _status(f"{api_server}{page}", token="not-a-jwt") == 403, page
    token = _token(api_server)
    for page in pages:
        # the first page a worker renders imports MLflow and PyIceberg: allow for it
        assert _status(f"{api_server}{page}", token=token, timeout=120) == 200, page
    assert _status(f"{api_server}/api/v2/dags") == 401  # as Airflow's own API
    plugins = urllib.request.Request(
        f"{api_server}/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(plugins, timeout=30) as resp:
        mine = next(p for p in json.loads(resp.read())["plugins"] if p["name"] == "mlstack")
    tabs = sorted((v["destination"], v["href"]) for v in mine["external_views"])
    assert tabs == [
        ("dag", "/mlstack/monitoring/dag/{DAG_ID}"),
        ("nav", "/mlstack/maturity/"),
        ("nav", "/mlstack/monitoring/"),
    ]
    assert _status(f"{api_server}/mlstack/static/vendor/uPlot.iife.min.js") == 200  # no data
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


def _screenshot(browser, name: str) -> Path:
    """A full-page PNG of what the browser shows, under SHOTS; its path is printed."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script(
        "return Math.ceil(document.querySelector('main').getBoundingClientRect().bottom"
        " + window.scrollY + 24)"
    )
    width = browser.execute_script("return document.documentElement.clientWidth")
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        },
    )
    path = SHOTS / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.stat().st_size > 10_000
    print(f"screenshot: {path}")  # noqa: T201 — where to look
    return path


def _colour_mode(browser, mode: str) -> None:
    """Choose Airflow's colour mode as its UI stores it, and reload the page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.execute_script("localStorage.setItem('theme', arguments[0])", mode)
    browser.refresh()
    WebDriverWait(browser, 30).until(ec.presence_of_element_located((By.TAG_NAME, "main")))
    classes = browser.execute_script("return document.documentElement.className")
    assert mode in classes.split()
    background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(255, 255, 255)") == (mode == "light"), background


def _chart(browser, chart_id: str) -> dict:
    """What uPlot drew for a chart: series labels, scale, alert markers' and the threshold's
    positions (CSS pixels in the plotting area)."""
    return browser.execute_script(
        """
        const u = window.mlstackCharts[arguments[0]];
        const label = (name) => u.series.findIndex((s) => s.label === name);
        const alert = label("alert"), threshold = label("threshold");
        const marks = u.data[0].map((x, k) => [x, u.data[alert][k]]).filter((p) => p[1] != null);
        return {
          labels: u.series.map((s) => s.label),
          min: u.scales.x.min, max: u.scales.x.max, first: u.data[0][0], last: u.data[0].at(-1),
          width: u.over.getBoundingClientRect().width,
          marks: marks.map(([x, y]) => [u.valToPos(x, "x"), u.valToPos(y, "y")]),
          threshold: threshold < 0 ? null : u.valToPos(u.data[threshold].at(-1), "y"),
        };
        """,
        chart_id,
    )


def _check_charts(browser) -> None:
    """The drift chart: drawn on a canvas, alert days marked right of the middle above the
    threshold, values in the legend on hover, a drag zooms every chart of the use case into
    the dragged days, a double-click zooms back out."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    figure = browser.find_element(
        By.CSS_SELECTOR, "#credit_default figure[aria-label='drift_share']"
    )
    canvas = figure.find_element(By.TAG_NAME, "canvas")
    assert canvas.is_displayed() and canvas.size["width"] > 300 and canvas.size["height"] > 100
    assert figure.get_attribute("data-alert-days") == str(ALERT_DAYS)
    drawn = _chart(browser, "credit_default-drift_share")
    assert drawn["labels"] == ["day", "champion", "threshold", "alert"]
    assert len(drawn["marks"]) == ALERT_DAYS
    assert all(x > drawn["width"] / 2 for x, _ in drawn["marks"])  # the last days
    assert all(y < drawn["threshold"] for _, y in drawn["marks"])  # 0.65 over the 0.5 bar
    assert "threshold 0.5" in figure.text

    over = figure.find_element(By.CSS_SELECTOR, ".u-over")
    width = over.size["width"]
    ActionChains(browser).move_to_element_with_offset(over, int(width * 0.45), 0).perform()
    legend = {
        s.find_element(By.CSS_SELECTOR, ".u-label").text: s.find_element(
            By.CSS_SELECTOR, ".u-value"
        ).text
        for s in figure.find_elements(By.CSS_SELECTOR, ".u-legend .u-series")
    }
    assert legend["day"].startswith("2026-02-") and legend["champion"] == "0.65", legend
    assert legend["alert"] == "0.65" and legend["threshold"] == "0.5"

    watched = next(
        k
        for k in browser.execute_script("return Object.keys(window.mlstackCharts)")
        if k.startswith("credit_default-estimated_")
    )
    assert "challenger" in _chart(browser, watched)["labels"]
    actions = ActionChains(browser).move_to_element_with_offset(over, int(-width * 0.1), 0)
    actions.click_and_hold().move_by_offset(int(width * 0.4), 0).release().perform()
    zoomed, other = _chart(browser, "credit_default-drift_share"), _chart(browser, watched)
    assert drawn["first"] < zoomed["min"] < zoomed["max"] < drawn["last"], zoomed
    assert (other["min"], other["max"]) == (zoomed["min"], zoomed["max"])  # zoomed together
    ActionChains(browser).double_click(over).perform()
    reset = _chart(browser, "credit_default-drift_share")
    assert (reset["min"], reset["max"]) == (drawn["first"], drawn["last"])


def _check_rollout(browser) -> None:
    """The rollout's timeline and decisions render; a decision's report opens sandboxed."""
    from selenium.webdriver.common.by import By

    rollout = browser.find_element(By.CSS_SELECTOR, "#credit_default div.rollout")
    timeline = rollout.find_element(By.CSS_SELECTOR, "ol[aria-label='rollout timeline']")
    assert timeline.is_displayed() and timeline.size["width"] > 300
    stages = timeline.find_elements(By.CSS_SELECTOR, "li.stage")
    assert [s.get_attribute("class") for s in stages] == ["stage passed", "stage current"]
    dot = timeline.find_element(By.CSS_SELECTOR, "a.decision.next_stage")
    assert dot.is_displayed() and dot.size["width"] > 5
    assert "champion 90% / challenger 10%" in rollout.text and "no harm shown" in rollout.text
    _click(browser, rollout.find_element(By.CSS_SELECTOR, "a.rollout-report"))
    _wait(browser, "#rollout")  # a click does not wait for the next page to load
    assert browser.find_element(By.ID, "rollout").text == "rollout decision"
    assert browser.current_url.endswith(f"/rollouts/credit_default/{ROLLOUT_ID}/0-next_stage.html")
    browser.back()
    _wait(browser, "table.summary")


def _click(browser, link) -> None:
    """Click a link as a reader does: scrolled into the middle of the window first. (With
    Debian's Chromium 156, the driver's own scrolling left the report link where its click
    did not navigate: the page stayed where it was; seen 2026-12-02.)"""
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    link.click()


def _wait(browser, css: str) -> None:
    """Wait for an element of the page the browser is (back) on."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def _check_catalog(browser) -> None:
    """The catalog: rows per version as bars, no false "schema changed", the lineage per
    version with only the newest open."""
    from selenium.webdriver.common.by import By

    assert browser.title == "credit_default catalog"
    section = browser.find_element(By.ID, "credit_default")
    assert len(section.find_elements(By.CSS_SELECTOR, "figure.bars .bar")) == CATALOG_VERSIONS + 2
    assert not section.find_elements(By.CSS_SELECTOR, ".schema-changed")
    groups = section.find_elements(By.CSS_SELECTOR, "details.lineage")
    assert len(groups) == CATALOG_VERSIONS
    assert [g.get_attribute("open") is not None for g in groups] == [True] + [False] * 5
    assert "model:credit_default/v2" in groups[0].text
    assert not groups[3].find_element(By.TAG_NAME, "ul").is_displayed()  # v3: collapsed
    groups[3].find_element(By.TAG_NAME, "summary").click()
    assert "run:3f2a -registered_as-> model:credit_default/v1" in groups[3].text


def test_monitoring_pages_in_chromium_after_airflow_login(api_server: str, browser) -> None:
    from selenium.webdriver.common.by import By

    _check_refusals(api_server)
    _log_in(browser, api_server)
    _colour_mode(browser, "light")
    summary = browser.find_element(By.CSS_SELECTOR, "table.summary")
    row = summary.find_element(By.CSS_SELECTOR, "tr[data-usecase='credit_default']")
    cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
    assert cells[:4] == ["credit_default", "rolling out", "v1", "v2"], cells
    assert "drift share over 0.5" in cells[4] and "blocked" in cells[5]
    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert "credit_default" in headings and "diabetes" in headings
    assert summary.location["y"] < browser.find_element(By.ID, "credit_default").location["y"]

    section = browser.find_element(By.ID, "credit_default")
    _check_charts(browser)
    alerts = [li.text for li in section.find_elements(By.CSS_SELECTOR, "ul.alerts li.critical")]
    assert len(alerts) == ALERT_DAYS and all("drift share over 0.5" in a for a in alerts)
    drift = section.find_elements(By.CSS_SELECTOR, ".charts.small figure canvas")
    assert len(drift) == len(FEATURES)
    # diabetes has no metrics yet: its section says so instead of drawing empty charts
    assert "no data yet" in browser.find_element(By.ID, "diabetes").text
    mlflow = section.find_element(By.CSS_SELECTOR, "a.mlflow").get_attribute("href")
    assert mlflow == f"{MLFLOW_UI}/#/models/credit_default"
    _screenshot(browser, "monitoring-light")

    # the latest report, streamed from the lake through the plugin with the same login
    _click(browser, section.find_element(By.CSS_SELECTOR, "a.report"))
    _wait(browser, "#evidently")  # a click does not wait for the next page to load
    assert browser.find_element(By.ID, "evidently").text == "drift report"
    assert browser.current_url.endswith(f"/reports/credit_default/{REPORT_DAY}/monitor.html")
    browser.back()
    _wait(browser, "#credit_default div.rollout")
    _check_rollout(browser)

    summary = browser.find_element(By.CSS_SELECTOR, "table.summary")
    summary.find_element(By.LINK_TEXT, "credit_default").click()
    _wait(browser, "#credit_default figure canvas")
    assert browser.title == "credit_default monitoring"
    assert not browser.find_elements(By.ID, "diabetes")
    assert browser.find_elements(By.CSS_SELECTOR, "#credit_default figure canvas")
    _screenshot(browser, "usecase-light")
    _colour_mode(browser, "dark")
    assert browser.find_elements(By.CSS_SELECTOR, "#credit_default figure canvas")
    browser.get(f"{api_server}/mlstack/monitoring/dag/credit_default__monitor")  # the DAG tab
    _wait(browser, "#credit_default figure canvas")
    assert browser.current_url == f"{api_server}/mlstack/monitoring/credit_default"
    _screenshot(browser, "usecase-dark")
    browser.get(f"{api_server}/mlstack/monitoring/")
    _wait(browser, "#credit_default figure canvas")
    _screenshot(browser, "monitoring-dark")

    browser.find_element(By.CSS_SELECTOR, "#credit_default a.catalog").click()
    _wait(browser, "details.lineage")
    _check_catalog(browser)
    _screenshot(browser, "catalog-dark")
    _colour_mode(browser, "light")
    _screenshot(browser, "catalog-light")
    browser.get(f"{api_server}/mlstack/catalog/diabetes")
    assert "No dataset recorded yet" in browser.find_element(By.TAG_NAME, "body").text
