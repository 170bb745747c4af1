"""The gateway's Prometheus metrics, kept with the official ``prometheus_client``.

What is counted (every name starts with ``mlstack_gateway_``):

- ``requests_total{route, status}``: every HTTP answer, by route template and status code;
- ``refused_total{reason}``: every 4xx answer, by why (:data:`REFUSAL_REASONS`, or
  ``http_<status>`` for one without a named reason, e.g. an unknown path);
- ``predictions_total{usecase, variant}``: answered records; ``errors_total{usecase,
  variant}``: a challenger or shadow that failed (the champion answered);
  ``feedback_total{usecase}``: labels accepted;
- ``latency_ms{usecase}``: a histogram of a prediction request's time in the service
  (scoring and journaling), in milliseconds;
- gauges of the prediction log (:meth:`PredictionLogger.gauges`: queue, spool files and
  bytes, journal backlog, writer and database up, rows by fate) and ``workers``.

With several uvicorn workers behind one port a scrape reaches one of them, so the workers
run ``prometheus_client``'s multiprocess mode: with ``PROMETHEUS_MULTIPROC_DIR`` set in the
environment *before* ``prometheus_client`` is imported (``mlstack gateway serve`` sets it
from ``MLSTACK_GATEWAY_METRICS_DIR`` and empties the folder first, as the client's docs ask)
every worker writes its numbers to memory-mapped files there, and ``/metrics`` answers the
client's merge of all of them: counters and histograms of every worker that ever ran (they
only grow), gauges of the live workers (``live*`` modes; a worker that stops removes its
own, and any scrape removes those of workers that died without stopping). Without the
variable a process shows its own numbers.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)

PREFIX = "mlstack_gateway_"
BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
CONTENT_TYPE = CONTENT_TYPE_LATEST

#: Why a request was refused (the ``reason`` label of ``refused_total``): the API key's
#: refusals (:mod:`mlstack.gateway.keys`), then the body's.
REFUSAL_REASONS = (
    "missing",
    "malformed",
    "unknown",
    "expired",
    "revoked",
    "usecase",
    "scope",
    "rate_limited",
    "body_too_large",
    "invalid_json",
    "invalid_body",
    "invalid_record",
    "unknown_usecase",
)

#: How a gauge of several live workers combines (default: ``livesum``).
GAUGE_MODES = {"database_up": "livemin", "log_writer_up": "livemin"}


def multiprocess_dir() -> Path | None:
    """The folder the workers share, when ``prometheus_client`` runs in multiprocess mode.

    None when ``PROMETHEUS_MULTIPROC_DIR`` is unset, or was set after ``prometheus_client``
    was imported (then the client keeps per-process values: said in a warning).
    """
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return None
    if not getattr(values.ValueClass, "_multiprocess", False):
        log.warning(
            "PROMETHEUS_MULTIPROC_DIR=%s was set after prometheus_client was imported: "
            "/metrics shows this process only (start the gateway with `mlstack gateway "
            "serve`, or set the variable before the process starts)",
            folder,
        )
        return None
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists (ours or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_dead_workers(folder: Path) -> list[int]:
    """Remove the live gauges of workers that died without stopping (SIGKILL, OOM);
    the pids marked dead."""
    dead = set()
    for path in folder.glob("gauge_live*_*.db"):
        tail = path.stem.rsplit("_", 1)[-1]
        if tail.isdigit() and not pid_alive(int(tail)):
            dead.add(int(tail))
    for pid in dead:
        mark_process_dead(pid, str(folder))
    return sorted(dead)


def render_folder(folder: Path) -> bytes:
    """The text exposition of every worker's numbers in ``folder`` (dead workers marked)."""
    mark_dead_workers(folder)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, str(folder))
    return bytes(generate_latest(registry))


