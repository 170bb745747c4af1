"""Baseline: mlstack's tables as the previous release (commit 7835cca) created them.

No release was tagged before migrations existed; 7835cca is the baseline the benchmarks
name. A database from then without a version table is stamped here, then upgraded
(:func:`mlstack.migrations.upgrade`). Generated from 7835cca's ``store.metadata``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the 12 tables of 7835cca with their indexes and constraints."""
    op.create_table(
        "catalog_datasets",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("usecase", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("table_identifier", sa.String(length=300), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index(
        op.f("ix_catalog_datasets_usecase"), "catalog_datasets", ["usecase"], unique=False
    )
    op.create_table(
        "catalog_lineage",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=400), nullable=False),
        sa.Column("relation", sa.String(length=50), nullable=False),
        sa.Column("target", sa.String(length=400), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "relation", "target", name="uq_lineage_edge"),
    )
    op.create_index(op.f("ix_catalog_lineage_source"), "catalog_lineage", ["source"], unique=False)
    op.create_index(op.f("ix_catalog_lineage_target"), "catalog_lineage", ["target"], unique=False)
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("usecase", sa.String(length=100), nullable=False),
        sa.Column("prediction_id", sa.String(length=36), nullable=True),
        sa.Column("entity_id", sa.String(length=200), nullable=True),
        sa.Column("label", sa.Float(), nullable=False),
        sa.Column("label_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_feedback_prediction_id"), "feedback", ["prediction_id"], unique=False)
    op.create_index(
        "ix_feedback_usecase_entity", "feedback", ["usecase", "entity_id"], unique=False
    )
    op.create_table(
        "monitoring_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("usecase", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("report_uri", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_monitoring_alerts_usecase"), "monitoring_alerts", ["usecase"], unique=False
    )
    op.create_table(
        "monitoring_metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("usecase", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("variant", sa.String(length=20), nullable=True),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("feature", sa.String(length=200), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("alert", sa.Boolean(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_monitoring_metrics_series",
        "monitoring_metrics",
        ["usecase", "metric", "run_date"],
        unique=False,
    )
    op.create_table(
        "prediction_errors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("usecase", sa.String(length=100), nullable=False),
        sa.Column("rollout_id", sa.String(length=36), nullable=True),
        sa.Column("rollout_stage", sa.Integer(), nullable=True),
        sa.Column("variant", sa.String(length=20), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_prediction_errors_rollout_id"), "prediction_errors", ["rollout_id"], unique=False
    )
    op.create_table(
        "predictions",
        sa.Column("prediction_id", sa.String(length=36), nullable=False),
        sa.Column("usecase", sa.String(length=100), nullable=False),
        sa.Column("entity_id", sa.String(length=200), nullable=True),
        sa.Column("rollout_id", sa.String(length=36), nullable=True),
        sa.Column("rollout_stage", sa.Integer(), nullable=True),
        sa.Column("variant", sa.String(length=20), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("prediction", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("prediction_id"),
    )
    op.create_index(op.f("ix_predictions_rollout_id"), "predictions", ["rollout_id"], unique=False)
    op.create_index(
        "ix_predictions_usecase_created", "predictions", ["usecase", "created_at"], unique=False
    )
    op.create_index(
        "ix_predictions_usecase_entity", "predictions", ["usecase", "entity_id"], unique=False
    )
    op.create_table(
        "promotion_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("usecase", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("compared_with", sa.Integer(), nullable=True),
        sa.Column("previous_champion", sa.Integer(), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("gates", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_promotion_decisions_usecase"), "promotion_decisions", ["usecase"], unique=False
    )
    op.create_table(
        "retrain_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("usecase", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_retrain_requests_usecase"), "retrain_requests", ["usecase"], unique=False
    )
    op.create_table(
        "rollout_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rollout_id", sa.String(length=36), nullable=False),
        sa.Column("usecase", sa.String(length=100), nullable=False),
        sa.Column("stage_index", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("report_uri", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_rollout_decisions_rollout_id"), "rollout_decisions", ["rollout_id"], unique=False
    )
    op.create_table(
        "rollouts",
        sa.Column("rollout_id", sa.String(length=36), nullable=False),
        sa.Column("usecase", sa.String(length=100), nullable=False),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("challenger_version", sa.Integer(), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("stage_index", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("rollout_id"),
    )
    op.create_index(op.f("ix_rollouts_usecase"), "rollouts", ["usecase"], unique=False)
    op.create_table(
        "catalog_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.BigInteger(), nullable=False),
        sa.Column("partition", sa.String(length=100), nullable=True),
        sa.Column("operation", sa.String(length=50), nullable=False),
        sa.Column("total_rows", sa.BigInteger(), nullable=False),
        sa.Column("partition_rows", sa.BigInteger(), nullable=False),
        sa.Column("rejected_rows", sa.BigInteger(), nullable=False),
        sa.Column("schema", sa.JSON(), nullable=False),
        sa.Column("schema_changes", sa.JSON(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("producer", sa.String(length=300), nullable=False),
        sa.Column("snapshot_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset"],
            ["catalog_datasets.name"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dataset", "snapshot_id", name="uq_version_snapshot"),
        sa.UniqueConstraint("dataset", "version", name="uq_version_number"),
    )


def downgrade() -> None:
    """Drop every table (an empty database)."""
    op.drop_table("catalog_versions")
    op.drop_index(op.f("ix_rollouts_usecase"), table_name="rollouts")
    op.drop_table("rollouts")
    op.drop_index(op.f("ix_rollout_decisions_rollout_id"), table_name="rollout_decisions")
    op.drop_table("rollout_decisions")
    op.drop_index(op.f("ix_retrain_requests_usecase"), table_name="retrain_requests")
    op.drop_table("retrain_requests")
    op.drop_index(op.f("ix_promotion_decisions_usecase"), table_name="promotion_decisions")
    op.drop_table("promotion_decisions")
    op.drop_index("ix_predictions_usecase_entity", table_name="predictions")
    op.drop_index("ix_predictions_usecase_created", table_name="predictions")
    op.drop_index(op.f("ix_predictions_rollout_id"), table_name="predictions")
    op.drop_table("predictions")
    op.drop_index(op.f("ix_prediction_errors_rollout_id"), table_name="prediction_errors")
    op.drop_table("prediction_errors")
    op.drop_index("ix_monitoring_metrics_series", table_name="monitoring_metrics")
    op.drop_table("monitoring_metrics")
    op.drop_index(op.f("ix_monitoring_alerts_usecase"), table_name="monitoring_alerts")
    op.drop_table("monitoring_alerts")
    op.drop_index("ix_feedback_usecase_entity", table_name="feedback")
    op.drop_index(op.f("ix_feedback_prediction_id"), table_name="feedback")
    op.drop_table("feedback")
    op.drop_index(op.f("ix_catalog_lineage_target"), table_name="catalog_lineage")
    op.drop_index(op.f("ix_catalog_lineage_source"), table_name="catalog_lineage")
    op.drop_table("catalog_lineage")
    op.drop_index(op.f("ix_catalog_datasets_usecase"), table_name="catalog_datasets")
    op.drop_table("catalog_datasets")
