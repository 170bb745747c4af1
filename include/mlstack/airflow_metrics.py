"""Airflow's metrics for Prometheus: an OTLP/HTTP receiver that Prometheus scrapes.

Airflow 3 sends its metrics with OpenTelemetry (``[metrics] otel_on``; the OTLP exporter is
in the lock already). Its task processes are short-lived and many, so the stack has them
export *deltas* (``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta``): this
receiver adds them up into cumulative series, which is what a Prometheus counter is
(Prometheus' own OTLP receiver takes cumulative series only, where every short task process
would start its own count). The compose service ``metrics-receiver`` runs it
(``mlstack airflow-metrics``; observability profile):

* ``POST /v1/metrics`` — OTLP/HTTP protobuf (gzip or not), from every Airflow component;
* ``GET /metrics`` — the Prometheus text format, through ``prometheus_client``;
* ``GET /health`` — 200 while it runs.

Names: ``airflow.dagrun.duration.failed`` becomes ``airflow_dagrun_duration_failed``;
attributes become labels. Sums are counters (``_total``) when monotonic, else gauges;
Airflow's timings (exponential histograms of milliseconds) become histograms on
:data:`BUCKETS_MS` (``_ms_bucket``, ``_ms_sum``, ``_ms_count``): an observation lands in the
first fixed bucket at or above its exponential bucket's upper bound, so a bucket's count may
include observations up to one exponential bucket (a few per cent) above its bound.
"""

from __future__ import annotations

import gzip
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

#: Histogram buckets (milliseconds): a task of 100 ms to a DAG run of a day.
BUCKETS_MS = (
    100.0,
    500.0,
    1_000.0,
    5_000.0,
    10_000.0,
    30_000.0,
    60_000.0,
    120_000.0,
    300_000.0,
    600_000.0,
    1_800_000.0,
    3_600_000.0,
    7_200_000.0,
    21_600_000.0,
    86_400_000.0,
)
DEFAULT_PORT = 9464
_INVALID = re.compile(r"[^a-zA-Z0-9_]")
Labels = tuple[tuple[str, str], ...]


def prometheus_name(name: str) -> str:
    """An OTel metric or attribute name as a Prometheus name (``.``/``-`` -> ``_``)."""
    clean = _INVALID.sub("_", name)
    return f"_{clean}" if clean[:1].isdigit() else clean


def _labels(attributes: Any) -> Labels:
    """OTLP key-values as sorted Prometheus label pairs (every value as its text)."""
    out = []
    for kv in attributes:
        kind = kv.value.WhichOneof("value")
        value = getattr(kv.value, kind) if kind else ""
        out.append((prometheus_name(kv.key), str(value)))
    return tuple(sorted(out))


def _number(point: Any) -> float:
    return float(point.as_double if point.WhichOneof("value") == "as_double" else point.as_int)


def _exponential_upper_bounds(point: Any) -> Iterator[tuple[float, int]]:
    """(upper bound, count) of each non-empty positive bucket of an exponential histogram,
    and the zero bucket as (0, count)."""
    if point.zero_count:
        yield 0.0, int(point.zero_count)
    base = 2.0 ** (2.0**-point.scale)
    for i, count in enumerate(point.positive.bucket_counts):
        if count:
            yield base ** (point.positive.offset + i + 1), int(count)


