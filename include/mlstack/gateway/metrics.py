"""Prometheus metrics in the text exposition format, kept by hand (no client library).

Counters of requests, rows and errors by use case and variant, and a latency histogram.
Each worker process exposes its own numbers; Prometheus sums them.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import defaultdict

BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)


class Metrics:
    """Counters and histograms, thread-safe, rendered by :meth:`render`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self.hist: dict[tuple[tuple[str, str], ...], list[float]] = {}

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        """Add ``value`` to counter ``name`` with ``labels``."""
        self.add((name, tuple(sorted(labels.items()))), value)

    def add(self, key: tuple[str, tuple[tuple[str, str], ...]], value: float = 1.0) -> None:
        """:meth:`inc` with the key already built: ``(name, sorted label pairs)``."""
        with self._lock:
            self.counters[key] += value

    def observe_ms(self, value: float, **labels: str) -> None:
        """Record one request latency in milliseconds.

        Counts go to the first bucket that holds the value (one bisect); :meth:`render`
        accumulates them into Prometheus' cumulative ``le`` buckets.
        """
        key = tuple(sorted(labels.items()))
        with self._lock:
            h = self.hist.get(key)
            if h is None:
                h = self.hist[key] = [0.0] * (len(BUCKETS_MS) + 2)
            i = bisect_left(BUCKETS_MS, value)
            if i < len(BUCKETS_MS):
                h[i] += 1
            h[-2] += 1
            h[-1] += value

    def render(self, gauges: dict[str, float] | None = None) -> str:
        """The text exposition format of every metric."""
        lines: list[str] = []
        with self._lock:
            seen: set[str] = set()
            for (name, labels), value in sorted(self.counters.items()):
                if name not in seen:
                    lines.append(f"# TYPE mlstack_gateway_{name} counter")
                    seen.add(name)
                lines.append(f"mlstack_gateway_{name}{_labels(labels)} {value:g}")
            lines.append("# TYPE mlstack_gateway_latency_ms histogram")
            for labels, h in sorted(self.hist.items()):
                cumulative = 0.0
                for bound, count in zip(BUCKETS_MS, h, strict=False):
                    cumulative += count
                    le = (*labels, ("le", str(bound)))
                    lines.append(f"mlstack_gateway_latency_ms_bucket{_labels(le)} {cumulative:g}")
                inf = (*labels, ("le", "+Inf"))
                lines.append(f"mlstack_gateway_latency_ms_bucket{_labels(inf)} {h[-2]:g}")
                lines.append(f"mlstack_gateway_latency_ms_count{_labels(labels)} {h[-2]:g}")
                lines.append(f"mlstack_gateway_latency_ms_sum{_labels(labels)} {h[-1]:g}")
        for name, value in sorted((gauges or {}).items()):
            lines.append(f"# TYPE mlstack_gateway_{name} gauge")
            lines.append(f"mlstack_gateway_{name} {value:g}")
        return "\n".join(lines) + "\n"


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"
