"""``POST /v1/{usecase}/predict`` and ``POST /v1/{usecase}/feedback``."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException

from mlstack.exceptions import NoModelServed
from mlstack.gateway.api.deps import ServiceDep, UsecaseDep
from mlstack.gateway.model_cache import RecordError
from mlstack.gateway.schemas import (
    FeedbackCreate,
    FeedbackPublic,
    PredictionPublic,
    PredictRequest,
    PredictResponse,
)

router = APIRouter(prefix="/v1/{usecase}", tags=["predictions"])


@router.post("/predict", response_model=PredictResponse)
async def create_prediction(
    body: PredictRequest, usecase: UsecaseDep, service: ServiceDep
) -> PredictResponse:
    """Score records with the champion (or the challenger their entity is assigned to)."""
    records = body.rows()
    try:
        answers = await service.predict(usecase, records)
    except RecordError as exc:
        service.metrics.inc("rejected_total", usecase=usecase)
        raise HTTPException(
            422,
            [
                {
                    "loc": ["body", "records", exc.index, exc.field],
                    "msg": exc.message,
                    "type": "signature",
                }
            ],
        ) from exc
    except NoModelServed as exc:
        raise HTTPException(503, f"{usecase} has no champion loaded yet") from exc
    return PredictResponse(
        predictions=[
            PredictionPublic(
                prediction_id=a.prediction_id,
                prediction=a.prediction,
                score=a.score,
                model_version=a.model_version,
                variant=a.variant,
            )
            for a in answers
        ]
    )


@router.post("/feedback", response_model=FeedbackPublic, status_code=202)
async def create_feedback(
    body: FeedbackCreate, usecase: UsecaseDep, service: ServiceDep
) -> FeedbackPublic:
    """Accept labels (by prediction id or entity id); they are written durably in batches."""
    now = datetime.now(UTC)
    rows = [
        {
            "usecase": usecase,
            "prediction_id": lab.prediction_id,
            "entity_id": lab.entity_id,
            "label": lab.label,
            "label_at": lab.label_at or now,
            "received_at": now,
        }
        for lab in body.labels
    ]
    service.logger.log("feedback", rows)
    service.metrics.inc("feedback_total", len(rows), usecase=usecase)
    return FeedbackPublic(accepted=len(rows))
