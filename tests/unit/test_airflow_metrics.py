"""Airflow's metrics for Prometheus (mlstack.airflow_metrics): Airflow's own OpenTelemetry
logger exports to the receiver, as two short-lived processes would; the receiver adds their
deltas up and serves Prometheus' text format."""

from __future__ import annotations

import atexit
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import pytest
from mlstack.airflow_metrics import BUCKETS_MS, make_server, prometheus_name
from prometheus_client.parser import text_string_to_metric_families


@pytest.fixture
def receiver() -> Iterator[str]:
    server = make_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _scrape(url: str) -> dict[str, list]:
    """name -> samples of /metrics, parsed by prometheus_client's own parser."""
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    return {fam.name: fam.samples for fam in text_string_to_metric_families(text)}


def _one_task_process(delta: bool, seconds: float) -> None:
    """What a task process of Airflow sends: a failure, a run's duration, a gauge; its
    meter provider exports once on shutdown (as at a process' exit)."""
    from airflow._shared.observability.metrics.otel_logger import (
        flush_otel_metrics,
        get_otel_logger,
    )
    from opentelemetry import metrics

    logger = get_otel_logger(prefix="airflow")
    logger.incr("ti_failures", tags={"dag_id": "credit_default__train", "task_id": "fit"})
    logger.timing(
        "dagrun.duration.failed",
        dt=timedelta(seconds=seconds),
        tags={"dag_id": "credit_default__train"},
    )
    logger.gauge("dag_processing.import_errors", 3)
    provider = metrics.get_meter_provider()
    provider.force_flush()  # type: ignore[attr-defined]
    provider.shutdown()  # type: ignore[attr-defined]
    # get_otel_logger registers a flush at exit; this provider is shut down, and at the test
    # worker's exit its warning would go to a stream pytest has closed ("Logging error")
    atexit.unregister(flush_otel_metrics)


def test_deltas_of_two_processes_add_up_to_prometheus_series(receiver, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", f"{receiver}/v1/metrics")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    _one_task_process(True, 42)
    _one_task_process(True, 700)

    families = _scrape(receiver)
    failures = families["airflow_ti_failures"]
    assert [(s.name, s.labels, s.value) for s in failures if s.name.endswith("_total")] == [
        ("airflow_ti_failures_total", {"dag_id": "credit_default__train", "task_id": "fit"}, 2)
    ]
    assert families["airflow_dag_processing_import_errors"][0].value == 3
    duration = {
        (s.name, s.labels.get("le")): s.value
        for s in families["airflow_dagrun_duration_failed_ms"]
        if s.labels.get("dag_id") == "credit_default__train"
    }
    assert duration[("airflow_dagrun_duration_failed_ms_count", None)] == 2
    assert duration[("airflow_dagrun_duration_failed_ms_sum", None)] == pytest.approx(742_000)
    # 42 s lands at or under the 60 s bucket, 700 s under 30 min: never below its value
    assert duration[("airflow_dagrun_duration_failed_ms_bucket", "30000")] == 0
    assert duration[("airflow_dagrun_duration_failed_ms_bucket", "60000")] == 1
    assert duration[("airflow_dagrun_duration_failed_ms_bucket", "600000")] == 1
    assert duration[("airflow_dagrun_duration_failed_ms_bucket", "1800000")] == 2
    assert len([k for k in duration if k[0].endswith("_bucket")]) == len(BUCKETS_MS) + 1


def test_the_receiver_refuses_what_is_not_otlp_and_answers_health(receiver) -> None:
    bad = urllib.request.Request(f"{receiver}/v1/metrics", data=b"\xff\x00 not protobuf")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bad, timeout=10)
    assert refused.value.code == 400
    assert urllib.request.urlopen(f"{receiver}/health", timeout=10).read() == b"ok\n"


def test_otel_names_become_prometheus_names() -> None:
    assert prometheus_name("airflow.dagrun.duration.failed") == "airflow_dagrun_duration_failed"
    assert prometheus_name("pool.open-slots") == "pool_open_slots"
    assert prometheus_name("2xx") == "_2xx"
