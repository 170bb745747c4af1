"""mlstack's tables migrate with Alembic (mlstack.migrations), on SQLite and PostgreSQL.

A database the previous release (7835cca) made, with rows in every table (the committed
dumps in tests/previous_release/), reaches the newest revision through the store's startup
path with every row kept; the revisions build exactly ``store.metadata``; downgrades and
concurrent starts work; databases the code cannot handle are refused with what to do. A
``feedback`` table from before its unique indexes keeps one label per key (the last
received) and gains them.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from mlstack import migrations, store
from mlstack.cli import main as cli
from previous_release.make_dumps import load as load_previous_release
from support import use_settings

pytestmark = pytest.mark.integration

BACKENDS = ["sqlite", "postgres"]
#: what the previous release's rows were (the dumps), to compare with after migrating
OLD_TABLES = [
    *("catalog_datasets", "catalog_versions", "catalog_lineage", "promotion_decisions"),
    *("predictions", "feedback", "prediction_errors", "rollouts", "rollout_decisions"),
    *("monitoring_metrics", "monitoring_alerts", "retrain_requests"),
]


def _url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'mlstack.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _engine(url: str) -> sa.Engine:
    """A fresh engine (not store's cached one), disposed by the test."""
    return sa.create_engine(url)


def _rows(eng: sa.Engine, table: str) -> list[dict[str, Any]]:
    """Every row of ``table`` in primary-key order, as reflected (no model needed)."""
    t = sa.Table(table, sa.MetaData(), autoload_with=eng)
    with eng.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(t).order_by(*t.primary_key))]


