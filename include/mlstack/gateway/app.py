"""The gateway's FastAPI app: ``create_app()`` (an ASGI factory for uvicorn ``--factory``).

On start it loads every served use case's champion (and challenger while a rollout runs),
opens the local journal (replaying what a killed worker left), starts the prediction logger
and a refresher thread that re-reads aliases and rollouts every ``refresh_interval_s``; on
stop it writes every queued row before exiting.

Every client error is a 400 whose ``detail[].loc`` ends with the field (FastAPI's own
request validation included), a body over ``max_body_bytes`` a 413, an unknown use case a
404, no champion or no durable log a 503 (every answer is counted in ``/metrics``, every
4xx with its reason: :mod:`mlstack.gateway.api.request_metrics`). With
``MLSTACK_GATEWAY_REQUIRE_KEYS`` every /v1 request needs an API key first (401/403/429:
:mod:`mlstack.gateway.api.auth`).
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlstack import store
from mlstack.exceptions import SettingsError
from mlstack.gateway.api.auth import AccessLog, KeyAuth
from mlstack.gateway.api.fast_predict import PredictHotPath
from mlstack.gateway.api.limits import BodyLimit
from mlstack.gateway.api.request_metrics import RequestMetrics, note_refusal
from mlstack.gateway.api.routes import predictions, system, usecases
from mlstack.gateway.core.config import GatewaySettings
from mlstack.gateway.journal import Journal
from mlstack.gateway.keys import KeyRing, RateLimiter
from mlstack.gateway.metrics import Metrics
from mlstack.gateway.model_cache import ModelCache
from mlstack.gateway.prediction_log import PredictionLogger
from mlstack.gateway.service import PredictionService
from mlstack.settings import Settings, get_settings
from mlstack.specs import UseCaseSpec, discover

log = logging.getLogger(__name__)


def served_specs(settings: Settings, gateway: GatewaySettings) -> dict[str, UseCaseSpec]:
    """The specs the gateway serves: the configured names, or every valid spec."""
    specs, errors = discover(settings.usecases_dir)
    for name, err in errors.items():
        log.error("Not serving %s: %s", name, err)
    if not gateway.usecases:
        return specs
    missing = [n for n in gateway.usecases if n not in specs]
    if missing:
        raise SettingsError(
            f"MLSTACK_GATEWAY_USECASES names {missing}, which are not valid specs in "
            f"{settings.usecases_dir}; valid: {sorted(specs)}"
        )
    return {n: specs[n] for n in gateway.usecases}


class Refresher:
    """A daemon thread that calls ``cache.refresh()`` every ``interval`` seconds."""

    def __init__(self, cache: ModelCache, interval: float) -> None:
        self.cache, self.interval = cache, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="model-refresher", daemon=True)

    def start(self) -> None:
        """Start refreshing in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the refresh in progress."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.cache.refresh()


