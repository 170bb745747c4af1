"""Reading mlstack's Iceberg tables from outside mlstack, as the README's "Reading the tables
from Spark, Trino or DuckDB" says: the catalog is a SQL (JDBC-layout) catalog named
``mlstack`` in the mlstack database, the files are in the lake's ``warehouse/``, and DuckDB
queries a table through PyIceberg's scan (its own ``iceberg`` extension downloads itself on
first use, which this offline suite cannot do).

On the stack's backends: the catalog on PostgreSQL, the lake on S3 (moto)."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest
import sqlalchemy as sa
from mlstack import lake

pytestmark = pytest.mark.integration

DAY = date(2026, 2, 1)


@pytest.fixture
def two_days(pg_s3_settings, credit_spec):
    """Two days of the credit_default features ingested by mlstack on PostgreSQL + S3."""
    from mlstack.sources import land
    from mlstack.stages.ingest import ingest_day

    for day in (DAY, DAY + timedelta(days=1)):
        land(credit_spec, day, pg_s3_settings)
        ingest_day(credit_spec, day, settings=pg_s3_settings)
    return lake.load_table(credit_spec.table_name("features"), pg_s3_settings)


def test_the_catalog_is_where_the_readme_points_spark_and_trino(
    two_days, pg_s3_settings, credit_spec
) -> None:
    """A JDBC catalog named ``mlstack`` on the mlstack database finds the table and its
    current metadata file under ``<lake>/warehouse``."""
    engine = sa.create_engine(pg_s3_settings.database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT catalog_name, table_namespace, table_name, metadata_location "
                "FROM iceberg_tables WHERE table_name = :name"
            ),
            {"name": credit_spec.table_name("features")},
        ).all()
    engine.dispose()
    assert [tuple(r[:3]) for r in rows] == [
        ("mlstack", pg_s3_settings.iceberg_namespace, credit_spec.table_name("features"))
    ]
    metadata = rows[0][3]
    assert metadata == two_days.metadata_location
    assert metadata.startswith(f"{pg_s3_settings.lake_url}/warehouse/")


def test_duckdb_queries_a_table_mlstack_wrote(two_days, credit_spec) -> None:
    """DuckDB runs SQL over the table (PyIceberg's scan, handed over as Arrow): the rows are
    the table's, per day and per category, and an older snapshot reads as it was."""
    spec = credit_spec
    ts, ident = spec.schema.timestamp_column, spec.schema.id_column
    expected = two_days.scan().to_pandas()
    con = duckdb.connect()
    two_days.scan().to_duckdb("applications", connection=con)

    per_day = con.execute(
        f"SELECT CAST({ts} AS DATE) AS day, count(*), count(DISTINCT {ident}) "
        "FROM applications GROUP BY day ORDER BY day"
    ).fetchall()
    counts = expected.groupby(expected[ts].astype(str)).size()
    assert per_day == [
        (DAY, counts[DAY.isoformat()], counts[DAY.isoformat()]),
        (DAY + timedelta(days=1), counts[(DAY + timedelta(days=1)).isoformat()],
         counts[(DAY + timedelta(days=1)).isoformat()]),
    ]  # fmt: skip

    by_purpose = dict(
        con.execute("SELECT purpose, avg(income) FROM applications GROUP BY purpose").fetchall()
    )
    want = expected.groupby("purpose")["income"].mean()
    assert set(by_purpose) == set(want.index)
    assert all(by_purpose[k] == pytest.approx(want[k]) for k in want.index)

    first = min(two_days.snapshots(), key=lambda s: s.sequence_number or 0)
    two_days.scan(snapshot_id=first.snapshot_id).to_duckdb("first_day", connection=con)
    days = con.execute(f"SELECT DISTINCT CAST({ts} AS DATE) FROM first_day").fetchall()
    assert days == [(DAY,)]


def test_a_transactions_metadata_is_computed_once_per_staged_state(two_days) -> None:
    """lake.memoize_transaction_metadata: repeated reads share one result, equal to what
    PyIceberg computes; a newly staged update gives a new one; the commit is PyIceberg's."""
    from pyiceberg.table.update import update_table_metadata

    assert lake.memoize_transaction_metadata()  # PyIceberg 0.12: applied (by the catalog)
    before = len(two_days.snapshots())
    with two_days.transaction() as tx:
        first = tx.table_metadata
        assert tx.table_metadata is first
        assert first == update_table_metadata(two_days.metadata, ())
        tx.set_properties(**{"mlstack.test": "1"})
        staged = tx.table_metadata
        assert staged is not first and staged.properties["mlstack.test"] == "1"
        again = update_table_metadata(two_days.metadata, tx._updates)
        # a property update stamps last_updated_ms with the clock: equal but for that stamp
        assert staged == again.model_copy(update={"last_updated_ms": staged.last_updated_ms})
    two_days.refresh()
    assert two_days.properties["mlstack.test"] == "1" and len(two_days.snapshots()) == before


def test_an_id_range_plans_only_the_files_its_ids_can_be_in(two_days, credit_spec) -> None:
    """The ingest's id lookups filter on ``min(ids) <= id <= max(ids)``: with dated ids,
    PyIceberg plans the day's own files, not the other day's (ingest.id_range)."""
    from mlstack.stages.ingest import id_range

    second = lake.day_filter(credit_spec.schema, DAY + timedelta(days=1))
    ids = two_days.scan(row_filter=second).to_pandas()["application_id"]
    planned = {
        t.file.file_path
        for t in two_days.scan(row_filter=id_range("application_id", ids)).plan_files()
    }
    assert planned == {t.file.file_path for t in two_days.scan(row_filter=second).plan_files()}
    assert len(planned) < len(list(two_days.scan().plan_files()))
    assert id_range("application_id", ids.iloc[:0]) is None


def test_a_manifest_is_read_once_and_a_new_commit_is_seen(
    two_days, credit_spec, pg_s3_settings, monkeypatch
) -> None:
    """lake.memoize_manifest_entries: planning again opens no manifest file and plans the same
    files, with the entries PyIceberg itself reads (sequence numbers inherited as it does); a
    day committed since is planned too (its new manifests read once)."""
    from mlstack.sources import land
    from mlstack.stages.ingest import ingest_day
    from pyiceberg.avro.file import AvroFile
    from pyiceberg.manifest import ManifestFile

    assert lake.memoize_manifest_entries()  # PyIceberg 0.12: applied (by the catalog)
    opened = []  # manifest files opened (not manifest lists: snap-*.avro, one a scan)
    enter = AvroFile.__enter__

    def counting(self):
        if "/snap-" not in self.input_file.location:
            opened.append(self.input_file.location)
        return enter(self)

    monkeypatch.setattr(AvroFile, "__enter__", counting)

    def planned(table) -> set[str]:
        return {t.file.file_path for t in table.scan().plan_files()}

    first = planned(two_days)
    opened.clear()
    assert planned(two_days) == first and opened == []

    fetch = ManifestFile.fetch_manifest_entry
    for manifest in two_days.current_snapshot().manifests(two_days.io):
        ours = fetch(manifest, two_days.io)
        theirs = fetch.read(manifest, two_days.io)
        assert [(e.data_file.file_path, e.snapshot_id, e.sequence_number, e.status)
                for e in ours] == [
            (e.data_file.file_path, e.snapshot_id, e.sequence_number, e.status) for e in theirs
        ]  # fmt: skip
        assert fetch(manifest, two_days.io) is not fetch(manifest, two_days.io)  # a new list

    third = DAY + timedelta(days=2)
    land(credit_spec, third, pg_s3_settings)
    ingest_day(credit_spec, third, settings=pg_s3_settings)
    table = lake.load_table(credit_spec.table_name("features"), pg_s3_settings)
    opened.clear()
    now = planned(table)
    assert first < now and opened  # the new day's file, from manifests not read before
    opened.clear()
    assert planned(table) == now and opened == []


def test_a_days_window_is_read_and_scored_once_per_model_run_and_data_files(
    two_days, credit_spec, pg_s3_settings, monkeypatch
) -> None:
    """windows.lake_window: the same day for the same model run is read and scored once and
    callers get copies; another run scores it again; a day ingested again (new data files)
    is read again."""
    import numpy as np
    import pandas as pd
    from mlstack.monitoring import windows
    from mlstack.monitoring.compute import Reference
    from mlstack.sources import land
    from mlstack.stages.ingest import ingest_day

    monkeypatch.setattr(windows, "_window_memo", type(windows._window_memo)())
    scored: list[int] = []

    def lake_scores(spec, ref, inputs):
        scored.append(len(inputs))
        return np.full(len(inputs), float(ref.version))

    monkeypatch.setattr(windows, "lake_scores", lake_scores)

    def ref(version: int) -> Reference:
        return Reference(version, f"run-{version}", None, pd.DataFrame(), pd.DataFrame(), "x", None)

    first = windows.lake_window(credit_spec, DAY, ref(1), pg_s3_settings)
    assert len(scored) == 1 and len(first) == scored[0] > 0
    first["_score"] = -1.0  # a caller's change stays its own
    again = windows.lake_window(credit_spec, DAY, ref(1), pg_s3_settings)
    assert len(scored) == 1 and (again["_score"] == 1.0).all()
    assert len(again) == len(first) and set(again["_version"]) == {1}

    other = windows.lake_window(credit_spec, DAY, ref(2), pg_s3_settings)
    assert len(scored) == 2 and (other["_score"] == 2.0).all()

    land(credit_spec, DAY, pg_s3_settings)
    ingest_day(credit_spec, DAY, settings=pg_s3_settings)
    windows.lake_window(credit_spec, DAY, ref(1), pg_s3_settings)
    assert len(scored) == 3


def test_a_metadata_file_is_parsed_once_and_a_commit_is_a_new_one(
    two_days, credit_spec, pg_s3_settings
) -> None:
    """lake.memoize_table_metadata: loading the table again shares the parsed metadata of
    the same file; after a commit the table loads the new file's (its new snapshot)."""
    from mlstack.sources import land
    from mlstack.stages.ingest import ingest_day

    assert lake.memoize_table_metadata()  # PyIceberg 0.12: applied (by the catalog)
    name = credit_spec.table_name("features")
    again = lake.load_table(name, pg_s3_settings)
    assert again.metadata is lake.load_table(name, pg_s3_settings).metadata
    third = DAY + timedelta(days=2)
    land(credit_spec, third, pg_s3_settings)
    ingest_day(credit_spec, third, settings=pg_s3_settings)
    now = lake.load_table(name, pg_s3_settings)
    assert now.metadata_location != again.metadata_location
    assert len(now.snapshots()) == len(again.snapshots()) + 1
