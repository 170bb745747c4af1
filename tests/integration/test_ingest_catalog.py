"""The ingest → catalog chain through the real DAGs (``dag.test()``), on the embedded
backends (SQLite + local folder) and on the stack's (PostgreSQL + S3), plus bad input on
real backends: nothing half-written, rejected rows kept, re-runs idempotent."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pandas as pd
import pytest
from mlstack import lake
from mlstack.exceptions import SchemaError, SourceError

pytestmark = pytest.mark.integration

DAY = date(2026, 2, 1)  # 31 days after the simulator's start: labels are flowing


def run(dagbag, dag_id: str, conf: dict | None = None):
    """Run a DAG like the scheduler would, in-process; return the finished run."""
    dr = dagbag.dags[dag_id].test(logical_date=None, run_conf=conf or {})
    assert str(getattr(dr.state, "value", dr.state)) == "success", f"{dag_id} failed"
    return dr


def table_rows(spec, dataset: str, settings, day: date | None = None) -> pd.DataFrame:
    table = lake.load_table(spec.table_name(dataset), settings)
    if day is None:
        return table.scan().to_pandas()
    return table.scan(row_filter=lake.day_filter(spec.dataset_schema(dataset), day)).to_pandas()


def chain_is_idempotent(dagbag, spec, settings) -> None:
    from mlstack.stages import catalog

    for _ in range(2):  # the second pass re-runs the same day
        run(dagbag, f"{spec.name}__ingest", {"day": DAY.isoformat()})
        run(dagbag, f"{spec.name}__catalog")
    rows = table_rows(spec, "features", settings)
    assert len(rows) == rows[spec.schema.id_column].nunique() > 0
    assert set(rows[spec.schema.timestamp_column].astype(str)) == {DAY.isoformat()}
    info = catalog.show_dataset(spec.name)
    latest = info["versions"][0]
    assert latest["total_rows"] == len(rows)
    assert latest["partition"] == f"day={DAY}"
    assert latest["stats"][spec.schema.id_column]["distinct"] == len(rows)
    assert info["dataset"]["owner"] == spec.owner
    assert any(
        e["relation"] == "produced" and e["source"].startswith(f"job:{spec.name}__ingest/")
        for e in info["lineage"]
    )
    assert any(
        e["relation"] == "loaded_into" and e["source"].startswith("file:") for e in info["lineage"]
    )
    return info


def test_chain_on_embedded_backends_is_idempotent(dagbag, embedded_settings, credit_spec) -> None:
    info = chain_is_idempotent(dagbag, credit_spec, embedded_settings)
    assert info["versions"][0]["rejected_rows"] > 0  # the simulator's malformed rows
    labels = table_rows(credit_spec, "labels", embedded_settings)
    assert len(labels) == 2000 and labels["defaulted"].isin([0, 1]).all()
    q = lake.list_keys(f"quarantine/credit_default/features/day={DAY}", embedded_settings)
    rejected = pd.read_csv(io.BytesIO(lake.read_bytes(q[0], embedded_settings)))
    assert len(rejected) == info["versions"][0]["rejected_rows"]
    assert rejected["_reason"].notna().all()


def test_chain_on_postgres_and_s3_is_idempotent(dagbag, pg_s3_settings, credit_spec) -> None:
    chain_is_idempotent(dagbag, credit_spec, pg_s3_settings)
    assert pg_s3_settings.database_url.startswith("postgresql")
    keys = lake.list_keys("warehouse", pg_s3_settings)
    assert any(k.endswith(".parquet") for k in keys)


def test_regression_usecase_runs_through_the_same_dags(
    dagbag, embedded_settings, diabetes_spec
) -> None:
    chain_is_idempotent(dagbag, diabetes_spec, embedded_settings)


def test_ingest_event_extra_carries_snapshot_and_counts(
    dagbag, embedded_settings, credit_spec
) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    run(dagbag, "credit_default__ingest", {"day": DAY.isoformat()})
    with create_session() as session:
        event = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == "credit_default.features")
            .order_by(AssetEvent.id.desc())
            .first()
        )
        extra = dict(event.extra)
    assert extra["day"] == DAY.isoformat()
    assert extra["rows_in"] == extra["accepted"] + extra["rejected"]
    snap = lake.catalog().load_table("mlstack.credit_default").current_snapshot()
    assert extra["snapshot_id"] == snap.snapshot_id


def test_a_range_of_days_in_one_run_commits_each_day_and_catalogs_each_days_files(
    dagbag, embedded_settings, credit_spec
) -> None:
    """``through``: one ingest run lands and ingests three days, one snapshot each; the
    catalog records the three versions, each with its own day's files as lineage; a re-run
    of the range replaces them (no duplicate rows)."""
    from mlstack.stages import catalog

    last = DAY + timedelta(days=2)
    for _ in range(2):
        dr = run(dagbag, "credit_default__ingest", {"day": DAY.isoformat(), "through": str(last)})
        run(dagbag, "credit_default__catalog")
    rows = table_rows(credit_spec, "features", embedded_settings)
    assert len(rows) == rows["application_id"].nunique()
    assert sorted(set(rows["application_date"].astype(str))) == [
        str(DAY + timedelta(days=i)) for i in range(3)
    ]
    from mlstack.airflow.runner import task_results

    days = task_results(dr)["ingest_features"]["days"]
    assert [d["day"] for d in days] == [str(DAY + timedelta(days=i)) for i in range(3)]
    assert len({d["snapshot_id"] for d in days}) == 3
    info = catalog.show_dataset("credit_default")
    by_version = {v["snapshot_id"]: v["version"] for v in info["versions"]}
    loaded = {(e["source"], e["target"]) for e in info["lineage"] if e["relation"] == "loaded_into"}
    ours = {by_version[d["snapshot_id"]] for d in days}
    for d in days:  # each day's file: into its day's version of this run, no other of it
        targets = {t for s, t in loaded if s == f"file:{d['files'][0]}"}
        mine = f"dataset:credit_default@v{by_version[d['snapshot_id']]}"
        assert mine in targets and not {f"dataset:credit_default@v{v}" for v in ours} & (
            targets - {mine}
        ), (d["day"], targets)


def test_a_range_that_ends_before_it_starts_says_so(dagbag, embedded_settings) -> None:
    dr = dagbag.dags["credit_default__ingest"].test(
        logical_date=None, run_conf={"day": DAY.isoformat(), "through": "2026-01-01"}
    )
    assert str(getattr(dr.state, "value", dr.state)) == "failed"
    # a param no retry can fix fails its task on the first try (the stage's retries unused)
    (land,) = [ti for ti in dr.get_task_instances() if ti.task_id == "land"]
    assert str(getattr(land.state, "value", land.state)) == "failed"
    assert land.try_number == 1 and land.max_tries > 0, (land.try_number, land.max_tries)


# --- bad input, on real backends ------------------------------------------------------------


def put(settings, spec, day: date, name: str, data: bytes, dataset: str = "features") -> None:
    prefix = spec.dataset_source(dataset).options["prefix"]
    lake.delete_prefix(f"{prefix}/day={day}", settings)
    lake.write_bytes(f"{prefix}/day={day}/{name}", data, settings)


def landed_csv(spec, day: date) -> str:
    from mlstack.demo.simulator import credit_default

    sim = spec.simulator
    return credit_default(day, seed=sim.seed, rows=200, start=sim.start, options=sim.options)[
        "features"
    ][1].decode()


@pytest.fixture
def ingested(embedded_settings, credit_spec):
    """One good day ingested; returns the table's row count and snapshot before the bad input."""
    from mlstack.stages.ingest import ingest_day

    put(embedded_settings, credit_spec, DAY, "a.csv", landed_csv(credit_spec, DAY).encode())
    ingest_day(credit_spec, DAY)
    table = lake.catalog().load_table("mlstack.credit_default")
    return len(table.scan().to_arrow()), table.current_snapshot().snapshot_id


