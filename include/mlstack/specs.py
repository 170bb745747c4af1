"""Use-case specs: ``include/usecases/<name>/usecase.yaml`` read into a typed, validated model.

A spec says who owns a use case, where its data comes from, the schema the data must
satisfy, and (in sections later stages fill) how to train, promote, roll out, monitor and
retrain. A wrong spec fails with the file, the field and what is allowed.

Long (~620 lines) because it is the whole spec format, one pydantic model per section; the
checks that need the plugin registry are in :mod:`mlstack.spec_check`.
"""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlstack import automation
from mlstack.automation import DEFAULT_LEVEL
from mlstack.exceptions import SpecError

ColumnType = Literal["string", "int", "float", "bool", "date", "timestamp", "category"]
# at most 56 characters: deploy mode's Airflow role ``usecase:<name>`` has at most 64
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,55}$")
SPEC_FILE = "usecase.yaml"
#: The folder, inside a use case's folder, that holds its own DAG files (``dags.own``).
OWN_DAGS_DIR = "dags"
# Schedules Airflow takes besides cron expressions (5 or 6 fields); the first two only for a
# DAG's own schedule, not for a cron timetable.
ONE_OFF_SCHEDULES = ("@once", "@continuous")
CRON_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")

log = logging.getLogger(__name__)
#: libyaml's safe loader when PyYAML has it (about 10x faster: specs are read at every DAG
#: parse), else the pure-Python one; both accept the same safe subset of YAML.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def check_schedule(value: str | None, *, one_off: bool = False) -> str | None:
    """``value`` if Airflow can schedule it (a cron expression or a preset), else ValueError."""
    from croniter import croniter

    if value is None:
        return None
    allowed = CRON_PRESETS + (ONE_OFF_SCHEDULES if one_off else ())
    if value in allowed or (not value.startswith("@") and croniter.is_valid(value)):
        return value
    raise ValueError(
        f"not a schedule Airflow understands; use a cron expression such as '0 3 * * *' "
        f"or one of {list(allowed)}, or null for none"
    )


def _not_reserved(names: Any, where: str) -> None:
    reserved = [n for n in names if str(n).startswith("_")]
    if reserved:
        raise ValueError(
            f"{where} {reserved}: names starting with '_' are reserved for ingestion metadata "
            "(_line, _source, _ingested_at, ...); rename the column"
        )


class _Strict(BaseModel):
    """Base model: unknown keys are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """One column: type, nullability, allowed range or categories."""

    type: ColumnType
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> ColumnSpec:
        if self.type == "category" and not self.categories:
            raise ValueError("a 'category' column needs a non-empty 'categories' list")
        if self.categories is not None and self.type not in ("category", "string"):
            raise ValueError("'categories' is only allowed on 'category' or 'string' columns")
        if (self.min is not None or self.max is not None) and self.type not in (
            "int",
            "float",
        ):
            raise ValueError("'min'/'max' are only allowed on 'int' or 'float' columns")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class SchemaSpec(_Strict):
    """The data contract of a dataset: columns and the roles some of them play."""

    columns: dict[str, ColumnSpec]
    id_column: str
    timestamp_column: str = Field(
        description="Date or timestamp column; the table's day partition."
    )
    target_column: str | None = None
    label_delay_days: int = Field(default=0, ge=0)
    extra_columns: Literal["error", "ignore"] = "error"
    max_type_error_ratio: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of unparsable values above which a column counts as a changed type.",
    )

    @model_validator(mode="after")
    def _roles_exist(self) -> SchemaSpec:
        _not_reserved(self.columns, "column name(s)")
        for role in ("id_column", "timestamp_column", "target_column"):
            name = getattr(self, role)
            if name is not None and name not in self.columns:
                raise ValueError(
                    f"{role} {name!r} is not a column; columns are: {sorted(self.columns)}"
                )
        if self.columns[self.timestamp_column].type not in ("date", "timestamp"):
            raise ValueError(
                f"timestamp_column {self.timestamp_column!r} must be date or timestamp"
            )
        return self


class SourceSpec(_Strict):
    """Where a dataset's raw data comes from: a source plugin and its options."""

    kind: str = Field(description="Name of a registered source plugin (files, sql, simulator).")
    options: dict[str, Any] = Field(default_factory=dict)
    empty_day: Literal["fail", "record"] = Field(
        default="fail",
        description="A day with no rows (a header-only file): fail the run and keep the "
        "table as it was, or record the day as empty (replacing what it held).",
    )