def _indexes(eng: sa.Engine, table: str) -> dict[str, list[str]]:
    return {i["name"]: i["column_names"] for i in sa.inspect(eng).get_indexes(table)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_previous_release_database_reaches_head_with_its_rows(backend, tmp_path, request) -> None:
    eng = _engine(_url(backend, tmp_path, request))
    load_previous_release(eng)
    before = {t: _rows(eng, t) for t in OLD_TABLES}
    assert all(before.values()) and migrations.current(eng) is None

    store.init_tables(eng)  # what every engine(settings) does on first use

    assert migrations.current(eng) == migrations.HEAD
    after = {t: _rows(eng, t) for t in OLD_TABLES}
    for table in OLD_TABLES:
        if table == "monitoring_metrics":
            continue
        if table == "promotion_decisions":  # gained the digest column (0004), NULL
            assert [r.pop("digest") for r in after[table]] == [None]
        assert after[table] == before[table], table
    # 0005: the NULL variant (the champion's, before variants existed) is backfilled
    old_variants = [r.pop("variant") for r in before["monitoring_metrics"]]
    new_variants = [r.pop("variant") for r in after["monitoring_metrics"]]
    assert old_variants == [None, "champion", "challenger"]
    assert new_variants == ["champion", "champion", "challenger"]
    assert after["monitoring_metrics"] == before["monitoring_metrics"]

    inspector = sa.inspect(eng)
    for table in ("gateway_keys", "registry_versions", "registry_aliases", "model_digests"):
        assert _rows(eng, table) == []
    assert inspector.get_pk_constraint("registry_versions")["constrained_columns"] == [
        "model",
        "version",
    ]
    assert _indexes(eng, "model_digests")["ix_model_digests_version"] == [
        "usecase",
        "model_version",
    ]
    assert _indexes(eng, "monitoring_metrics")["ix_monitoring_metrics_series"] == [
        "usecase",
        "metric",
        "run_date",
    ]
    variant = next(c for c in inspector.get_columns("monitoring_metrics") if c["name"] == "variant")
    assert variant["nullable"] is False and "champion" in str(variant["default"])

    t = store.monitoring_metrics
    row = {"usecase": "credit_default", "run_date": date(2026, 3, 2), "metric": "rows"}
    row |= {"alert": False, "details": {}, "created_at": datetime.now(UTC)}
    with eng.begin() as conn:  # the server default names a row written without a variant
        new_id = conn.execute(t.insert().values(**row)).inserted_primary_key[0]
        assert conn.execute(sa.select(t.c.variant).where(t.c.id == new_id)).scalar() == "champion"
    with pytest.raises(sa.exc.IntegrityError), eng.begin() as conn:
        conn.execute(t.insert().values(**row, variant=None))
    eng.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_revisions_build_exactly_the_declared_tables(backend, tmp_path, request) -> None:
    """Alembic's autogenerate finds nothing between the newest revision's schema (built
    from an empty database through every revision) and ``store.metadata``."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    eng = _engine(_url(backend, tmp_path, request))
    migrations.upgrade(
        eng, store.metadata, migrations.BASELINE
    )  # not create_all: the revisions, one by one
    migrations.upgrade(eng, store.metadata)
    assert migrations.current(eng) == migrations.HEAD
    with eng.connect() as conn:
        opts = {
            "include_object": migrations.table_filter(store.metadata),
            "compare_server_default": True,
        }
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), store.metadata)
    assert diff == []
    eng.dispose()


def test_head_is_alembics_head() -> None:
    assert migrations.revisions()[-1] == migrations.HEAD
    assert migrations.revisions()[0] == migrations.BASELINE


@pytest.mark.parametrize("backend", BACKENDS)
def test_downgrade_to_the_baseline_and_back_keeps_the_old_rows(backend, tmp_path, request) -> None:
    eng = _engine(_url(backend, tmp_path, request))
    load_previous_release(eng)
    migrations.upgrade(eng, store.metadata)
    before = _rows(eng, "catalog_versions")

    assert migrations.downgrade(eng, migrations.BASELINE) == (migrations.HEAD, migrations.BASELINE)
    assert not sa.inspect(eng).has_table("gateway_keys")
    assert "digest" not in {c["name"] for c in sa.inspect(eng).get_columns("promotion_decisions")}
    assert migrations.upgrade(eng, store.metadata) == (migrations.BASELINE, migrations.HEAD)
    assert _rows(eng, "catalog_versions") == before
    eng.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_processes_starting_together_migrate_once(backend, tmp_path, request) -> None:
    """Four engines (as four processes would have) upgrade the previous release's database
    at the same moment: one migrates under the lock, the others then find it at head."""
    url = _url(backend, tmp_path, request)
    eng = _engine(url)
    load_previous_release(eng)
    engines = [_engine(url) for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(engines))

    def run(e: sa.Engine) -> None:
        start.wait()
        try:
            migrations.ensure_current(e, store.metadata)
        except BaseException as exc:  # reported below, with the others'
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert migrations.current(eng) == migrations.HEAD
    assert len(_rows(eng, "predictions")) == 3
    for e in [eng, *engines]:
        e.dispose()


def test_unversioned_database_of_a_later_commit_is_stamped_and_upgraded(tmp_path) -> None:
    """A database a commit between 7835cca and versioning made (its ad-hoc start created the
    new tables and the digest column): the revisions skip what it has."""
    eng = _engine(f"sqlite:///{tmp_path / 'mlstack.db'}")
    migrations.upgrade(eng, store.metadata, "0004_model_integrity")
    with eng.begin() as conn:
        conn.execute(sa.text(f'DROP TABLE "{migrations.VERSION_TABLE}"'))

    assert migrations.upgrade(eng, store.metadata) == (None, migrations.HEAD)
    eng.dispose()


def test_a_database_older_than_the_baseline_is_refused_with_what_is_missing(tmp_path) -> None:
    eng = _engine(f"sqlite:///{tmp_path / 'mlstack.db'}")
    old = sa.MetaData()
    sa.Table(  # monitoring_metrics before its variant column, nothing else
        "monitoring_metrics",
        old,
        *(c._copy() for c in store.monitoring_metrics.columns if c.name != "variant"),
    )
    old.create_all(eng)
    with pytest.raises(migrations.MigrationError, match=r"monitoring_metrics\.variant") as err:
        migrations.ensure_current(eng, store.metadata)
    assert "catalog_datasets" in str(err.value) and "make backup" in str(err.value)
    eng.dispose()


def test_a_database_a_newer_release_migrated_is_refused(tmp_path) -> None:
    eng = _engine(f"sqlite:///{tmp_path / 'mlstack.db'}")
    migrations.upgrade(eng, store.metadata)
    with eng.begin() as conn:
        conn.execute(sa.text(f"UPDATE {migrations.VERSION_TABLE} SET version_num = '0099_next'"))
    with pytest.raises(migrations.MigrationError, match="a newer release migrated it"):
        migrations.ensure_current(eng, store.metadata)
    eng.dispose()


def test_db_commands(tmp_path, monkeypatch) -> None:
    use_settings(monkeypatch, home=str(tmp_path / "home"))
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["db", *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert run("current").startswith("none (no version table) (head is 0006_")
    assert "none (no version table) -> 0006_feedback_unique" in run("upgrade")
    assert run("current") == f"{migrations.HEAD} (head)\n"
    assert "nothing to do" in run("upgrade")
    assert f"{migrations.HEAD} -> 0005_metrics_variant_not_null" in run("downgrade", "-1")
    assert run("current") == "0005_metrics_variant_not_null (head is 0006_feedback_unique)\n"
    refused = runner.invoke(cli, ["db", "downgrade", "0042"])
    assert refused.exit_code == 2 and "give one of 0001_baseline" in refused.output
    assert "0005_metrics_variant_not_null -> 0006_feedback_unique" in run("upgrade")


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
    migrations.upgrade(eng, store.metadata, "0005_metrics_variant_not_null")  # before 0006
    table = store.feedback
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
    assert migrations.current(eng) == migrations.HEAD == "0006_feedback_unique"
    f = store.feedback.c
    with eng.connect() as conn:
        kept = conn.execute(sa.select(f.prediction_id, f.entity_id, f.label)).all()
    assert sorted(map(tuple, kept), key=str) == sorted(
        [("p1", "e1", 0.0), (None, "e2", 0.0), (None, "e3", 1.0), ("p2", None, 1.0)], key=str
    )
    with pytest.raises(sa.exc.IntegrityError), eng.begin() as conn:
        conn.execute(store.feedback.insert().values(**label("p2", "x", 0.0, 30)))
    eng.dispose()
