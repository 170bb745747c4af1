"""/metrics over several worker processes with prometheus_client's multiprocess mode: real
worker processes write to a shared folder and a scrape answers the sum (counters and
histograms of every worker that ever ran, gauges of the live ones; a worker killed without
stopping is marked dead by the scrape)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mlstack.gateway import metrics as m
from mlstack.gateway.api.request_metrics import route_of
from mlstack.gateway.metrics import Metrics, render_folder, sample

WORKER = """
import json, os, sys
from mlstack.gateway.metrics import Metrics
preds, ms, gauges, end = json.loads(sys.argv[1])
w = Metrics(gauges=lambda: gauges)
for _ in range(preds):
    w.count_predictions("u", "champion", 1)
    w.observe_ms(ms, "u")
w.count_refusal("scope")
w.publish()
if end == "killed":  # like a SIGKILL: no stop(), its live gauges stay behind
    os._exit(0)
print("ready", flush=True)
sys.stdin.readline()
w.stop()
"""


def _worker(folder: Path, preds: int, ms: float, gauges: dict[str, float], end: str) -> Any:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    args = [sys.executable, "-c", WORKER, json.dumps([preds, ms, gauges, end])]
    proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if end == "killed":
        assert proc.wait(60) == 0
    else:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _stop(proc: Any) -> None:
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.wait(60) == 0


def _value(text: bytes, name: str, **labels: str) -> float:
    value = sample(text, name, **labels)
    assert value is not None, f"{name}{labels} not in:\n{text.decode()}"
    return value


def test_any_worker_answers_the_sum_and_dead_workers_lose_their_gauges(tmp_path: Path) -> None:
    a = _worker(tmp_path, 5, 3.0, {"log_queue_rows": 3.0, "database_up": 1.0}, "wait")
    b = _worker(tmp_path, 7, 30.0, {"log_queue_rows": 4.0, "database_up": 0.0}, "wait")
    try:
        _worker(tmp_path, 2, 300.0, {"log_queue_rows": 99.0, "database_up": 0.0}, "killed")
        text = render_folder(tmp_path)
        g = "mlstack_gateway_"
        assert _value(text, g + "predictions_total", usecase="u", variant="champion") == 14
        assert _value(text, g + "latency_ms_count", usecase="u") == 14
        assert _value(text, g + "latency_ms_bucket", usecase="u", le="5.0") == 5
        assert _value(text, g + "latency_ms_sum", usecase="u") == 5 * 3 + 7 * 30 + 2 * 300
        assert _value(text, g + "refused_total", reason="scope") == 3
        assert _value(text, g + "refused_total", reason="missing") == 0  # there from the start
        assert _value(text, g + "log_queue_rows") == 7  # live workers' gauges add up ...
        assert _value(text, g + "database_up") == 0  # ... but "up" needs every live one up
        assert _value(text, g + "workers") == 2  # the killed one was marked dead
        _stop(b)  # a worker that stops takes its gauges, keeps its counts
        text = render_folder(tmp_path)
        assert _value(text, g + "predictions_total", usecase="u", variant="champion") == 14
        assert _value(text, g + "log_queue_rows") == 3
        assert _value(text, g + "database_up") == 1
        assert _value(text, g + "workers") == 1
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                _stop(proc)


def test_a_lone_process_counts_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    alone = Metrics(gauges=lambda: {"log_spool_bytes": 12.0})
    alone.count_feedback("u", 2)
    alone.count_request("/v1/{usecase}/predict", 200)
    assert alone.folder is None
    assert alone.value("mlstack_gateway_feedback_total", usecase="u") == 2
    assert (
        alone.value("mlstack_gateway_requests_total", route="/v1/{usecase}/predict", status="200")
        == 1
    )
    assert alone.value("mlstack_gateway_log_spool_bytes") == 12
    assert alone.value("mlstack_gateway_workers") == 1


def test_the_folder_is_ignored_when_set_after_the_client_was_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # this process: too late
    assert m.multiprocess_dir() is None
    assert Metrics().folder is None


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v1/credit/predict", "/v1/{usecase}/predict"),
        ("/v1/credit/feedback/", "/v1/{usecase}/feedback"),
        ("/v1/credit", "/v1/{usecase}"),
        ("/v1", "/v1"),
        ("/metrics", "/metrics"),
        ("/v1/credit/predict/extra", "other"),
        ("/v1/credit/anything", "other"),
        ("/wp-admin", "other"),
    ],
)
def test_routes_are_counted_by_template_never_by_raw_path(path: str, route: str) -> None:
    assert route_of(path) == route
