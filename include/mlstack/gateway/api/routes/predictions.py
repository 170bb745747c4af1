"""``POST /v1/{usecase}/predict`` and ``POST /v1/{usecase}/feedback``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from mlstack.exceptions import NoModelServed
from mlstack.gateway.api.deps import ServiceDep, UsecaseDep
from mlstack.gateway.api.request_metrics import note_refusal
from mlstack.gateway.journal import LogUnavailable
from mlstack.gateway.model_cache import RecordError
from mlstack.gateway.schemas import (
    ErrorPublic,
    FeedbackCreate,
    FeedbackPublic,
    PredictionPublic,
    PredictRequest,
    PredictResponse,
)

router = APIRouter(prefix="/v1/{usecase}", tags=["predictions"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorPublic,
        "description": "Malformed body or a field breaking the rules; "
        "`detail[].loc` ends with the field.",
    },
    404: {"model": ErrorPublic, "description": "Unknown use case (the message lists served ones)."},
    413: {"model": ErrorPublic, "description": "Body larger than the gateway's limit."},
    503: {
        "model": ErrorPublic,
        "description": "No champion loaded yet, or the answer cannot be "
        "logged durably (journal or spool disk refuses): retry later.",
    },
}
FEEDBACK_DETAIL = (
    "journaled on the gateway's disk before this answer; written to the database in the "
    "background (a label sent again for the same prediction replaces this one)"
)


def record_error(exc: RecordError) -> HTTPException:
    """A 400 naming the record and field."""
    field = exc.field.encode("utf-8", "backslashreplace").decode()  # a key may hold anything
    loc: list[str | int] = ["body", "records", exc.index, field]
    return HTTPException(400, [{"loc": loc, "msg": exc.message, "type": "value_error"}])


@router.post("/predict", response_model=PredictResponse, responses=ERRORS)
async def create_prediction(
    body: PredictRequest, usecase: UsecaseDep, service: ServiceDep, request: Request
) -> PredictResponse:
    """Score records with the champion (or the challenger their entity is assigned to).

    Answered predictions are in the gateway's local journal (fsync'd) before the answer.
    """
    records = body.rows()
    try:
        answers = await service.predict(usecase, records)
    except RecordError as exc:
        note_refusal(request.scope, "invalid_record")
        raise record_error(exc) from exc
    except NoModelServed as exc:
        raise HTTPException(503, f"{usecase} has no champion loaded yet") from exc
    except LogUnavailable as exc:
        raise HTTPException(503, f"not answered: cannot log it durably ({exc})") from exc
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


@router.post("/feedback", response_model=FeedbackPublic, status_code=202, responses=ERRORS)
async def create_feedback(
    body: FeedbackCreate, usecase: UsecaseDep, service: ServiceDep
) -> FeedbackPublic:
    """Accept labels (by prediction id or entity id); journaled on disk before the 202."""
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
    try:
        await service.logger.log_durable("feedback", rows)
    except LogUnavailable as exc:
        raise HTTPException(503, f"not accepted: cannot log labels durably ({exc})") from exc
    service.metrics.count_feedback(usecase, len(rows))
    return FeedbackPublic(accepted=len(rows), detail=FEEDBACK_DETAIL)
