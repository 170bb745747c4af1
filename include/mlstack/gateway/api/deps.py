"""Dependencies of the routes: the service objects the app holds, as ``Annotated`` aliases.

They are ``async`` on purpose: FastAPI runs a sync dependency in its thread pool, a thread
hop per dependency per request for what is an attribute lookup.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request

from mlstack.gateway.api.request_metrics import note_refusal
from mlstack.gateway.service import PredictionService


async def get_service(request: Request) -> PredictionService:
    """The app's prediction service."""
    service: PredictionService = request.app.state.service
    return service


ServiceDep = Annotated[PredictionService, Depends(get_service)]


async def get_usecase(
    service: ServiceDep,
    usecase: Annotated[str, Path(description="Use-case name")],
    request: Request,
) -> str:
    """The path's use case, or 404 naming the served ones (refusal ``unknown_usecase``)."""
    if usecase not in service.cache.specs:
        note_refusal(request.scope, "unknown_usecase")
        raise HTTPException(
            404, f"unknown use case {usecase!r}; served: {sorted(service.cache.specs)}"
        )
    return usecase


UsecaseDep = Annotated[str, Depends(get_usecase)]
