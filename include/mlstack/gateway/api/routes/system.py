"""``/health`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from mlstack.gateway.api.deps import ServiceDep
from mlstack.gateway.schemas import HealthPublic

router = APIRouter(tags=["system"])


@router.get("/health", response_model=HealthPublic)
async def read_health(service: ServiceDep) -> HealthPublic:
    """Always 200 while the process serves; ``degraded`` says what is missing."""
    served = {
        n: (s.champion.version if s.champion else None) for n, s in service.cache.serving.items()
    }
    ok = service.logger.db_ok and not service.cache.errors and all(served.values())
    return HealthPublic(
        status="ok" if ok else "degraded",
        usecases=served,
        database_ok=service.logger.db_ok,
        log_queue=service.logger.pending(),
        errors=dict(service.cache.errors),
    )


@router.get("/metrics", response_class=PlainTextResponse)
async def read_metrics(service: ServiceDep) -> str:
    """Prometheus text format: requests, rows, errors, latency, log queue."""
    return service.metrics.render()