@dataclass(eq=False)  # hashable by identity: prometheus_client keeps collectors in a dict
class Totals:
    """The cumulative series built from the deltas received, by Prometheus name and labels."""

    counters: dict[str, dict[Labels, float]] = field(default_factory=dict)
    gauges: dict[str, dict[Labels, float]] = field(default_factory=dict)
    #: name -> labels -> [count per bucket of BUCKETS_MS and +Inf, sum]
    histograms: dict[str, dict[Labels, list[float]]] = field(default_factory=dict)
    help: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_request(self, body: bytes) -> int:
        """Add one OTLP ``ExportMetricsServiceRequest``; returns the data points taken."""
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
            ExportMetricsServiceRequest,
        )

        request = ExportMetricsServiceRequest()
        request.ParseFromString(body)
        taken = 0
        with self.lock:
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        taken += self._add_metric(metric)
        return taken

    def _add_metric(self, metric: Any) -> int:
        name = prometheus_name(metric.name)
        self.help.setdefault(name, metric.description or metric.name)
        kind = metric.WhichOneof("data")
        if kind == "sum":
            return self._add_sum(name, metric.sum)
        if kind == "gauge":
            for p in metric.gauge.data_points:
                self.gauges.setdefault(name, {})[_labels(p.attributes)] = _number(p)
            return len(metric.gauge.data_points)
        if kind == "exponential_histogram":
            return self._add_histogram(name, metric.exponential_histogram)
        if kind == "histogram":
            return self._add_explicit_histogram(name, metric.histogram)
        log.debug("airflow-metrics: %s (%s) is not kept", metric.name, kind)
        return 0

    def _add_sum(self, name: str, data: Any) -> int:
        delta = data.aggregation_temporality == 1  # AGGREGATION_TEMPORALITY_DELTA
        series = self.counters if data.is_monotonic else self.gauges
        values = series.setdefault(name, {})
        for p in data.data_points:
            key = _labels(p.attributes)
            if delta:
                values[key] = values.get(key, 0.0) + _number(p)
            else:  # cumulative: the sender keeps the count (one long-lived process)
                values[key] = _number(p)
        return len(data.data_points)

    def _add_histogram(self, name: str, data: Any) -> int:
        for p in data.data_points:
            counts = self._histogram(name, p, data.aggregation_temporality)
            for upper, count in _exponential_upper_bounds(p):
                counts[_bucket_index(upper)] += count
            # an observation below zero has no bucket of ours; it counts in +Inf only
            negative = sum(p.negative.bucket_counts)
            counts[len(BUCKETS_MS)] += negative
            counts[-1] += p.sum
        return len(data.data_points)

    def _add_explicit_histogram(self, name: str, data: Any) -> int:
        for p in data.data_points:
            counts = self._histogram(name, p, data.aggregation_temporality)
            bounds = list(p.explicit_bounds) + [float("inf")]
            for upper, count in zip(bounds, p.bucket_counts, strict=False):
                counts[_bucket_index(upper)] += int(count)
            counts[-1] += p.sum
        return len(data.data_points)

    def _histogram(self, name: str, point: Any, temporality: int) -> list[float]:
        """The running counts of one histogram series (reset first for a cumulative point)."""
        series = self.histograms.setdefault(name, {})
        key = _labels(point.attributes)
        if temporality != 1 or key not in series:
            series[key] = [0.0] * (len(BUCKETS_MS) + 2)
        return series[key]

    def collect(self) -> Iterator[Any]:
        """prometheus_client's collector protocol: every series as a metric family."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        with self.lock:
            for family, kind in ((CounterMetricFamily, self.counters),
                                 (GaugeMetricFamily, self.gauges)):  # fmt: skip
                for name, values in sorted(kind.items()):
                    keys = sorted({k for labels in values for k, _ in labels})
                    fam = family(name, self.help.get(name, name), labels=keys)
                    for labels, value in values.items():
                        fam.add_metric(_values(labels, keys), value)
                    yield fam
            for name, series in sorted(self.histograms.items()):
                keys = sorted({k for labels in series for k, _ in labels})
                hist = HistogramMetricFamily(
                    f"{name}_ms", self.help.get(name, name) + " (milliseconds)", labels=keys
                )
                for labels, counts in series.items():
                    running, buckets = 0.0, []
                    for bound, count in zip((*BUCKETS_MS, float("inf")), counts, strict=False):
                        running += count
                        buckets.append(
                            ("+Inf" if bound == float("inf") else f"{bound:.0f}", running)
                        )
                    hist.add_metric(_values(labels, keys), buckets, counts[-1])
                yield hist


def _bucket_index(upper: float) -> int:
    """The first of :data:`BUCKETS_MS` at or above ``upper`` (len(BUCKETS_MS): +Inf)."""
    for i, bound in enumerate(BUCKETS_MS):
        if upper <= bound:
            return i
    return len(BUCKETS_MS)


def _values(labels: Labels, keys: list[str]) -> list[str]:
    have = dict(labels)
    return [have.get(k, "") for k in keys]


def make_server(host: str = "0.0.0.0", port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    """The receiver's HTTP server (not started): OTLP in, Prometheus text out."""
    from prometheus_client import CollectorRegistry, generate_latest

    totals = Totals()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(totals)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            if self.path.rstrip("/") != "/v1/metrics":
                self.send_error(404, "OTLP metrics go to /v1/metrics")
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            try:
                totals.add_request(body)
            except Exception as exc:  # a malformed body: the sender hears why
                self.send_error(400, f"not an OTLP metrics request: {exc}")
                return
            self._answer(200, b"", "application/x-protobuf")

        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/metrics"):
                self._answer(200, generate_latest(registry), "text/plain; version=0.0.4")
            elif self.path.startswith("/health"):
                self._answer(200, b"ok\n", "text/plain")
            else:
                self.send_error(404, "GET /metrics or /health")

        def _answer(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("airflow-metrics: " + format, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.totals = totals  # type: ignore[attr-defined]
    return server