class LabelsSpec(_Strict):
    """Labels delivered separately from the features (e.g. weeks later, as their own files)."""

    source: SourceSpec
    timestamp_column: str = "label_date"
    columns: dict[str, ColumnSpec] | None = None

    @model_validator(mode="after")
    def _names_ok(self) -> LabelsSpec:
        _not_reserved([self.timestamp_column, *(self.columns or {})], "column name(s)")
        return self


class SimulatorSpec(_Strict):
    """Demo only: a simulator that lands each day's files before ingestion reads them."""

    plugin: str
    seed: int = 42
    rows_per_day: int = Field(default=2000, gt=0)
    start: date = date(2026, 1, 1)
    options: dict[str, Any] = Field(default_factory=dict)


class ModelSpec(_Strict):
    """The estimator: a registered ``models`` plugin name or an import path, and its params."""

    estimator: str = Field(
        description="Plugin name (e.g. hist_gradient_boosting) or import path "
        "(e.g. sklearn.ensemble.RandomForestClassifier)."
    )
    params: dict[str, Any] = Field(default_factory=dict)


class SplitSpec(_Strict):
    """Time-based split by whole days: oldest days train, then validation, newest holdout."""

    validation_days: int = Field(default=7, ge=1)
    holdout_days: int = Field(default=7, ge=1)
    window_days: int | None = Field(
        default=None, ge=1, description="Train on at most this many days before validation."
    )
    min_train_rows: int = Field(default=100, ge=1)


class CostMatrix(_Strict):
    """Business value of each decision outcome (positive = gain, negative = cost)."""

    tp: float = 0.0
    fp: float = 0.0
    fn: float = 0.0
    tn: float = 0.0


class TrainingSpec(_Strict):
    """How to train: estimator, features and transforms, split, metrics, business value."""

    schedule: str | None = Field(
        default=None, description="Cron or preset for scheduled training; None = on request only."
    )
    model: ModelSpec | None = None
    features: list[str] | None = Field(
        default=None, description="Input columns; default: every column but id, time and target."
    )
    transforms: list[str] = Field(
        default_factory=list, description="Names of ``transforms`` plugins applied in order."
    )
    split: SplitSpec = Field(default_factory=SplitSpec)
    primary_metric: str | None = Field(
        default=None, description="Metric promotion compares; default roc_auc or rmse by task."
    )
    metrics: list[str] = Field(default_factory=list)
    cost_matrix: CostMatrix | None = None
    threshold: float = Field(default=0.5, gt=0, lt=1, description="Decision threshold.")
    seed: int = 42
    experiment: str | None = Field(default=None, description="MLflow experiment; default: name.")

    @field_validator("schedule")
    @classmethod
    def _schedule_ok(cls, v: str | None) -> str | None:
        return check_schedule(v)


class SliceSpec(_Strict):
    """A slice gate: no value of ``column`` may lose more than ``tolerance`` of the metric."""

    column: str
    tolerance: float = Field(default=0.02, ge=0)
    min_rows: int = Field(default=100, ge=1)


