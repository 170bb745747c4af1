"""Request and response bodies of the gateway (``XBase`` / ``XCreate`` / ``XPublic``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlstack import store

MAX_RECORDS = 10_000
MAX_LABELS = 100_000
PREDICTION_ID_CHARS = int(store.feedback.c.prediction_id.type.length)  # type: ignore[attr-defined]
ENTITY_ID_CHARS = int(store.feedback.c.entity_id.type.length)  # type: ignore[attr-defined]

RECORD_DOC = (
    "One input row: the use case's id column (a string or a 64-bit integer, at most 200 "
    "characters, used to assign champion or challenger) and the served model's input "
    "fields, named and typed as in its MLflow signature (`GET /v1/{usecase}` lists them). "
    "Numbers must be finite (no NaN/Infinity, integers within 64 bits); strings hold at "
    "most 1000 characters and no NUL; where the use-case spec lists a column's categories, "
    "only those are accepted. Any other field is refused (400 naming it)."
)
Record = dict[str, Any]  # values checked by InputRules, which names the field


class PredictRequest(BaseModel):
    """One record (``record``) or a batch (``records``); ``dataframe_records`` is accepted too,
    so a body written for ``mlflow models serve`` works unchanged."""

    model_config = ConfigDict(extra="forbid")

    record: Record | None = Field(default=None, description=RECORD_DOC)
    records: list[Record] | None = Field(
        default=None, min_length=1, max_length=MAX_RECORDS, description="A batch of records."
    )
    dataframe_records: list[Record] | None = Field(
        default=None, min_length=1, max_length=MAX_RECORDS, description="Same as `records`."
    )

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


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class LabelBase(BaseModel):
    """An actual outcome, tied to a prediction id or to an entity id.

    A label sent again for the same prediction replaces the stored one (the last received
    wins); without a prediction id, the same holds per entity id and ``label_at``.
    """

    model_config = ConfigDict(extra="forbid")

    prediction_id: str | None = Field(
        default=None, min_length=1, max_length=PREDICTION_ID_CHARS, description="From /predict."
    )
    entity_id: str | None = Field(
        default=None, min_length=1, max_length=ENTITY_ID_CHARS, description="The id column's value."
    )
    label: float = Field(allow_inf_nan=False, description="The actual outcome; finite.")
    label_at: datetime | None = Field(default=None, description="When it happened; default now.")

    _nul = field_validator("prediction_id", "entity_id")(_no_nul)

    @field_validator("entity_id", mode="before")
    @classmethod
    def _int_id(cls, v: object) -> object:
        """Entity ids sent as JSON integers are stored as their decimal text."""
        return str(v) if type(v) is int and -(2**63) <= v < 2**63 else v

    @model_validator(mode="after")
    def _has_key(self) -> LabelBase:
        if self.prediction_id is None and self.entity_id is None:
            raise ValueError("a label needs 'prediction_id' or 'entity_id'")
        return self


class FeedbackCreate(BaseModel):
    """A batch of labels."""

    model_config = ConfigDict(extra="forbid")

    labels: list[LabelBase] = Field(min_length=1, max_length=MAX_LABELS)


class FeedbackPublic(BaseModel):
    """How many labels were accepted, and where they are now."""

    accepted: int
    detail: str = Field(
        default="",
        description="Where the labels are when this answer is sent: in the gateway's local "
        "journal on disk; the database receives them in the background.",
    )


class ErrorItem(BaseModel):
    """One reason a request was refused; ``loc`` ends with the offending field."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorPublic(BaseModel):
    """A refused request: a list of reasons (400) or one sentence (404, 413, 503)."""

    detail: list[ErrorItem] | str


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
    """Liveness plus what is degraded.

    ``failing`` (HTTP 503): answers cannot be logged durably (log writer or journal down, or
    the disk refuses). ``degraded`` (200): serving, but something needs attention (database
    down and rows spooling, spool not draining, a model missing or not refreshable).
    """

    status: str
    usecases: dict[str, int | None]
    database_ok: bool
    log_writer_alive: bool
    log_queue: dict[str, int]
    rejected_rows: int = Field(description="Rows the database refused, set aside in the spool.")
    problems: list[str]
    errors: dict[str, str]
