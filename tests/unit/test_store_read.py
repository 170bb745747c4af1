"""The plain-SQL reads (mlstack.store_read) against SQLAlchemy's, on SQLite and PostgreSQL:

- a row read both ways holds equal values of every type the tables use (JSON, dates, times,
  booleans, numbers, NULLs), so the lists show what they showed through SQLAlchemy;
- the reads that return whole rows name every column of their table, in its order (a column
  added to ``mlstack.store`` and not to a query fails here);
- the first read of a new database creates it at the newest revision.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from mlstack import model_records, store, store_read
from mlstack.migrations import HEAD, current
from mlstack.monitoring import history
from mlstack.stages import catalog_records, rollout_records
from monitoring_rows import RID, STAGES, insert, metric_rows
from support import use_settings

NOW = datetime(2026, 2, 20, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """Settings on a fresh SQLite file or a fresh PostgreSQL database, with rows in the
    tables the whole-row reads return."""
    values = {"home": str(tmp_path / "home")}
    if request.param == "postgresql":
        values["database_url"] = request.getfixturevalue("postgres_url")
    s = use_settings(monkeypatch, **values)
    _fill(s)
    return s


def _fill(s: Any) -> None:
    """One row (or a few) in each table the whole-row reads return."""
    insert(s, store.monitoring_metrics, metric_rows("drift_share", [0.1, None, 0.6], alert_from=2))
    insert(
        s,
        store.datasets,
        [
            {"name": "credit_default", "usecase": "credit_default", "kind": "features"}
            | {"table_identifier": "mlstack.credit_default", "location": "file:///lake/t"}
            | {"owner": "risk", "description": "", "tags": {"pii": False, "tier": [1, 2]}}
            | {"created_at": NOW, "updated_at": NOW}
        ],
    )
    insert(
        s,
        store.versions,
        [
            {"dataset": "credit_default", "version": 1, "snapshot_id": 5093658462815212345}
            | {"partition": "day=2026-01-03", "operation": "append", "total_rows": 300}
            | {"partition_rows": 300, "rejected_rows": 0, "schema": [{"name": "x"}]}
            | {"schema_changes": {"initial": True}, "stats": {"x": {"mean": 0.5}}}
            | {"producer": "ingest", "snapshot_at": NOW, "created_at": NOW}
        ],
    )
    insert(
        s,
        store.lineage,
        [
            {"source": "dataset:credit_default@v1", "relation": "used_by", "target": "run:r1"}
            | {"details": {}, "created_at": NOW},
            {"source": "run:r1", "relation": "registered_as", "target": "model:credit_default/1"}
            | {"details": {"version": 1}, "created_at": NOW},
        ],
    )
    insert(
        s,
        store.promotion_decisions,
        [
            {"usecase": "credit_default", "model_version": 1, "run_id": "r1", "action": "gates"}
            | {"outcome": "champion", "compared_with": None, "previous_champion": None}
            | {"reasons": ["first model"], "gates": [{"ok": True}], "metrics": {"auc": 0.7}}
            | {"actor": "test", "created_at": NOW, "digest": None}
        ],
    )
    insert(
        s,
        store.rollouts,
        [
            {"rollout_id": RID, "usecase": "credit_default", "champion_version": 1}
            | {"challenger_version": 2, "stages": STAGES, "stage_index": 1, "state": "running"}
            | {"started_at": NOW, "stage_started_at": NOW, "ended_at": None, "actor": "test"}
        ],
    )


def _through_sqlalchemy(s: Any, table: sa.Table) -> list[dict[str, Any]]:
    with store.engine(s).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(*table.c[:1]))]


@pytest.mark.parametrize(
    "table",
    [
        store.monitoring_metrics,
        store.datasets,
        store.versions,
        store.lineage,
        store.promotion_decisions,
        store.rollouts,
    ],
    ids=lambda t: t.name,
)
def test_values_equal_sqlalchemys(settings: Any, table: sa.Table) -> None:
    names = ", ".join(f'"{c.name}"' for c in table.columns)
    first = table.columns[list(table.columns.keys())[0]].name
    plain = store_read.rows(f'SELECT {names} FROM {table.name} ORDER BY "{first}"', {}, settings)
    assert plain == _through_sqlalchemy(settings, table)
    assert [list(r) for r in plain] == [list(table.columns.keys())] * len(plain)


def test_whole_row_reads_name_every_column_in_order(settings: Any) -> None:
    def names(table: sa.Table) -> list[str]:
        return list(table.columns.keys())

    shown = catalog_records.show_dataset("credit_default", settings)
    assert list(shown["dataset"]) == names(store.datasets)
    assert [list(v) for v in shown["versions"]] == [names(store.versions)]
    assert list(catalog_records.get_version("credit_default", 1, settings)) == names(store.versions)
    assert [list(e) for e in shown["lineage"]] == [names(store.lineage)]
    found = catalog_records.registered_models(["run:r1"], settings)
    assert [list(e) for e in found] == [names(store.lineage)]
    decided = model_records.decisions("credit_default", settings)
    assert [list(d) for d in decided] == [names(store.promotion_decisions)]
    running = rollout_records.running("credit_default", settings)
    assert running is not None and list(running) == names(store.rollouts)


def test_computed_dates_and_sums_are_typed(settings: Any) -> None:
    assert history.last_run_date("credit_default", settings) == date(2026, 2, 12)
    assert history.series("credit_default", "drift_share", settings=settings) == [
        (date(2026, 2, 10), 0.1, False),
        (date(2026, 2, 11), None, False),
        (date(2026, 2, 12), 0.6, True),
    ]
    assert history.series(
        "credit_default", "drift_share", since=date(2026, 2, 12), settings=settings
    ) == [(date(2026, 2, 12), 0.6, True)]


def test_first_read_of_a_new_database_creates_it_at_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = use_settings(monkeypatch, home=str(tmp_path / "new-home"))
    assert history.alerts("credit_default", settings=s) == []
    assert current(store.engine(s, create=False)) == HEAD