class PromotionSpec(_Strict):
    """Gates a candidate must pass to become challenger (or champion when there is none)."""

    min_delta: float = Field(
        default=0.0, description="Required improvement of the primary metric over the champion."
    )
    min_score: float | None = Field(
        default=None, description="Absolute floor of the primary metric (also for a first model)."
    )
    slices: list[SliceSpec] = Field(default_factory=list)
    max_latency_ms: float = Field(
        default=100.0,
        gt=0,
        description="Budget of the median single-row prediction time, measured on one thread "
        "(the median, not p95: a shared CPU makes tail latency measure the neighbours).",
    )
    require_signature_match: bool = True
    require_approval: bool = False
    approval_timeout_hours: float = Field(default=24.0, gt=0)


class GuardrailSpec(_Strict):
    """Limits the challenger must respect during a rollout, whatever its primary metric."""

    max_error_rate: float = Field(default=0.01, ge=0, le=1, description="Failed share.")
    max_p99_latency_ms: float = Field(default=100.0, gt=0, description="Challenger p99 budget.")
    min_requests: int = Field(default=100, ge=1, description="Requests before guardrails judge.")


class RolloutSpec(_Strict):
    """How a challenger is rolled out: stages of traffic, evidence needed, test and guardrails.

    ``mode: shadow`` starts with a shadow stage (the challenger scores every request, the
    champion answers) before the A/B ``stages`` (challenger traffic shares, increasing).
    """

    mode: Literal["shadow", "ab"] = "ab"
    stages: list[float] = Field(default_factory=lambda: [0.1, 0.5])
    min_samples: int = Field(default=200, ge=1, description="Labelled rows per variant.")
    max_duration: timedelta = Field(default=timedelta(days=7), description="Per stage.")
    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="Always-valid error rate.")
    effect_size: float = Field(
        default=0.1, gt=0, description="Expected standardised effect (mSPRT mixture scale)."
    )
    srm_alpha: float = Field(
        default=0.001,
        gt=0,
        lt=0.5,
        description="Whole-rollout SRM level (anytime-valid test, split over the A/B stages).",
    )
    guardrails: GuardrailSpec = Field(default_factory=GuardrailSpec)
    poll_interval: timedelta = Field(default=timedelta(minutes=10))
    notifier: str = Field(default="log", description="A registered ``notifiers`` plugin.")
    notifier_options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("max_duration", "poll_interval")
    @classmethod
    def _positive(cls, v: timedelta) -> timedelta:
        if v <= timedelta(0):
            raise ValueError("must be a positive duration, e.g. P7D or PT10M")
        return v

    @field_validator("stages")
    @classmethod
    def _stages_ok(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("needs at least one stage (challenger traffic share, e.g. 0.1)")
        if any(not 0 < x < 1 for x in v) or v != sorted(set(v)):
            raise ValueError("stages are challenger shares in (0, 1), strictly increasing")
        return v


class NotifierSpec(_Strict):
    """Where alerts and retrain requests are sent: a ``notifiers`` plugin and its options."""

    kind: str = Field(description="Name of a registered notifiers plugin (log, webhook, ...).")
    options: dict[str, Any] = Field(default_factory=dict)
    on: list[Literal["alert", "retrain"]] = Field(default=["alert", "retrain"])


class MonitoringSpec(_Strict):
    """Daily monitoring: drift, quality, realised and estimated performance, business value."""

    schedule: str | None = Field(default="@daily", description="Cron or preset; None = off.")
    window_days: int = Field(default=1, ge=1, description="Days of logged requests per run.")
    drift_share: float = Field(
        default=0.5, gt=0, le=1, description="Share of drifted features that is dataset drift."
    )
    drift_methods: dict[str, Literal["wasserstein", "jensenshannon", "ks", "chisquare", "z"]] = (
        Field(default_factory=dict, description="Per-feature method overrides.")
    )
    drift_thresholds: dict[str, float] = Field(default_factory=dict)
    performance_drop: float = Field(
        default=0.03,
        ge=0,
        description="Alert when the primary metric (realised or estimated) is worse than the "
        "champion's holdout value by more than this (absolute).",
    )
    min_labels: int = Field(
        default=200, ge=1, description="Labelled rows needed before realised metrics count."
    )
    reference_rows: int = Field(
        default=200_000, ge=1000, description="Cap on reference rows read (sampled)."
    )
    report_sample_rows: int = Field(default=20_000, ge=100)
    reports: Literal["daily", "on_alert", "on_new_alert"] = Field(
        default="daily",
        description="When to render the Evidently drift report: every monitored day, only "
        "on days with an alert, or only on days with an alert the day before did not have (a "
        "new kind, a newly drifted feature, estimated then realised): a report costs seconds "
        "of CPU whatever the window size, and a lasting alert would repeat the same report.",
    )
    skew_threshold: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Alert on training-serving skew when more than this share of the logged "
        "ids has a feature value different from the lake's row of the same id.",
    )
    skew_sample_rows: int = Field(
        default=10_000, ge=100, description="Logged ids compared with the lake per run."
    )
    notifiers: list[NotifierSpec] = Field(default_factory=lambda: [NotifierSpec(kind="log")])

    @field_validator("schedule")
    @classmethod
    def _schedule_ok(cls, v: str | None) -> str | None:
        return check_schedule(v)


