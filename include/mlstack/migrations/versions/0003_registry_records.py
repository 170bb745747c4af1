"""mlstack's record of the MLflow registry (``registry_versions``, ``registry_aliases``).

Databases from before versioning may have the tables already (``create_all`` made them on
their first start after 53b0fa0): each is created only where missing. Versions registered
before the tables existed show after ``mlstack models list USECASE --registry``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_registry_records"
down_revision = "0002_gateway_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``registry_versions`` and ``registry_aliases`` where missing."""
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("registry_versions"):
        op.create_table(
            "registry_versions",
            sa.Column("model", sa.String(length=200), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("run_id", sa.String(length=64), nullable=True),
            sa.Column("tags", sa.JSON(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("model", "version"),
        )
    if not inspector.has_table("registry_aliases"):
        op.create_table(
            "registry_aliases",
            sa.Column("model", sa.String(length=200), nullable=False),
            sa.Column("alias", sa.String(length=50), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("model", "alias"),
        )


def downgrade() -> None:
    """Drop both tables (MLflow keeps the registry; ``--registry`` copies it back)."""
    op.drop_table("registry_aliases")
    op.drop_table("registry_versions")
