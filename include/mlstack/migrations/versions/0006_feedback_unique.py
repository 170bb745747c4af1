"""One label per prediction, and per (entity, ``label_at``) for labels without one.

Two partial unique indexes on ``feedback`` (a plain one treats NULL prediction ids as
distinct and would let duplicates through). Labels an older gateway stored twice are first
folded the way the writer folds them: the one received last stays (the highest id among
equals), so an old database migrates without a manual step.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_feedback_unique"
down_revision = "0005_metrics_variant_not_null"
branch_labels = None
depends_on = None

_feedback = sa.table(
    "feedback",
    sa.column("id", sa.Integer),
    sa.column("usecase", sa.String(100)),
    sa.column("prediction_id", sa.String(36)),
    sa.column("entity_id", sa.String(200)),
    sa.column("label_at", sa.DateTime(timezone=True)),
    sa.column("received_at", sa.DateTime(timezone=True)),
)
BY_PREDICTION = sa.text("prediction_id IS NOT NULL")
BY_ENTITY = sa.text("prediction_id IS NULL")


def _latest_only() -> None:
    """Delete every label another label of the same prediction (or, without a prediction
    id, of the same entity and ``label_at``) replaces."""
    f, g = _feedback, _feedback.alias("newer")
    same = sa.and_(
        g.c.usecase == f.c.usecase,
        sa.or_(
            sa.and_(f.c.prediction_id.is_not(None), g.c.prediction_id == f.c.prediction_id),
            sa.and_(
                f.c.prediction_id.is_(None),
                g.c.prediction_id.is_(None),
                g.c.entity_id == f.c.entity_id,
                g.c.label_at == f.c.label_at,
            ),
        ),
    )
    later = sa.or_(
        g.c.received_at > f.c.received_at,
        sa.and_(g.c.received_at == f.c.received_at, g.c.id > f.c.id),
    )
    op.execute(f.delete().where(sa.exists().where(same, later)))


def upgrade() -> None:
    """Fold duplicate labels, then create the two unique indexes."""
    _latest_only()
    op.create_index(
        "uq_feedback_prediction",
        "feedback",
        ["usecase", "prediction_id"],
        unique=True,
        sqlite_where=BY_PREDICTION,
        postgresql_where=BY_PREDICTION,
    )
    op.create_index(
        "uq_feedback_entity_label_at",
        "feedback",
        ["usecase", "entity_id", "label_at"],
        unique=True,
        sqlite_where=BY_ENTITY,
        postgresql_where=BY_ENTITY,
    )


def downgrade() -> None:
    """Drop the indexes (folded labels stay folded)."""
    op.drop_index("uq_feedback_entity_label_at", table_name="feedback")
    op.drop_index("uq_feedback_prediction", table_name="feedback")