def limit_native_threads(threads: int) -> None:
    """Cap the native thread pools (OpenMP, BLAS) the calling thread's predictions use.

    OpenMP's limit is per thread, and the event loop's thread is the one that scores
    (:class:`~mlstack.gateway.service.Batcher`), so the app's lifespan calls this; `mlstack
    gateway serve` also sets the pools' environment variables before any is loaded."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)


def create_app(settings: Settings | None = None, gateway: GatewaySettings | None = None) -> FastAPI:
    """Build the gateway app (models load when the app starts, in its lifespan)."""
    s = settings or get_settings()
    g = gateway or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limit_native_threads(g.native_threads)  # this thread is the one that scores
        specs = served_specs(s, g)
        cache = ModelCache(specs, s)
        engine = store.engine(s, create=False)
        try:
            store.init_tables(engine)
        except sa.exc.SQLAlchemyError as exc:  # logs spool until the database is back
            log.warning("mlstack database unreachable at start (%s); spooling logs", exc)
        spool = g.spool_dir or (s.home / "spool")
        journal = Journal(
            spool / "journal",
            fsync=g.journal_fsync,
            writers=g.journal_writers,
            round_gap_s=g.journal_round_gap_ms / 1000,
        )
        try:
            journal.open()
        except OSError as exc:  # no journal, no durable answer: refuse to start, say why
            raise SettingsError(
                f"cannot write the prediction journal in {journal.directory} ({exc}); set "
                "MLSTACK_GATEWAY_SPOOL_DIR to a writable folder on a local disk"
            ) from exc
        logger = PredictionLogger(
            engine,
            spool,
            journal=journal,
            batch_size=g.log_batch_size,
            flush_interval_s=g.log_flush_interval_s,
            queue_size=g.log_queue_size,
            replay_interval_s=g.replay_interval_s,
        )
        cache.refresh()
        logger.start()
        refresher = Refresher(cache, g.refresh_interval_s)
        refresher.start()
        metrics = Metrics(gauges=logger.gauges)
        metrics.start()
        app.state.service = PredictionService(cache, logger, metrics, g.batch_wait_ms / 1000)
        # Everything loaded so far lives as long as the process: keep the cyclic GC off it,
        # or a full collection walks millions of MLflow/sklearn objects mid-request.
        gc.collect()
        gc.freeze()
        # The log writer thread shares the GIL with the event loop: a batch insert may hold
        # it for a whole switch interval while requests wait. A shorter interval bounds that.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(g.switch_interval_ms / 1000)
        log.info("Gateway serving %s", sorted(specs))
        try:
            yield
        finally:
            sys.setswitchinterval(switch)
            if getattr(app.state, "access_log", None) is not None:
                app.state.access_log.flush()
            refresher.stop()
            logger.stop()
            journal.close()
            metrics.stop()

    app = FastAPI(
        title="mlstack gateway",
        version="1",
        description="Champion and challenger of every use case: predict, feedback, status.",
        lifespan=lifespan,
    )
    for module in (predictions, usecases, system):
        app.include_router(module.router)
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(StarletteHTTPException, unparsable_body)
    app.add_middleware(PredictHotPath)  # answers ordinary predictions without FastAPI's routing
    app.add_middleware(BodyLimit, max_bytes=g.max_body_bytes)  # before any read
    if g.require_keys:  # before the body limit: no body is read for a request without a key
        app.state.access_log = access_log(g)
        app.add_middleware(
            KeyAuth,
            keys=KeyRing(s, g.key_cache_ttl_s),
            limiter=RateLimiter(g.key_rate_per_s, g.key_burst),
            access=app.state.access_log,
        )
    app.add_middleware(RequestMetrics)  # outermost: counts every answer, refusals by reason
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def access_log(g: GatewaySettings) -> AccessLog:
    """The access log, to ``access_log_file`` (appended) or stderr."""
    if g.access_log_file is None:
        return AccessLog(sys.stderr)
    try:
        return AccessLog(g.access_log_file.open("a", encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(
            f"cannot write the access log {g.access_log_file} ({exc}); set "
            "MLSTACK_GATEWAY_ACCESS_LOG_FILE to a writable file, or leave it empty for stderr"
        ) from exc


async def bad_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's request validation as a 400 naming the field (never echoing the input)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    bad_json = any(e.get("type") == "json_invalid" for e in errors)
    note_refusal(request.scope, "invalid_json" if bad_json else "invalid_body")
    detail = []
    for e in errors:
        loc = [p if isinstance(p, int) else str(p)[:100] for p in e.get("loc", ())]
        msg = str(e.get("msg", ""))[:300]
        if e.get("type") == "json_invalid" and loc and isinstance(loc[-1], int):
            msg, loc = f"{msg} at byte {loc[-1]}", loc[:-1]  # the body itself is the field
        detail.append({"loc": loc, "msg": msg, "type": str(e.get("type", "value_error"))})
    return JSONResponse({"detail": detail}, status_code=400)


async def unparsable_body(request: Request, exc: Exception) -> Response:
    """FastAPI's "error parsing the body" (invalid UTF-8, nesting too deep) in the 400 shape
    with the reason; every other HTTP error as FastAPI answers it."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.detail, str) and exc.__cause__ is not None:
        cause = exc.__cause__
        note_refusal(request.scope, "invalid_json")
        msg = f"the body is not valid JSON: {type(cause).__name__}: {str(cause)[:200]}"
        detail = [{"loc": ["body"], "msg": msg, "type": "json_invalid"}]
        return JSONResponse({"detail": detail}, status_code=400)
    return await http_exception_handler(request, exc)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The schema with 400 in place of FastAPI's 422, and each served use case's record."""
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    for ops in schema.get("paths", {}).values():
        for op in ops.values():
            op.get("responses", {}).pop("422", None)
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        comps.pop(name, None)
    service = getattr(app.state, "service", None)
    if service is not None:
        for uc in sorted(service.cache.specs):
            comps[f"Record_{uc}"] = record_schema(service, uc)
    return schema


def record_schema(service: PredictionService, usecase: str) -> dict[str, Any]:
    """JSON Schema of one record of ``usecase`` as the served models take it now."""
    from mlstack.gateway.model_cache import ENTITY_ID_CHARS, MAX_STRING_CHARS, NUMERIC

    rules = service.rules(usecase, service.cache.get(usecase))
    props: dict[str, Any] = {}
    for f in rules.fields:
        if f.type in NUMERIC:
            prop: dict[str, Any] = {"type": "number", "description": f"MLflow type {f.type}"}
        else:
            prop = {"type": "string", "maxLength": MAX_STRING_CHARS}
            if f.name in rules.categories:
                prop["enum"] = sorted(rules.categories[f.name])
        props[f.name] = {"anyOf": [prop, {"type": "null"}]} if not f.required else prop
    if rules.id_column:
        props[rules.id_column] = {
            "anyOf": [{"type": "string", "maxLength": ENTITY_ID_CHARS}, {"type": "integer"}],
            "description": "Entity id: assigns champion or challenger by hash.",
        }
    return {
        "title": f"Record of {usecase}",
        "type": "object",
        "properties": props,
        "required": [f.name for f in rules.fields if f.required],
        "additionalProperties": False,
    }
