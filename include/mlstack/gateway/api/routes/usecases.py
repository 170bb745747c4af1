"""``GET /v1`` and ``GET /v1/{usecase}``: what is served, and the rollout state."""

from __future__ import annotations

from fastapi import APIRouter

from mlstack.gateway.api.deps import ServiceDep, UsecaseDep
from mlstack.gateway.model_cache import LoadedModel
from mlstack.gateway.schemas import ModelPublic, RolloutPublic, UsecasePublic

router = APIRouter(prefix="/v1", tags=["usecases"])


def _model(m: LoadedModel | None) -> ModelPublic | None:
    return ModelPublic(version=m.version, inputs=[f.name for f in m.fields]) if m else None


def usecase_status(service: ServiceDep, usecase: str) -> UsecasePublic:
    """The serving snapshot of one use case as a public body."""
    s = service.cache.get(usecase)
    ro = s.rollout
    traffic = 0.0 if ro is None or ro.shadow else ro.traffic
    return UsecasePublic(
        usecase=usecase,
        champion=_model(s.champion),
        challenger=_model(s.challenger),
        rollout=RolloutPublic(
            rollout_id=ro.rollout_id,
            stage_index=ro.stage_index,
            stage=ro.stage_name,
            challenger_traffic=ro.traffic,
            shadow=ro.shadow,
        )
        if ro
        else None,
        split={"champion": 1.0 - traffic, "challenger": traffic},
        aliases=s.aliases,
        error=service.cache.errors.get(usecase),
    )


@router.get("", response_model=list[UsecasePublic])
async def list_usecases(service: ServiceDep) -> list[UsecasePublic]:
    """Every served use case."""
    return [usecase_status(service, name) for name in sorted(service.cache.specs)]


@router.get("/{usecase}", response_model=UsecasePublic)
async def read_usecase(usecase: UsecaseDep, service: ServiceDep) -> UsecasePublic:
    """Champion, challenger, split and rollout state of one use case."""
    return usecase_status(service, usecase)