class RetrainingSpec(_Strict):
    """When monitoring may ask for a new model: evidence of a drop, fresh labels, cooldown, budget.

    Drift alone never retrains; it raises an alert with a root-cause summary.
    """

    enabled: bool = True
    metric: str | None = Field(
        default=None,
        description="Metric the policy watches: roc_auc, accuracy, precision, recall, f1, "
        "business_value_per_row (classification), mae, rmse (regression); default: the "
        "primary metric (roc_auc for pr_auc/log_loss/brier, rmse for r2).",
    )
    metric_drop: float = Field(
        default=0.03, ge=0, description="Drop of the metric vs the champion's holdout value."
    )
    min_labels: int = Field(
        default=1000, ge=1, description="Labelled rows a realised drop must rest on."
    )
    sustained_days: int = Field(
        default=3, ge=1, description="Days an estimated drop must last without labels."
    )
    min_fresh_labels: int = Field(
        default=1000,
        ge=0,
        description="Labels dated on or after the change a new model needs to learn from.",
    )
    cooldown_days: int = Field(default=7, ge=0)
    max_per_30_days: int = Field(default=2, ge=0, description="Budget of retrains.")


class AutomationSpec(_Strict):
    """Single switches over the maturity level's automation (null = what the level says).

    See :mod:`mlstack.automation` for the level table and the combinations refused.
    """

    scheduled_ingest: bool | None = Field(
        default=None, description="Run the data pipeline on ``schedule`` (level 2+)."
    )
    scheduled_training: bool | None = Field(
        default=None, description="Train on ``training.schedule`` (level 3+)."
    )
    gated_promotion: bool | None = Field(
        default=None, description="Gate each new candidate as training emits it (level 3+)."
    )
    ab_rollout: bool | None = Field(
        default=None, description="Roll out each new challenger as promotion emits it (4+)."
    )
    retrain_on_monitoring: bool | None = Field(
        default=None, description="Train when the monitor's retrain policy asks (level 5)."
    )

    def overrides(self) -> dict[str, bool | None]:
        """The switches as set in the spec (None = not set)."""
        return self.model_dump()


Stage = Literal["ingest", "catalog", "train", "promote", "rollout", "monitor"]


