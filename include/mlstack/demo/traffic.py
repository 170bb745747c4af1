"""Traffic simulator: send a use case's simulated records to the gateway, then their labels.

Records come from the use case's simulator plugin (the same generator as the lake's data,
with labels due the same day), so the gateway sees realistic applications and every
prediction can be given its true outcome later. Works against a URL or an in-process client
(anything with ``post(path, json=...)`` returning a response with ``json()``).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mlstack import plugins
from mlstack.exceptions import MlstackError
from mlstack.modeling import feature_columns
from mlstack.specs import UseCaseSpec

log = logging.getLogger(__name__)


class Client(Protocol):
    """The part of an HTTP client the simulator uses (httpx.Client, TestClient)."""

    def post(self, url: str, *, json: Any) -> Any: ...


@dataclass
class TrafficResult:
    """What was sent and answered."""

    sent: int = 0
    answered: int = 0
    failed: int = 0
    labels_sent: int = 0
    variants: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def simulated_rows(
    spec: UseCaseSpec, day: date, rows: int, seed: int = 7, start: date | None = None
) -> pd.DataFrame:
    """One day of the simulator's clean rows with the target column (labels due at once).

    ``start``: the simulated timeline's first day, so scripted events (a shock after N days)
    happen on the same days as in the lake; default: the day before ``day`` (none yet).
    """
    if spec.simulator is None:
        raise MlstackError(f"use case {spec.name!r} has no simulator to draw traffic from")
    plugins.load_for(spec)
    sim = plugins.get("simulators", spec.simulator.plugin)
    options = {**spec.simulator.options, "label_delay_days": 0, "malformed_share": 0.0}
    first = min(start, day) if start is not None else day - timedelta(days=1)
    files = sim(day, seed=seed, rows=rows, start=first, options=options)
    frames = {k: _read(name, data) for k, (name, data) in files.items()}
    frame = frames["features"]
    target = spec.schema.target_column
    if target and target not in frame.columns and "labels" in frames:
        labels = frames["labels"][[spec.schema.id_column, target]]
        frame = frame.merge(labels, on=spec.schema.id_column, how="left")
    return frame


def _read(name: str, data: bytes) -> pd.DataFrame:
    if name.endswith(".parquet"):
        return pd.read_parquet(io.BytesIO(data))
    return pd.read_csv(io.BytesIO(data), dtype={0: str})


def to_records(spec: UseCaseSpec, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Request records: entity id plus the model's input columns, JSON-safe."""
    cols = [spec.schema.id_column, *feature_columns(spec)]
    sub = frame[cols].astype(object).where(frame[cols].notna(), None)
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
        for r in sub.to_dict("records")
    ]


def simulate(
    spec: UseCaseSpec,
    client: Client,
    *,
    requests: int = 1000,
    rate: float = 0.0,
    label_share: float = 1.0,
    day: date | None = None,
    base: str = "",
    label_batch: int = 200,
    progress: Callable[[int], None] | None = None,
    start: date | None = None,
    batch: int = 1,
) -> TrafficResult:
    """Send ``requests`` simulated records as predictions (at ``rate`` records/s; 0 = as fast
    as possible), ``batch`` records to a request (1: one ``record`` each; more: a ``records``
    batch, whose records the gateway still assigns to variants one entity at a time), and the
    true labels of ``label_share`` of them by prediction id, ``label_batch`` at a time.
    ``start``: the simulated timeline's first day (see :func:`simulated_rows`)."""
    day = day or (spec.simulator.start if spec.simulator else date.today())
    frame = simulated_rows(spec, day, requests, start=start)
    records = to_records(spec, frame)
    target = spec.schema.target_column
    out = TrafficResult()
    labels = []
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    size = max(1, batch)
    for first in range(0, len(records), size):
        if rate > 0:
            delay = t0 + first / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        chunk = records[first : first + size]
        out.sent += len(chunk)
        body = {"record": chunk[0]} if size == 1 else {"records": chunk}
        resp = client.post(f"{base}/v1/{spec.name}/predict", json=body)
        if resp.status_code != 200:
            out.failed += len(chunk)
            continue
        for i, answer in enumerate(resp.json()["predictions"], start=first):
            out.answered += 1
            out.variants[answer["variant"]] = out.variants.get(answer["variant"], 0) + 1
            if target and rng.random() < label_share and pd.notna(frame[target].iloc[i]):
                labels.append(
                    {
                        "prediction_id": answer["prediction_id"],
                        "label": float(frame[target].iloc[i]),
                    }
                )
        if len(labels) >= label_batch:
            out.labels_sent += _send_labels(client, f"{base}/v1/{spec.name}/feedback", labels)
            labels = []
        if progress and out.sent // 100 > (out.sent - len(chunk)) // 100:
            progress(out.sent)
    out.labels_sent += _send_labels(client, f"{base}/v1/{spec.name}/feedback", labels)
    out.seconds = time.perf_counter() - t0
    return out


def _send_labels(client: Client, url: str, labels: list[dict[str, Any]]) -> int:
    """POST labels in chunks of 1000; return how many the gateway accepted."""
    sent = 0
    for start in range(0, len(labels), 1000):
        chunk = labels[start : start + 1000]
        if client.post(url, json={"labels": chunk}).status_code == 202:
            sent += len(chunk)
    return sent
