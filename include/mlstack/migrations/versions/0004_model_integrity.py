"""Model integrity: ``model_digests`` and the digest a promotion decision checked.

Databases from before versioning may have both already (``create_all`` and the old
add-column step made them after d93e9c6): each is added only where missing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_model_integrity"
down_revision = "0003_registry_records"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``model_digests`` with its index; add ``promotion_decisions.digest``."""
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("model_digests"):
        op.create_table(
            "model_digests",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("usecase", sa.String(length=100), nullable=False),
            sa.Column("model_version", sa.Integer(), nullable=False),
            sa.Column("digest", sa.String(length=64), nullable=False),
            sa.Column("manifest", sa.JSON(), nullable=False),
            sa.Column("recorded_by", sa.String(length=50), nullable=False),
            sa.Column("decision_id", sa.Integer(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_model_digests_version", "model_digests", ["usecase", "model_version"])
    columns = {c["name"] for c in inspector.get_columns("promotion_decisions")}
    if "digest" not in columns:
        with op.batch_alter_table("promotion_decisions") as batch:
            batch.add_column(sa.Column("digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Drop the digests and the decisions' digest column (models load unchecked again
    only with the code of before 0004)."""
    with op.batch_alter_table("promotion_decisions") as batch:
        batch.drop_column("digest")
    op.drop_index("ix_model_digests_version", table_name="model_digests")
    op.drop_table("model_digests")
