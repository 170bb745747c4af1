"""``monitoring_metrics.variant`` is NOT NULL, default ``champion``.

Rows written before the column existed have NULL: they were all the champion's, so they
are backfilled to ``champion`` and the readers need no ``OR variant IS NULL`` any more.
The old add-column step could not do this (it added only nullable columns).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_metrics_variant_not_null"
down_revision = "0004_model_integrity"
branch_labels = None
depends_on = None

_metrics = sa.table("monitoring_metrics", sa.column("variant", sa.String(20)))


def upgrade() -> None:
    """Backfill NULL variants with ``champion``, then make the column NOT NULL."""
    op.execute(_metrics.update().where(_metrics.c.variant.is_(None)).values(variant="champion"))
    with op.batch_alter_table("monitoring_metrics") as batch:
        batch.alter_column(
            "variant",
            existing_type=sa.String(length=20),
            nullable=False,
            server_default="champion",
        )


def downgrade() -> None:
    """Make the column nullable again, without a default (backfilled rows stay
    ``champion``, which the older readers also count as the champion's)."""
    with op.batch_alter_table("monitoring_metrics") as batch:
        batch.alter_column(
            "variant", existing_type=sa.String(length=20), nullable=True, server_default=None
        )
