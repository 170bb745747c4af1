"""The prediction service: assign variants, score in shared batches, answer, log.

Requests that arrive while the event loop is busy are scored together: the first one
schedules a flush ``batch_wait_ms`` later, every request that comes before it joins the
batch, and the pipeline runs once per model for all of them (a scikit-learn pipeline costs
about the same for 1 row as for 50). Under load batches grow by themselves; at one
connection the wait is a fraction of a millisecond.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mlstack.exceptions import NoModelServed
from mlstack.gateway.journal import LogUnavailable
from mlstack.gateway.metrics import Metrics
from mlstack.gateway.model_cache import InputRules, LoadedModel, ModelCache, RecordError, Serving
from mlstack.gateway.prediction_log import PredictionLogger
from mlstack.stages.rollout import assign
from mlstack.vocabulary import CHALLENGER, CHAMPION, SHADOW

log = logging.getLogger(__name__)

Scored = tuple[np.ndarray, np.ndarray | None]


class Batcher:
    """Collects score calls for a moment and runs each model once on all their records."""

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s
        self._pending: list[tuple[LoadedModel, list[dict[str, Any]], asyncio.Future[Scored]]] = []
        self._scheduled = False

    def submit(self, model: LoadedModel, records: list[dict[str, Any]]) -> asyncio.Future[Scored]:
        """A future of ``records`` scored by ``model`` together with whatever else is waiting.

        A plain future, not a coroutine: awaiting it creates no task.
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Scored] = loop.create_future()
        self._pending.append((model, records, fut))
        if not self._scheduled:
            self._scheduled = True
            if self.wait_s > 0:
                loop.call_later(self.wait_s, self._flush)
            else:
                loop.call_soon(self._flush)
        return fut

    async def score(self, model: LoadedModel, records: list[dict[str, Any]]) -> Scored:
        """Score ``records`` with ``model`` together with whatever else is waiting."""
        return await self.submit(model, records)

    def _flush(self) -> None:
        pending, self._pending, self._scheduled = self._pending, [], False
        groups: dict[int, list[tuple[LoadedModel, list[dict[str, Any]], asyncio.Future[Scored]]]]
        groups = {}
        for item in pending:
            groups.setdefault(id(item[0]), []).append(item)
        for items in groups.values():
            model = items[0][0]
            rows = [r for _, recs, _ in items for r in recs]
            try:
                pred, score = model.score(rows)
            except Exception:  # one bad request must not fail the others: score apart
                for m, recs, fut in items:
                    try:
                        fut.set_result(m.score(recs))
                    except Exception as exc:
                        fut.set_exception(exc)
                continue
            start = 0
            for _, recs, fut in items:
                end = start + len(recs)
                fut.set_result((pred[start:end], None if score is None else score[start:end]))
                start = end


@dataclass
class Answer:
    """One record's answer."""

    prediction_id: str
    prediction: float
    score: float | None
    model_version: int
    variant: str


