"""Request and response bodies of the gateway (``XBase`` / ``XCreate`` / ``XPublic``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PredictRequest(BaseModel):
    """One record (``record``) or a batch (``records``); ``dataframe_records`` is accepted too,
    so a body written for ``mlflow models serve`` works unchanged."""

    model_config = ConfigDict(extra="forbid")

    record: dict[str, Any] | None = None
    records: list[dict[str, Any]] | None = Field(default=None, max_length=10_000)
    dataframe_records: list[dict[str, Any]] | None = Field(default=None, max_length=10_000)

    @model_validator(mode="after")
    def _one_form(self) -> PredictRequest:
        given = [x for x in (self.record, self.records, self.dataframe_records) if x is not None]
        if len(given) != 1:
            raise ValueError("send exactly one of 'record', 'records' or 'dataframe_records'")
        return self

    def rows(self) -> list[dict[str, Any]]:
        """The records, whichever form they came in."""
        if self.record is not None:
            return [self.record]
        return list(self.records if self.records is not None else self.dataframe_records or [])


class PredictionPublic(BaseModel):
    """One answer: the decision, its score, which model gave it and the id for feedback."""

    prediction_id: str
    prediction: float
    score: float | None
    model_version: int
    variant: str


class PredictResponse(BaseModel):
    """Answers in the order of the records."""

    predictions: list[PredictionPublic]


class LabelBase(BaseModel):
    """An actual outcome, tied to a prediction id or to an entity id."""

    prediction_id: str | None = None
    entity_id: str | None = None
    label: float
    label_at: datetime | None = Field(default=None, description="When it happened; default now.")

    @model_validator(mode="after")
    def _has_key(self) -> LabelBase:
        if self.prediction_id is None and self.entity_id is None:
            raise ValueError("a label needs 'prediction_id' or 'entity_id'")
        return self


class FeedbackCreate(BaseModel):
    """A batch of labels."""

    labels: list[LabelBase] = Field(min_length=1, max_length=100_000)


class FeedbackPublic(BaseModel):
    """How many labels were accepted (written durably, in the background)."""

    accepted: int


class ModelPublic(BaseModel):
    """A served model version."""

    version: int
    inputs: list[str]


class RolloutPublic(BaseModel):
    """The running rollout as the gateway applies it."""

    rollout_id: str
    stage_index: int
    stage: str
    challenger_traffic: float
    shadow: bool


class UsecasePublic(BaseModel):
    """What a use case serves now."""

    usecase: str
    champion: ModelPublic | None
    challenger: ModelPublic | None
    rollout: RolloutPublic | None
    split: dict[str, float]
    aliases: dict[str, int]
    error: str | None = None


class HealthPublic(BaseModel):
    """Liveness plus what is degraded."""

    status: str
    usecases: dict[str, int | None]
    database_ok: bool
    log_queue: dict[str, int]
    errors: dict[str, str]
