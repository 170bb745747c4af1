"""/metrics over several worker processes: each publishes to a shared folder and any of
them answers the sum (counters and histograms of every worker, gauges of the live ones)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from mlstack.gateway.metrics import Metrics


def _value(text: str, series: str) -> float:
    m = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert m, f"{series} not in:\n{text}"
    return float(m.group(1))


def test_any_worker_answers_the_sum_of_all_workers(tmp_path: Path) -> None:
    a = Metrics(tmp_path, gauges=lambda: {"log_queue_rows": 3.0, "database_up": 1.0}, pid=101)
    b = Metrics(tmp_path, gauges=lambda: {"log_queue_rows": 4.0, "database_up": 0.0}, pid=102)
    for _ in range(5):
        a.inc("requests_total", usecase="u", variant="champion")
        a.observe_ms(3.0, usecase="u")
    for _ in range(7):
        b.inc("requests_total", usecase="u", variant="champion")
        b.observe_ms(30.0, usecase="u")
    b.publish()
    a.publish()

    for text in (a.render(), b.render()):  # whichever worker the scrape reaches
        assert _value(text, 'mlstack_gateway_requests_total{usecase="u",variant="champion"}') == 12
        assert _value(text, 'mlstack_gateway_latency_ms_count{usecase="u"}') == 12
        assert _value(text, 'mlstack_gateway_latency_ms_bucket{usecase="u",le="5"}') == 5
        assert _value(text, 'mlstack_gateway_latency_ms_sum{usecase="u"}') == 5 * 3 + 7 * 30
        assert _value(text, "mlstack_gateway_log_queue_rows") == 7  # gauges add up ...
        assert _value(text, "mlstack_gateway_database_up") == 0  # ... but "up" needs all up
        assert _value(text, "mlstack_gateway_workers") == 2


def test_a_gone_worker_keeps_its_counts_but_not_its_gauges(tmp_path: Path) -> None:
    live = Metrics(tmp_path, gauges=lambda: {"log_queue_rows": 1.0}, pid=201)
    live.inc("requests_total", usecase="u")
    gone = tmp_path / "200.json"  # a worker uvicorn replaced a minute ago
    gone.write_text(
        json.dumps(
            {
                "counters": [["requests_total", [["usecase", "u"]], 40]],
                "hist": [],
                "gauges": {"log_queue_rows": 99.0},
                "at": time.time() - 60,
            }
        )
    )
    text = live.render()
    assert _value(text, 'mlstack_gateway_requests_total{usecase="u"}') == 41  # never goes down
    assert _value(text, "mlstack_gateway_log_queue_rows") == 1
    assert _value(text, "mlstack_gateway_workers") == 1


def test_publisher_thread_writes_and_a_lone_process_needs_no_folder(tmp_path: Path) -> None:
    m = Metrics(tmp_path / "shared", publish_interval_s=0.05)
    m.start()
    m.inc("feedback_total", 2, usecase="u")
    deadline = time.monotonic() + 5
    path = tmp_path / "shared" / f"{os.getpid()}.json"
    while time.monotonic() < deadline and not (
        path.exists() and json.loads(path.read_text())["counters"]
    ):
        time.sleep(0.05)
    m.stop()
    assert json.loads(path.read_text())["counters"] == [["feedback_total", [["usecase", "u"]], 2]]
    alone = Metrics()
    alone.inc("feedback_total", usecase="u")
    assert _value(alone.render(), 'mlstack_gateway_feedback_total{usecase="u"}') == 1
