"""The mlstack database: engine and the tables mlstack owns (SQLite or Postgres).

Tables are declared here, in one metadata, so every stage shares one definition. Stages own
what they write; this module owns the shapes. A change to a table here needs a revision in
:mod:`mlstack.migrations` (a test compares this metadata with the newest revision's schema);
the first use of a database in a process brings it to that revision.
"""

from __future__ import annotations

import os
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlstack import migrations
from mlstack.settings import Settings, get_settings

metadata = sa.MetaData()

#: One row per dataset (an Iceberg table) the catalog knows.
datasets = sa.Table(
    "catalog_datasets",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("usecase", sa.String(100), nullable=False, index=True),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("table_identifier", sa.String(300), nullable=False),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

#: One row per dataset version (an Iceberg snapshot the catalog recorded).
versions = sa.Table(
    "catalog_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset", sa.String(200), sa.ForeignKey("catalog_datasets.name"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("snapshot_id", sa.BigInteger, nullable=False),
    sa.Column("partition", sa.String(100), nullable=True),
    sa.Column("operation", sa.String(50), nullable=False),
    sa.Column("total_rows", sa.BigInteger, nullable=False),
    sa.Column("partition_rows", sa.BigInteger, nullable=False),
    sa.Column("rejected_rows", sa.BigInteger, nullable=False),
    sa.Column("schema", sa.JSON, nullable=False),
    sa.Column("schema_changes", sa.JSON, nullable=False),
    sa.Column("stats", sa.JSON, nullable=False),
    sa.Column("producer", sa.String(300), nullable=False),
    sa.Column("snapshot_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("dataset", "snapshot_id", name="uq_version_snapshot"),
    sa.UniqueConstraint("dataset", "version", name="uq_version_number"),
)

#: Lineage edges: ``source`` -[relation]-> ``target``, e.g. job -produced-> dataset version.
lineage = sa.Table(
    "catalog_lineage",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(400), nullable=False, index=True),
    sa.Column("relation", sa.String(50), nullable=False),
    sa.Column("target", sa.String(400), nullable=False, index=True),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("source", "relation", "target", name="uq_lineage_edge"),
)


#: Every registry decision with its evidence: gate results, overrides and rollbacks.
promotion_decisions = sa.Table(
    "promotion_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("usecase", sa.String(100), nullable=False, index=True),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("action", sa.String(20), nullable=False),  # gates | override | rollback
    sa.Column("outcome", sa.String(20), nullable=False),  # champion | challenger | refused
    sa.Column("compared_with", sa.Integer, nullable=True),  # champion at decision time
    sa.Column("previous_champion", sa.Integer, nullable=True),  # to roll back to
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("gates", sa.JSON, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("digest", sa.String(64), nullable=True),  # the promoted files' (mlstack.integrity)
)


#: mlstack's record of the MLflow registry: each version mlstack registered, with its tags
#: as mlstack set them (written beside every registry write; read by the lists that must not
#: load MLflow, see :mod:`mlstack.model_records`).
registry_versions = sa.Table(
    "registry_versions",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

#: The aliases mlstack last moved: one row per (model, alias).
registry_aliases = sa.Table(
    "registry_aliases",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("alias", sa.String(50), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


#: Every prediction the gateway answered or scored in shadow (written in batches, off-path).
predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("prediction_id", sa.String(36), primary_key=True),
    sa.Column("usecase", sa.String(100), nullable=False),
    sa.Column("entity_id", sa.String(200), nullable=True),
    sa.Column("rollout_id", sa.String(36), nullable=True, index=True),
    sa.Column("rollout_stage", sa.Integer, nullable=True),  # stage the gateway applied
    sa.Column("variant", sa.String(20), nullable=False),  # champion | challenger | shadow
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("features", sa.JSON, nullable=False),
    sa.Column("prediction", sa.Float, nullable=False),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_predictions_usecase_created", "usecase", "created_at"),
    sa.Index("ix_predictions_usecase_entity", "usecase", "entity_id"),
)

#: Labels (actuals) sent back to the gateway, by prediction id or entity id, maybe weeks later.
#: One label per prediction (``usecase``, ``prediction_id``) and, for labels sent without a
#: prediction id, one per (``usecase``, ``entity_id``, ``label_at``): two partial unique
#: indexes, because a plain one treats NULLs as distinct and would let those through.
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("usecase", sa.String(100), nullable=False),
    sa.Column("prediction_id", sa.String(36), nullable=True, index=True),
    sa.Column("entity_id", sa.String(200), nullable=True),
    sa.Column("label", sa.Float, nullable=False),
    sa.Column("label_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_feedback_usecase_entity", "usecase", "entity_id"),
)
FEEDBACK_BY_PREDICTION = sa.text("prediction_id IS NOT NULL")
FEEDBACK_BY_ENTITY = sa.text("prediction_id IS NULL")
sa.Index(
    "uq_feedback_prediction",
    feedback.c.usecase,
    feedback.c.prediction_id,
    unique=True,
    sqlite_where=FEEDBACK_BY_PREDICTION,
    postgresql_where=FEEDBACK_BY_PREDICTION,
)
sa.Index(
    "uq_feedback_entity_label_at",
    feedback.c.usecase,
    feedback.c.entity_id,
    feedback.c.label_at,
    unique=True,
    sqlite_where=FEEDBACK_BY_ENTITY,
    postgresql_where=FEEDBACK_BY_ENTITY,
)

#: Requests a model failed to score (the challenger's error-rate guardrail reads these).
prediction_errors = sa.Table(
    "prediction_errors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("usecase", sa.String(100), nullable=False),
    sa.Column("rollout_id", sa.String(36), nullable=True, index=True),
    sa.Column("rollout_stage", sa.Integer, nullable=True),
    sa.Column("variant", sa.String(20), nullable=False),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

#: One row per rollout of a challenger; the gateway reads the running one for its split.
rollouts = sa.Table(
    "rollouts",
    metadata,
    sa.Column("rollout_id", sa.String(36), primary_key=True),
    sa.Column("usecase", sa.String(100), nullable=False, index=True),
    sa.Column("champion_version", sa.Integer, nullable=True),
    sa.Column("challenger_version", sa.Integer, nullable=False),
    sa.Column("stages", sa.JSON, nullable=False),  # [{"name", "traffic", "shadow"}, ...]
    sa.Column("stage_index", sa.Integer, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # running, promoted, rolled_back, halted
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("stage_started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
)

#: Every look at a rollout's evidence: the action taken, why, the evidence and its report.
rollout_decisions = sa.Table(
    "rollout_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rollout_id", sa.String(36), nullable=False, index=True),
    sa.Column("usecase", sa.String(100), nullable=False),
    sa.Column("stage_index", sa.Integer, nullable=False),
    sa.Column("action", sa.String(20), nullable=False),  # wait|next_stage|promote|rollback|halt
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("report_uri", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


#: Monitoring time series: one value per use case, model version, day, metric (and feature).
#: ``variant`` says what the version was on that day: ``champion``, ``challenger`` (while a
#: rollout runs) or ``previous_champion``; rows written before the column existed were the
#: champion's (migration 0005 backfilled them).
monitoring_metrics = sa.Table(
    "monitoring_metrics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("usecase", sa.String(100), nullable=False),
    sa.Column("model_version", sa.Integer, nullable=True),
    sa.Column("variant", sa.String(20), nullable=False, server_default="champion"),
    sa.Column("run_date", sa.Date, nullable=False),
    sa.Column("metric", sa.String(100), nullable=False),  # e.g. drift_score, estimated_roc_auc
    sa.Column("feature", sa.String(200), nullable=True),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("threshold", sa.Float, nullable=True),
    sa.Column("alert", sa.Boolean, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_monitoring_metrics_series", "usecase", "metric", "run_date"),
)

#: Alerts raised by monitoring runs (drift, quality, performance), with a root-cause summary.
monitoring_alerts = sa.Table(
    "monitoring_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("usecase", sa.String(100), nullable=False, index=True),
    sa.Column("model_version", sa.Integer, nullable=True),
    sa.Column("run_date", sa.Date, nullable=False),
    sa.Column("kind", sa.String(50), nullable=False),  # drift | quality | performance | retrain
    sa.Column("severity", sa.String(20), nullable=False),  # info | warning | critical
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("report_uri", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

#: Every retrain-policy decision with its evidence (``decision`` = retrain only when sent).
retrain_requests = sa.Table(
    "retrain_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("usecase", sa.String(100), nullable=False, index=True),
    sa.Column("model_version", sa.Integer, nullable=True),
    sa.Column("run_date", sa.Date, nullable=False),
    sa.Column("decision", sa.String(20), nullable=False),  # none | alert | blocked | retrain
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


#: Gateway API keys: only the SHA-256 of each key is kept; the key itself is shown once.
gateway_keys = sa.Table(
    "gateway_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("key_sha256", sa.String(64), nullable=False),
    sa.Column("usecases", sa.JSON, nullable=False),  # names, or ["*"] for every use case
    sa.Column("scopes", sa.JSON, nullable=False),  # subset of ["predict", "feedback"]
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

#: The digest (SHA-256 manifest of its artifact files) of each model version mlstack
#: registered or promoted; a version without one is never loaded (see mlstack.integrity).
model_digests = sa.Table(
    "model_digests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("usecase", sa.String(100), nullable=False),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("manifest", sa.JSON, nullable=False),  # {relative path: sha256}
    sa.Column("recorded_by", sa.String(50), nullable=False),  # train | promote
    sa.Column("decision_id", sa.Integer, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_model_digests_version", "usecase", "model_version"),
)


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(url.removeprefix("sqlite:///")) or ".", exist_ok=True)
        return sa.create_engine(url, connect_args={"timeout": 30})
    return sa.create_engine(url, pool_pre_ping=True)


def engine(settings: Settings | None = None, *, create: bool = True) -> Engine:
    """The engine of the mlstack database; on first use in a process (``create``) brings its
    tables to the newest revision (:func:`init_tables`)."""
    s = settings or get_settings()
    eng = _engine(s.database_url)
    if create:
        init_tables(eng)
    return eng


_initialised: set[str] = set()


def init_tables(eng: Engine) -> None:
    """Create mlstack's tables, or migrate them to the newest revision
    (:func:`mlstack.migrations.ensure_current`). Once per process and URL."""
    key = str(eng.url)
    if key in _initialised:
        return
    migrations.ensure_current(eng, metadata)
    _initialised.add(key)