class PredictionService:
    """Ties the model cache, the batcher, the logger and the metrics together."""

    def __init__(
        self, cache: ModelCache, logger: PredictionLogger, metrics: Metrics, batch_wait_s: float
    ) -> None:
        self.cache = cache
        self.logger = logger
        self.metrics = metrics
        self.batcher = Batcher(batch_wait_s)
        self._rules: dict[str, tuple[Serving, InputRules]] = {}

    def rules(self, usecase: str, serving: Serving) -> InputRules:
        """The input rules of what ``serving`` holds (rebuilt when the models change)."""
        have = self._rules.get(usecase)
        if have is not None and have[0] is serving:
            return have[1]
        rules = InputRules.for_models(
            self.cache.specs[usecase], serving.champion, serving.challenger
        )
        self._rules[usecase] = (serving, rules)
        return rules

    async def predict(self, usecase: str, records: list[dict[str, Any]]) -> list[Answer]:
        """Answer every record (champion or challenger by hash; shadow scores both).

        Every record is checked against both models' inputs before anything is scored, so
        a client's bad input is a RecordError (400), never a challenger error. The answers
        return once their rows are in the journal (LogUnavailable when they cannot be).
        """
        t0 = time.perf_counter()
        serving = self.cache.get(usecase)
        champion = serving.champion
        if champion is None:
            raise NoModelServed(usecase)
        if not records:
            raise RecordError(0, "(records)", "send at least one record")
        self.rules(usecase, serving).check(records)
        spec = self.cache.specs[usecase]
        id_col = spec.schema.id_column
        ids = new_ids(len(records))
        entities = [_entity(r, id_col) for r in records]
        variants = self._variants(serving, entities, ids)
        answers = await self._score(usecase, serving, records, variants, ids, entities, t0)
        return answers

    def _variants(self, serving: Serving, entities: list[str | None], ids: list[str]) -> list[str]:
        ro = serving.rollout
        if ro is None or serving.challenger is None or ro.shadow:
            return [CHAMPION] * len(entities)
        return [
            assign(ro.rollout_id, e if e is not None else i, ro.traffic)
            for e, i in zip(entities, ids, strict=True)
        ]

    async def _score(
        self,
        usecase: str,
        serving: Serving,
        records: list[dict[str, Any]],
        variants: list[str],
        ids: list[str],
        entities: list[str | None],
        t0: float,
    ) -> list[Answer]:
        champion = serving.champion
        assert champion is not None
        chall = serving.challenger
        ro = serving.rollout
        by_model: dict[str, tuple[LoadedModel, list[int]]] = {}
        for i, v in enumerate(variants):
            model = chall if v == CHALLENGER and chall is not None else champion
            by_model.setdefault(v, (model, []))[1].append(i)
        jobs = {
            v: self.batcher.submit(
                m, records if len(idx) == len(records) else [records[i] for i in idx]
            )
            for v, (m, idx) in by_model.items()
        }
        shadow_job = None
        if ro is not None and ro.shadow and chall is not None:
            shadow_job = self.batcher.submit(chall, records)
        outcomes: dict[str, Scored | BaseException] = {}
        for v, job in jobs.items():  # futures all run in the same flush: no task per job
            try:
                outcomes[v] = await job
            except Exception as exc:
                outcomes[v] = exc
        failed = outcomes.pop(CHALLENGER, None)
        if isinstance(failed, Exception):  # a failing challenger: the champion answers
            self._log_error(usecase, ro, CHALLENGER, chall, failed)
            merged = sorted(by_model.get(CHAMPION, (champion, []))[1] + by_model.pop(CHALLENGER)[1])
            by_model[CHAMPION] = (champion, merged)
            outcomes[CHAMPION] = await self.batcher.score(champion, [records[i] for i in merged])
        elif failed is not None:
            outcomes[CHALLENGER] = failed
        results: dict[str, Scored] = {}
        for v, outcome in outcomes.items():
            if isinstance(outcome, BaseException):
                raise outcome
            results[v] = outcome
        shadow_res = None
        if shadow_job is not None:
            try:
                shadow_res = await shadow_job
            except Exception as exc:  # a failing shadow never touches the answer
                self._log_error(usecase, ro, SHADOW, chall, exc)
        latency = (time.perf_counter() - t0) * 1000
        now = datetime.now(UTC)
        answers: list[Answer] = [None] * len(records)  # type: ignore[list-item]
        rows = []
        rollout_id = ro.rollout_id if ro else None
        stage = ro.stage_index if ro else None
        for v, (model, idx) in by_model.items():
            pred, score = results[v]
            preds = pred.tolist()
            scores = None if score is None else score.tolist()
            version = model.version
            for k, i in enumerate(idx):
                s = None if scores is None else scores[k]
                answers[i] = Answer(ids[i], preds[k], s, version, v)
                rows.append(
                    {
                        "prediction_id": ids[i],
                        "usecase": usecase,
                        "entity_id": entities[i],
                        "rollout_id": rollout_id,
                        "rollout_stage": stage,
                        "variant": v,
                        "model_version": version,
                        "features": records[i],
                        "prediction": preds[k],
                        "score": s,
                        "latency_ms": latency,
                        "created_at": now,
                    }
                )
        if shadow_res is not None and chall is not None:
            pred, score = shadow_res
            for i in range(len(records)):
                rows.append(
                    _row(
                        usecase,
                        str(uuid.uuid4()),
                        entities[i],
                        (rollout_id, stage),
                        SHADOW,
                        chall,
                        records[i],
                    )
                    | {
                        "prediction": float(pred[i]),
                        "score": None if score is None else float(score[i]),
                    }
                    | {"latency_ms": latency, "created_at": now}
                )
        await self.logger.log_durable("predictions", rows)
        for v, (_, idx) in by_model.items():
            self.metrics.count_predictions(usecase, v, len(idx))
        self.metrics.observe_ms(latency, usecase)
        return answers

    def _log_error(self, usecase: str, ro: Any, variant: str, model: Any, exc: Exception) -> None:
        log.warning("%s %s v%s failed: %s", usecase, variant, getattr(model, "version", "?"), exc)
        self.metrics.count_error(usecase, variant)
        self.logger.log(
            "prediction_errors",
            [
                {
                    "usecase": usecase,
                    "rollout_id": ro.rollout_id if ro else None,
                    "rollout_stage": ro.stage_index if ro else None,
                    "variant": variant,
                    "model_version": getattr(model, "version", 0),
                    "error": str(exc)[:2000],
                    "created_at": datetime.now(UTC),
                }
            ],
        )


def new_ids(n: int) -> list[str]:
    """``n`` random (version 4) UUIDs as strings, like ``str(uuid.uuid4())``, from one
    ``os.urandom`` call and without building UUID objects."""
    raw = bytearray(os.urandom(16 * n))
    out = []
    for k in range(0, 16 * n, 16):
        raw[k + 6] = (raw[k + 6] & 0x0F) | 0x40  # version 4
        raw[k + 8] = (raw[k + 8] & 0x3F) | 0x80  # RFC 4122 variant
        h = raw[k : k + 16].hex()
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def _entity(record: dict[str, Any], id_col: str) -> str | None:
    value = record.get(id_col)
    return None if value is None else str(value)


def _row(
    usecase: str,
    prediction_id: str,
    entity: str | None,
    rollout: tuple[str | None, int | None],
    variant: str,
    model: LoadedModel,
    record: dict[str, Any],
) -> dict[str, Any]:
    return {
        "prediction_id": prediction_id,
        "usecase": usecase,
        "entity_id": entity,
        "rollout_id": rollout[0],
        "rollout_stage": rollout[1],
        "variant": variant,
        "model_version": model.version,
        "features": record,
    }


__all__ = ["Answer", "LogUnavailable", "NoModelServed", "PredictionService", "RecordError"]
