"""The mlstack database migrates in place on SQLite and PostgreSQL: a ``monitoring_metrics``
table from before the ``variant`` column gains it, its rows kept (NULL = the champion's); a
``feedback`` table from before its unique indexes keeps one label per key (the last received)
and gains them."""

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


def _old_feedback_table(eng: sa.Engine) -> sa.Table:
    """``feedback`` as releases before its unique indexes created it."""
    old = sa.MetaData()
    table = sa.Table("feedback", old, *(c.copy() for c in store.feedback.columns))
    old.create_all(eng)
    return table


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_existing_feedback_keeps_the_last_label_and_gains_unique_indexes(
    backend, tmp_path, request
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    eng = sa.create_engine(url)
    table = _old_feedback_table(eng)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)

    def label(pid: str | None, entity: str | None, value: float, minute: int) -> dict:
        at = t0.replace(minute=minute)
        return {"usecase": "u", "prediction_id": pid, "entity_id": entity, "label": value} | {
            "label_at": t0,
            "received_at": at,
        }

    rows = [
        label("p1", "e1", 1.0, 5),
        label("p1", "e1", 0.0, 9),  # the last received: kept
        label("p1", "e1", 1.0, 7),
        label(None, "e2", 1.0, 1),
        label(None, "e2", 0.0, 1),  # same time: the later row (higher id) is kept
        label(None, "e3", 1.0, 1),
        label("p2", None, 1.0, 1),
    ]
    with eng.begin() as conn:
        for row in rows:  # one by one: ids in this order
            conn.execute(table.insert().values(**row))

    store.init_tables(eng)

    names = {ix["name"] for ix in sa.inspect(eng).get_indexes("feedback")}
    assert {"uq_feedback_prediction", "uq_feedback_entity_label_at"} <= names
    assert store.add_missing_indexes(eng) == []  # idempotent
    f = store.feedback.c
    with eng.connect() as conn:
        kept = conn.execute(sa.select(f.prediction_id, f.entity_id, f.label)).all()
    assert sorted(map(tuple, kept), key=str) == sorted(
        [("p1", "e1", 0.0), (None, "e2", 0.0), (None, "e3", 1.0), ("p2", None, 1.0)], key=str
    )
    with pytest.raises(sa.exc.IntegrityError), eng.begin() as conn:
        conn.execute(store.feedback.insert().values(**label("p2", "x", 0.0, 30)))
    eng.dispose()