def unchanged(ingested) -> bool:
    table = lake.catalog().load_table("mlstack.credit_default")
    return (len(table.scan().to_arrow()), table.current_snapshot().snapshot_id) == ingested


def test_missing_column_fails_and_writes_nothing(embedded_settings, credit_spec, ingested) -> None:
    from mlstack.stages.ingest import ingest_day

    text = landed_csv(credit_spec, DAY)
    frame = pd.read_csv(io.StringIO(text), dtype=str, on_bad_lines="skip").drop(
        columns=["credit_score"]
    )
    put(embedded_settings, credit_spec, DAY, "a.csv", frame.to_csv(index=False).encode())
    with pytest.raises(SchemaError, match=r"missing column\(s\) \['credit_score'\]"):
        ingest_day(credit_spec, DAY)
    assert unchanged(ingested)


def test_wrong_type_fails_and_writes_nothing(embedded_settings, credit_spec, ingested) -> None:
    from mlstack.stages.ingest import ingest_day

    frame = pd.read_csv(io.StringIO(landed_csv(credit_spec, DAY)), dtype=str, on_bad_lines="skip")
    frame["age"] = "about " + frame["age"]
    put(embedded_settings, credit_spec, DAY, "a.csv", frame.to_csv(index=False).encode())
    with pytest.raises(SchemaError, match=r"changed type in column\(s\) age"):
        ingest_day(credit_spec, DAY)
    assert unchanged(ingested)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("a.csv", b"", "file is empty"),
        ("a.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "not a CSV text file"),
        ("a.csv", b'{"application_id": 1}\n', "looks like JSON"),
    ],
)
def test_unreadable_file_fails_and_writes_nothing(
    embedded_settings, credit_spec, ingested, name, data, message
) -> None:
    from mlstack.stages.ingest import ingest_day

    put(embedded_settings, credit_spec, DAY, name, data)
    with pytest.raises(SourceError, match=message):
        ingest_day(credit_spec, DAY)
    assert unchanged(ingested)