class ExtraTaskSpec(_Strict):
    """A ``tasks`` plugin (registered in hooks.py or a package) placed before or after a
    stage's tasks in that stage's generated DAG."""

    task: str = Field(description="Name of a registered ``tasks`` plugin.")
    before: Stage | None = None
    after: Stage | None = None
    options: dict[str, Any] = Field(default_factory=dict, description="Passed to the task.")

    @model_validator(mode="after")
    def _one_place(self) -> ExtraTaskSpec:
        if (self.before is None) == (self.after is None):
            raise ValueError(
                f"task {self.task!r} needs exactly one of 'before' or 'after' (a stage: "
                "ingest, catalog, train, promote, rollout, monitor)"
            )
        return self

    @property
    def stage(self) -> str:
        """The stage whose DAG runs the task."""
        return str(self.before or self.after)

    @property
    def position(self) -> Literal["before", "after"]:
        """``before`` or ``after`` the stage's own tasks."""
        return "before" if self.before else "after"

    @property
    def task_id(self) -> str:
        """Its task id in the DAG: ``before_promote__fairness_check``."""
        return f"{self.position}_{self.stage}__{self.task}"


#: an Airflow pool or Celery queue name
POOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,255}$")


class StageRunSpec(_Strict):
    """How Airflow runs one stage's tasks: retries, their delay, a time limit, a pool and a
    queue (e.g. a ``training`` queue served by bigger Celery workers). Unset fields keep
    mlstack's defaults (2 retries a minute apart; the stage's own time limit)."""

    retries: int | None = Field(default=None, ge=0, le=20)
    retry_delay: timedelta | None = Field(default=None, description="ISO 8601, e.g. PT5M.")
    execution_timeout: timedelta | None = Field(default=None, description="ISO 8601, e.g. PT2H.")
    pool: str | None = Field(default=None, description="An Airflow pool (create it in Airflow).")
    queue: str | None = Field(default=None, description="The executor queue (CeleryExecutor).")

    @field_validator("retry_delay", "execution_timeout")
    @classmethod
    def _positive(cls, v: timedelta | None) -> timedelta | None:
        if v is not None and v <= timedelta(0):
            raise ValueError("must be a positive duration, e.g. PT10M")
        return v

    @field_validator("pool", "queue")
    @classmethod
    def _name_ok(cls, v: str | None) -> str | None:
        if v is not None and not POOL_RE.match(v):
            raise ValueError(f"{v!r} is not a pool or queue name: letters, digits and '_.-'")
        return v

    def task_args(self) -> dict[str, Any]:
        """The operator arguments this sets (Airflow's names), nothing for unset fields."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


#: a hand-written DAG's name: its DAG id is ``<usecase>__<name>``
DAG_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class DagsSpec(_Strict):
    """Which DAGs run the use case: the stage DAGs the factory generates (the default), or,
    when ``own`` names any, only the hand-written DAGs of the files in the use case's folder
    (``<usecase>/dags/*.py``, loaded by ``dags/mlstack_dags.py``) that compose mlstack's
    stage tasks (:mod:`mlstack.airflow.stages`) — the factory then
    generates none for it, so no stage runs twice."""

    own: list[str] = Field(
        default_factory=list,
        description="Names of the use case's hand-written DAGs (DAG id <usecase>__<name>); "
        "non-empty: no generated DAGs.",
    )

    @field_validator("own")
    @classmethod
    def _names_ok(cls, v: list[str]) -> list[str]:
        bad = [n for n in v if not DAG_NAME_RE.match(n)]
        if bad:
            raise ValueError(
                f"DAG names {bad} are not allowed: lower_snake_case, a letter first, at most "
                "40 characters (the DAG id is <usecase>__<name>)"
            )
        return _no_duplicates(v, "DAG names")


#: an Airflow login (``mlstack users add``): letters, digits and ``._@+-``, at most 64
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
#: a group of Airflow users: its role ``group:<name>`` must fit Airflow's 64-character role names
GROUP_RE = re.compile(r"^[a-z][a-z0-9_-]{0,57}$")


def _no_duplicates(names: list[str], what: str) -> list[str]:
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{what} {twice} listed twice; name each once")
    return names


class TeamSpec(_Strict):
    """Who may see and run the use case when Airflow has real logins (deploy mode): its DAGs
    (read, trigger, clear) and its monitoring and catalog pages. Nobody else but admins."""

    users: list[str] = Field(default_factory=list, description="Airflow user names.")
    groups: list[str] = Field(
        default_factory=list, description="Groups: `mlstack users add NAME --group GROUP`."
    )

    @field_validator("users")
    @classmethod
    def _users_ok(cls, v: list[str]) -> list[str]:
        bad = [u for u in v if not USERNAME_RE.match(u)]
        if bad:
            raise ValueError(
                f"user names {bad} are not Airflow logins: letters, digits and '._@+-', "
                "starting with a letter or digit, at most 64 characters"
            )
        return _no_duplicates(v, "users")

    @field_validator("groups")
    @classmethod
    def _groups_ok(cls, v: list[str]) -> list[str]:
        bad = [g for g in v if not GROUP_RE.match(g)]
        if bad:
            raise ValueError(
                f"group names {bad} are not allowed: lower case, a letter first, then letters, "
                "digits, '_' or '-', at most 58 characters"
            )
        return _no_duplicates(v, "groups")


class UseCaseSpec(_Strict):
    """A whole use case. ``training`` ... ``retraining`` are filled by later stages."""

    name: str
    owner: str
    team: TeamSpec = Field(default_factory=TeamSpec)
    description: str
    tags: list[str] = Field(default_factory=list)
    task: Literal["classification", "regression"]
    schedule: str | None = "@daily"
    source: SourceSpec
    schema_: SchemaSpec = Field(alias="schema")
    labels: LabelsSpec | None = None
    simulator: SimulatorSpec | None = None
    hooks: str | None = Field(default=None, description="Python file of hooks, relative to spec.")
    maturity: int = Field(
        default=DEFAULT_LEVEL,
        ge=1,
        le=5,
        description="MLOps maturity level 1-5: which stages run by themselves (see "
        "mlstack.automation); monitoring runs at every level.",
    )
    automation: AutomationSpec = Field(default_factory=AutomationSpec)
    tasks: list[ExtraTaskSpec] = Field(
        default_factory=list, description="Extra tasks placed before/after a stage."
    )
    dags: DagsSpec = Field(
        default_factory=DagsSpec,
        description="Generated stage DAGs (default) or the use case's own hand-written ones.",
    )
    stages: dict[Stage, StageRunSpec] = Field(
        default_factory=dict,
        description="Per stage: retries, retry_delay, execution_timeout, pool, queue.",
    )
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    promotion: PromotionSpec = Field(default_factory=PromotionSpec)
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    retraining: RetrainingSpec = Field(default_factory=RetrainingSpec)
    path: Path | None = Field(default=None, exclude=True, description="Where the spec was read.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("schedule")
    @classmethod
    def _schedule_ok(cls, v: str | None) -> str | None:
        return check_schedule(v, one_off=True)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(
                "must be lower_snake_case: a letter, then letters, digits or '_' (max 56: its "
                "Airflow role usecase:<name> must fit Airflow's 64 characters)"
            )
        return v

    @model_validator(mode="after")
    def _training_refs_exist(self) -> UseCaseSpec:
        """Columns named by ``training`` and ``promotion`` must be schema columns."""
        cols = self.schema_.columns
        named = [("training.features", c) for c in self.training.features or []]
        named += [("promotion.slices.column", s.column) for s in self.promotion.slices]
        for field, col in named:
            if col not in cols:
                raise ValueError(f"{field} {col!r} is not a column; columns are: {sorted(cols)}")
        if self.training.cost_matrix is not None and self.task != "classification":
            raise ValueError("training.cost_matrix is only for classification use cases")
        return self

    @model_validator(mode="after")
    def _automation_consistent(self) -> UseCaseSpec:
        """The maturity level, its overrides and the schedules must make sense together."""
        problems = automation.conflicts(self)
        ids = [t.task_id for t in self.tasks]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        problems += [f"tasks: {i} is placed twice" for i in twice]
        if self.dags.own and self.tasks:
            problems.append(
                f"tasks: places extra tasks in the generated DAGs, but dags.own "
                f"{self.dags.own} means none are generated; call your task in your own DAG "
                "(a plain @task between the stage tasks) and remove tasks:"
            )
        if problems:
            raise ValueError("\n    ".join(problems))
        return self

    def switches(self) -> dict[str, bool]:
        """Every automation switch as this use case has it (level, then overrides)."""
        return automation.effective(self.maturity, self.automation.overrides())

    @property
    def generated_dags(self) -> bool:
        """Whether the DAG factory generates this use case's stage DAGs (no ``dags.own``)."""
        return not self.dags.own

    def own_dag_ids(self) -> list[str]:
        """The DAG ids of the use case's hand-written DAGs: ``<usecase>__<name>``."""
        return [f"{self.name}__{n}" for n in self.dags.own]

    def own_dag_files(self) -> list[Path]:
        """The use case's own DAG files, shipped in its folder: ``dags/*.py`` by name, but
        those whose name starts with ``_`` (helpers the files may share)."""
        if self.folder is None:
            return []
        found = (self.folder / OWN_DAGS_DIR).glob("*.py")
        return sorted(p for p in found if not p.name.startswith("_"))

    def extra_tasks(self, stage: str, position: str) -> list[ExtraTaskSpec]:
        """The extra tasks placed ``position`` (before/after) ``stage``, in spec order."""
        return [t for t in self.tasks if t.stage == stage and t.position == position]

    @property
    def schema(self) -> SchemaSpec:  # type: ignore[override]
        """The dataset schema (``schema`` in YAML)."""
        return self.schema_

    @property
    def folder(self) -> Path | None:
        """The use case's folder (where usecase.yaml and hooks.py live)."""
        return self.path.parent if self.path else None

    def datasets(self) -> list[str]:
        """Names of the datasets this use case ingests: features, and labels if separate."""
        return ["features", "labels"] if self.labels else ["features"]

    def table_name(self, dataset: str = "features") -> str:
        """Iceberg table name of a dataset (namespace excluded)."""
        return self.name if dataset == "features" else f"{self.name}_{dataset}"

    def label_schema(self) -> SchemaSpec:
        """Schema of the separately delivered labels: id, target and the label date."""
        sch = self.schema
        target = sch.target_column
        if self.labels is None or target is None:
            raise SpecError(f"{self.path}: use case {self.name!r} has no separate labels")
        cols = dict(self.labels.columns or {})
        cols.setdefault(
            sch.id_column, sch.columns[sch.id_column].model_copy(update={"nullable": False})
        )
        cols.setdefault(target, sch.columns[target].model_copy(update={"nullable": False}))
        cols.setdefault(self.labels.timestamp_column, ColumnSpec(type="date", nullable=False))
        return SchemaSpec(
            columns=cols,
            id_column=sch.id_column,
            timestamp_column=self.labels.timestamp_column,
            target_column=sch.target_column,
        )

    def dataset_schema(self, dataset: str) -> SchemaSpec:
        """The schema a dataset's rows are validated against.

        With separate labels the features arrive without the target column.
        """
        if dataset != "features":
            return self.label_schema()
        target = self.schema.target_column
        if self.labels is None or target is None:
            return self.schema
        cols = {k: v for k, v in self.schema.columns.items() if k != target}
        return self.schema.model_copy(update={"columns": cols, "target_column": None})

    def dataset_source(self, dataset: str) -> SourceSpec:
        """The source a dataset is read from."""
        if dataset == "features":
            return self.source
        if dataset == "labels" and self.labels is not None:
            return self.labels.source
        raise SpecError(
            f"use case {self.name!r} has no dataset {dataset!r}; it has {self.datasets()}"
        )


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at ``loc`` (the parent of an unknown key), walking the spec models."""
    current: Any = UseCaseSpec
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {(f.alias or n): f.annotation for n, f in current.model_fields.items()}
            current = fields.get(str(part))
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
        args = [a for a in get_args(current) if a is not type(None)]
        if get_origin(current) is not dict and args:
            current = args[0]
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted((f.alias or n) for n, f in current.model_fields.items() if n != "path")
    return []


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid use-case spec ({exc.error_count()} problem(s)):"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(tuple(err["loc"][:-1]))
            msg = f"unknown key; allowed keys here: {allowed}" if allowed else msg
        got = err.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
        lines.append(f"  - {loc}: {msg}{shown}")
    return "\n".join(lines)


def _overrides_for(name: str) -> dict[str, Any]:
    """The settings' spec overrides of use case ``name`` ({} when none)."""
    from mlstack.settings import get_settings

    return dict(get_settings().spec_overrides.get(name) or {})


def merge_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with ``overrides`` merged in: mappings key by key, anything else replaced."""
    out = dict(raw)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_overrides(out[key], value)
        else:
            out[key] = value
    return out


def _leaves(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the values an override sets (for the log line)."""
    paths = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            paths += _leaves(value, f"{prefix}{key}.")
        else:
            paths.append(f"{prefix}{key}")
    return paths


def load_spec(path: str | Path) -> UseCaseSpec:
    """Read and validate one usecase.yaml; raise SpecError naming file, field and fix.

    Sections in the settings' ``spec_overrides`` (``MLSTACK_SPEC_OVERRIDES``) for this use
    case are merged over the file first, e.g. a test-sized rollout for the compose e2e.
    """
    path = Path(path)
    if path.is_dir():
        path = path / SPEC_FILE
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except FileNotFoundError as exc:
        raise SpecError(f"{path}: no such spec file; a use case needs {SPEC_FILE}") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    overrides = _overrides_for(path.parent.name)
    if overrides:
        raw = merge_overrides(raw, overrides)
        log.info("Spec %s: MLSTACK_SPEC_OVERRIDES sets %s", path, sorted(_leaves(overrides)))
    try:
        spec = UseCaseSpec.model_validate({**raw, "path": path.resolve()})
    except ValidationError as exc:
        message = _format_errors(path, exc)
        if overrides:
            message += f"\n  (with MLSTACK_SPEC_OVERRIDES for {path.parent.name}: {overrides})"
        raise SpecError(message) from exc
    if spec.name != path.parent.name:
        raise SpecError(
            f"{path}: name {spec.name!r} must match its folder name {path.parent.name!r}"
        )
    return spec


def discover(usecases_dir: str | Path) -> tuple[dict[str, UseCaseSpec], dict[str, SpecError]]:
    """Load every ``<dir>/*/usecase.yaml``; return valid specs and, apart, the errors by folder."""
    specs: dict[str, UseCaseSpec] = {}
    errors: dict[str, SpecError] = {}
    root = Path(usecases_dir)
    for spec_file in sorted(root.glob(f"*/{SPEC_FILE}")):
        try:
            spec = load_spec(spec_file)
        except SpecError as exc:
            errors[spec_file.parent.name] = exc
            continue
        specs[spec.name] = spec
    from mlstack.settings import get_settings

    unknown = sorted(set(get_settings().spec_overrides) - set(specs) - set(errors))
    if unknown:
        log.warning(
            "MLSTACK_SPEC_OVERRIDES names use cases %s that %s does not have; ignored",
            unknown,
            root,
        )
    return specs, errors


def get_spec(name: str, usecases_dir: str | Path | None = None) -> UseCaseSpec:
    """Load the spec of one use case by name, or fail listing the known ones."""
    if usecases_dir is None:
        from mlstack.settings import get_settings

        usecases_dir = get_settings().usecases_dir
    path = Path(usecases_dir) / name / SPEC_FILE
    if not path.exists():
        known = sorted(p.parent.name for p in Path(usecases_dir).glob(f"*/{SPEC_FILE}"))
        raise SpecError(f"unknown use case {name!r} in {usecases_dir}; known: {known}")
    return load_spec(path)
