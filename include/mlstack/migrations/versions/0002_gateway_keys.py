"""Gateway API keys (``gateway_keys``): only each key's SHA-256 is kept.

Databases from before versioning may have the table already (``create_all`` made it on
their first start after 5d1caee): it is created only where missing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_gateway_keys"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``gateway_keys`` unless an unversioned database has it."""
    if sa.inspect(op.get_bind()).has_table("gateway_keys"):
        return
    op.create_table(
        "gateway_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("usecases", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
    )


def downgrade() -> None:
    """Drop ``gateway_keys`` (every key is lost)."""
    op.drop_table("gateway_keys")
