"""The mlstack database migrates in place: a ``monitoring_metrics`` table from before the
``variant`` column gains it on SQLite and PostgreSQL, its rows kept (NULL = the champion's)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from mlstack import store

pytestmark = pytest.mark.integration


def _old_metrics_table(eng: sa.Engine) -> None:
    """``monitoring_metrics`` as releases before the variant column created it, one row in it."""
    old = sa.MetaData()
    table = sa.Table(
        "monitoring_metrics",
        old,
        *(c.copy() for c in store.monitoring_metrics.columns if c.name != "variant"),
    )
    old.create_all(eng)
    with eng.begin() as conn:
        conn.execute(
            table.insert().values(
                usecase="credit_default",
                model_version=1,
                run_date=date(2026, 3, 1),
                metric="rows",
                value=10.0,
                alert=False,
                details={},
                created_at=datetime.now(UTC),
            )
        )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_existing_database_gains_the_variant_column(backend, tmp_path, request) -> None:
    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    eng = sa.create_engine(url)
    _old_metrics_table(eng)

    store.init_tables(eng)  # what every engine(settings) does on first use

    assert "variant" in {c["name"] for c in sa.inspect(eng).get_columns("monitoring_metrics")}
    assert store.add_missing_columns(eng) == []  # idempotent
    t = store.monitoring_metrics
    with eng.begin() as conn:
        conn.execute(
            t.insert().values(
                usecase="credit_default",
                model_version=2,
                variant="challenger",
                run_date=date(2026, 3, 1),
                metric="rows",
                value=3.0,
                alert=False,
                details={},
                created_at=datetime.now(UTC),
            )
        )
        rows = conn.execute(sa.select(t.c.model_version, t.c.variant).order_by(t.c.id)).all()
    assert [tuple(r) for r in rows] == [(1, None), (2, "challenger")]
    eng.dispose()
