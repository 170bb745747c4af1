"""``/health`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse

from mlstack.gateway.api.deps import ServiceDep
from mlstack.gateway.metrics import CONTENT_TYPE
from mlstack.gateway.schemas import HealthPublic

router = APIRouter(tags=["system"])


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "Answers cannot be logged durably."}},
)
async def read_health(service: ServiceDep, response: Response) -> HealthPublic:
    """``ok``; ``degraded`` (200) with the reasons; ``failing`` (503) when answers cannot be
    logged durably (the writer thread or the journal is down, or the disk refuses)."""
    served = {
        n: (s.champion.version if s.champion else None) for n, s in service.cache.serving.items()
    }
    logger = service.logger
    problems = logger.problems()
    writer_alive = logger.alive()
    journal = logger.journal
    failing = not writer_alive or (
        journal is not None and (not journal.alive() or journal.error is not None)
    )
    failing = failing or (not logger.db_ok and logger.spool_error is not None)
    missing = [f"{n}: no champion loaded" for n, v in served.items() if v is None]
    ok = not problems and not service.cache.errors and not missing
    if failing:
        response.status_code = 503
    return HealthPublic(
        status="failing" if failing else "ok" if ok else "degraded",
        usecases=served,
        database_ok=logger.db_ok,
        log_writer_alive=writer_alive,
        log_queue=logger.pending(),
        rejected_rows=logger.stats["rejected"],
        problems=problems + missing,
        errors=dict(service.cache.errors),
    )


@router.get("/metrics", response_class=PlainTextResponse)
async def read_metrics(service: ServiceDep) -> Response:
    """Prometheus text format (every worker's numbers): requests, refusals by reason,
    records by variant, errors, latency, the prediction log's backlog and spool."""
    return Response(service.metrics.render(), media_type=CONTENT_TYPE)