class Metrics:
    """The gateway's metrics (see the module docstring); thread-safe.

    ``gauges`` is read every ``publish_interval_s`` by a daemon thread in multiprocess
    mode (so a scrape of one worker sees the others' gauges), and at every scrape.
    """

    def __init__(
        self,
        gauges: Callable[[], dict[str, float]] | None = None,
        publish_interval_s: float = 1.0,
    ) -> None:
        self.folder = multiprocess_dir()
        self.registry = CollectorRegistry()
        self.gauges = gauges or dict
        self.publish_interval_s = publish_interval_s
        r = self.registry
        self.requests = Counter(
            PREFIX + "requests",
            "HTTP answers by route and status.",
            ["route", "status"],
            registry=r,
        )
        self.refused = Counter(
            PREFIX + "refused", "Refused requests (4xx) by reason.", ["reason"], registry=r
        )
        self.predictions = Counter(
            PREFIX + "predictions", "Answered records.", ["usecase", "variant"], registry=r
        )
        self.errors = Counter(
            PREFIX + "errors",
            "Challenger or shadow failures (the champion answered).",
            ["usecase", "variant"],
            registry=r,
        )
        self.feedback = Counter(PREFIX + "feedback", "Labels accepted.", ["usecase"], registry=r)
        self.latency = Histogram(
            PREFIX + "latency_ms",
            "Prediction request time in the service (scoring and journal), milliseconds.",
            ["usecase"],
            buckets=BUCKETS_MS,
            registry=r,
        )
        for reason in REFUSAL_REASONS:  # a series from the start, for rate() and dashboards
            self.refused.labels(reason)
        self._gauges: dict[str, Gauge] = {}
        self._children: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.publish()

    # --- counting (a label set's child is looked up once, then kept) ----------------------

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def count_request(self, route: str, status: int) -> None:
        """One HTTP answer of ``route`` (a template) with ``status``."""
        self._child(self.requests, route, str(status)).inc()

    def count_refusal(self, reason: str) -> None:
        """One refused request, with why."""
        self._child(self.refused, reason).inc()

    def count_predictions(self, usecase: str, variant: str, n: int) -> None:
        """``n`` records of ``usecase`` answered by ``variant``."""
        self._child(self.predictions, usecase, variant).inc(n)

    def count_error(self, usecase: str, variant: str) -> None:
        """A failure of ``variant`` (challenger or shadow) of ``usecase``."""
        self._child(self.errors, usecase, variant).inc()

    def count_feedback(self, usecase: str, n: int) -> None:
        """``n`` labels of ``usecase`` accepted."""
        self._child(self.feedback, usecase).inc(n)

    def observe_ms(self, value: float, usecase: str) -> None:
        """One prediction request of ``usecase`` took ``value`` milliseconds."""
        self._child(self.latency, usecase).observe(value)

    # --- gauges and the publisher ---------------------------------------------------------

    def publish(self) -> None:
        """Set the gauges from ``gauges()`` (and ``workers`` to 1 for this process)."""
        readings = {**self.gauges(), "workers": 1.0}
        with self._lock:
            for name, value in readings.items():
                gauge = self._gauges.get(name)
                if gauge is None:
                    gauge = self._gauges[name] = Gauge(
                        PREFIX + name,
                        f"Gateway gauge {name} (live workers combined).",
                        registry=self.registry,
                        multiprocess_mode=GAUGE_MODES.get(name, "livesum"),  # type: ignore[arg-type]
                    )
                gauge.set(float(value))

    def start(self) -> None:
        """Publish the gauges every ``publish_interval_s`` (multiprocess mode only: a lone
        process reads them at each scrape)."""
        if self.folder is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="metrics-publisher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing; a worker's gauges go (its counters and histograms stay)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self.folder is not None:
            mark_process_dead(os.getpid(), str(self.folder))

    def _run(self) -> None:
        while not self._stop.wait(self.publish_interval_s):
            try:
                self.publish()
            except Exception:  # a gauge that fails to read must not end the thread
                log.exception("Publishing the gateway's gauges failed")

    # --- exposition -----------------------------------------------------------------------

    def render(self) -> bytes:
        """The text exposition format: every worker's numbers in multiprocess mode."""
        self.publish()
        if self.folder is not None:
            return render_folder(self.folder)
        return bytes(generate_latest(self.registry))

    def value(self, name: str, **labels: str) -> float | None:
        """One sample of :meth:`render` (full name, e.g. ``mlstack_gateway_refused_total``),
        or None when absent."""
        return sample(self.render(), name, **labels)


def sample(text: bytes | str, name: str, **labels: str) -> float | None:
    """The value of series ``name{labels}`` in an exposition ``text``, or None."""
    raw = text.decode() if isinstance(text, bytes) else text
    for family in text_string_to_metric_families(raw):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return None