def test_missing_day_fails_naming_the_folder(embedded_settings, credit_spec) -> None:
    from mlstack.stages.ingest import ingest_day

    with pytest.raises(
        SourceError, match=r"no files for 2026-03-01 under .*applications/day=2026-03-01"
    ):
        ingest_day(credit_spec, date(2026, 3, 1))


def test_duplicated_ids_and_malformed_rows_are_quarantined(embedded_settings, credit_spec) -> None:
    from mlstack.stages.ingest import ingest_day

    text = landed_csv(credit_spec, DAY)
    lines = text.splitlines()
    doubled = "\n".join([*lines, lines[1], "x,y"]) + "\n"  # a duplicate id and a malformed line
    put(embedded_settings, credit_spec, DAY, "a.csv", doubled.encode())
    result = ingest_day(credit_spec, DAY)
    assert result.rows_in == result.accepted + result.rejected
    rejected = pd.read_csv(
        io.BytesIO(
            lake.read_bytes(lake.list_keys(f"quarantine/credit_default/features/day={DAY}")[0])
        ),
        dtype=str,
    )
    assert rejected["_reason"].str.contains("duplicate id").any()
    assert rejected["_reason"].str.contains("malformed line").any()
    assert rejected["_raw"].fillna("").str.contains("x,y").any()


def test_rerun_after_fix_replaces_day_and_clears_quarantine(embedded_settings, credit_spec) -> None:
    from mlstack.stages.ingest import ingest_day

    put(embedded_settings, credit_spec, DAY, "a.csv", landed_csv(credit_spec, DAY).encode())
    first = ingest_day(credit_spec, DAY)
    assert first.quarantine is not None
    clean = pd.read_csv(io.StringIO(landed_csv(credit_spec, DAY)), dtype=str, on_bad_lines="skip")
    clean = clean[clean["purpose"] != "crypto"].drop_duplicates("application_id")
    clean = clean[
        pd.to_numeric(clean["age"], errors="coerce").notna() & clean["credit_score"].notna()
    ]
    clean = clean[
        (pd.to_numeric(clean["income"]) >= 0) & (pd.to_numeric(clean["debt_to_income"]) <= 5)
    ]
    put(embedded_settings, credit_spec, DAY, "a.csv", clean.to_csv(index=False).encode())
    second = ingest_day(credit_spec, DAY)
    assert second.rejected == 0 and second.quarantine is None
    assert len(table_rows(credit_spec, "features", embedded_settings, DAY)) == len(clean)
    assert lake.list_keys(f"quarantine/credit_default/features/day={DAY}") == []


def test_sql_source_reads_a_day_from_postgres(postgres_url, embedded_settings, credit_spec) -> None:
    import sqlalchemy as sa
    from mlstack.sources import sql

    frame = pd.read_csv(
        io.StringIO(landed_csv(credit_spec, DAY)), dtype=str, on_bad_lines="skip"
    ).head(50)
    eng = sa.create_engine(postgres_url)
    frame.to_sql("applications", eng, index=False)
    eng.dispose()
    batch = sql(
        DAY,
        spec=credit_spec,
        dataset="features",
        settings=embedded_settings,
        options={
            "url": postgres_url,
            "query": "select * from applications where application_date = :day",
        },
    )
    assert len(batch.frame) == 50
    assert batch.origins[0].startswith("sql:postgresql")
    assert (DAY - timedelta(days=1)).isoformat() not in set(batch.frame["application_date"])
