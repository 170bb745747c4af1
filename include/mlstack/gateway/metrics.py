"""Prometheus metrics in the text exposition format, kept by hand (no client library).

Counters of requests, rows and errors by use case and variant, a latency histogram, and
gauges of the prediction log. With several uvicorn workers behind one port a scrape reaches
one of them, so each worker publishes its numbers to a shared folder (``share_dir``, one JSON
file per process, every ``publish_interval_s``) and ``/metrics`` answers the sum over all
workers: counters and histograms of every worker that ever ran (they only grow), gauges of
the workers alive (published recently). Without ``share_dir`` a process shows its own.
"""

from __future__ import annotations

import json
import os
import threading
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)

#: How gauges of several workers combine (default: sum).
GAUGE_MERGE: dict[str, Callable[[list[float]], float]] = {"database_up": min}

Labels = tuple[tuple[str, str], ...]


class Metrics:
    """Counters and histograms, thread-safe, rendered by :meth:`render`."""

    def __init__(
        self,
        share_dir: Path | None = None,
        gauges: Callable[[], dict[str, float]] | None = None,
        publish_interval_s: float = 1.0,
        pid: int | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self.counters: dict[tuple[str, Labels], float] = defaultdict(float)
        self.hist: dict[Labels, list[float]] = {}
        self.share_dir = Path(share_dir) if share_dir else None
        self.gauges = gauges or dict
        self.publish_interval_s = publish_interval_s
        self.pid = pid or os.getpid()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        """Add ``value`` to counter ``name`` with ``labels``."""
        self.add((name, tuple(sorted(labels.items()))), value)

    def add(self, key: tuple[str, Labels], value: float = 1.0) -> None:
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

    # --- sharing between worker processes --------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """This process' numbers, JSON-safe: counters, histograms, gauges."""
        with self._lock:
            counters = [[n, [list(p) for p in lb], v] for (n, lb), v in self.counters.items()]
            hist = [[[list(p) for p in lb], list(h)] for lb, h in self.hist.items()]
        return {"counters": counters, "hist": hist, "gauges": self.gauges(), "at": time.time()}

    def publish(self) -> None:
        """Write :meth:`snapshot` to ``share_dir/<pid>.json`` (atomically)."""
        if self.share_dir is None:
            return
        self.share_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.share_dir / f".{self.pid}.tmp"
        tmp.write_text(json.dumps(self.snapshot()))
        tmp.replace(self.share_dir / f"{self.pid}.json")

    def start(self) -> None:
        """Publish every ``publish_interval_s`` in a daemon thread (only with ``share_dir``)."""
        if self.share_dir is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="metrics-publisher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing, after a last publication (counters of a stopped worker stay)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.publish()

    def _run(self) -> None:
        while True:
            self.publish()
            if self._stop.wait(self.publish_interval_s):
                return

    def _others(self) -> list[dict[str, Any]]:
        if self.share_dir is None or not self.share_dir.is_dir():
            return []
        out = []
        for path in self.share_dir.glob("*.json"):
            if path.stem == str(self.pid):
                continue
            try:
                out.append(json.loads(path.read_text()))
            except (OSError, ValueError):  # being replaced right now: next scrape has it
                continue
        return out

    def merged(
        self,
    ) -> tuple[dict[tuple[str, Labels], float], dict[Labels, list[float]], dict[str, float]]:
        """Counters, histograms and gauges summed over this process and the other workers."""
        mine = self.snapshot()
        others = self._others()
        counters: dict[tuple[str, Labels], float] = defaultdict(float)
        hist: dict[Labels, list[float]] = {}
        for snap in [mine, *others]:
            for name, labels, value in snap["counters"]:
                counters[(name, tuple(tuple(p) for p in labels))] += value
            for labels, h in snap["hist"]:
                key = tuple(tuple(p) for p in labels)
                acc = hist.setdefault(key, [0.0] * len(h))
                hist[key] = [a + b for a, b in zip(acc, h, strict=True)]
        alive_after = time.time() - max(10.0, 5 * self.publish_interval_s)
        alive = [mine, *(o for o in others if o.get("at", 0) >= alive_after)]
        values: dict[str, list[float]] = defaultdict(list)
        for snap in alive:
            for name, value in snap["gauges"].items():
                values[name].append(float(value))
        gauges = {k: GAUGE_MERGE.get(k, sum)(v) for k, v in values.items()}
        gauges["workers"] = float(len(alive))
        return counters, hist, gauges

    def render(self) -> str:
        """The text exposition format of every metric, summed over the workers."""
        counters, hist, gauges = self.merged()
        lines: list[str] = []
        seen: set[str] = set()
        for (name, labels), value in sorted(counters.items()):
            if name not in seen:
                lines.append(f"# TYPE mlstack_gateway_{name} counter")
                seen.add(name)
            lines.append(f"mlstack_gateway_{name}{_labels(labels)} {value:g}")
        lines.append("# TYPE mlstack_gateway_latency_ms histogram")
        for labels, h in sorted(hist.items()):
            cumulative = 0.0
            for bound, count in zip(BUCKETS_MS, h, strict=False):
                cumulative += count
                le = (*labels, ("le", str(bound)))
                lines.append(f"mlstack_gateway_latency_ms_bucket{_labels(le)} {cumulative:g}")
            inf = (*labels, ("le", "+Inf"))
            lines.append(f"mlstack_gateway_latency_ms_bucket{_labels(inf)} {h[-2]:g}")
            lines.append(f"mlstack_gateway_latency_ms_count{_labels(labels)} {h[-2]:g}")
            lines.append(f"mlstack_gateway_latency_ms_sum{_labels(labels)} {h[-1]:g}")
        for name, value in sorted(gauges.items()):
            lines.append(f"# TYPE mlstack_gateway_{name} gauge")
            lines.append(f"mlstack_gateway_{name} {value:g}")
        return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"
