"""The revision mlstack's tables are at: the version table's name and this code's newest
revision. Kept apart from :mod:`mlstack.migrations` (Alembic, SQLAlchemy) so the light read
path (:mod:`mlstack.store_read`) checks a database is current without importing them."""

from __future__ import annotations

#: The table holding the revision a database is at.
VERSION_TABLE = "mlstack_schema_version"
#: The newest revision in ``mlstack/migrations/versions/`` (a test checks it is Alembic's head).
HEAD = "0006_feedback_unique"
