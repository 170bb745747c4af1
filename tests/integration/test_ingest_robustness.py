"""Ingestion against the real lake (Iceberg on a local folder or S3, catalog on SQLite or
PostgreSQL): a failed run changes nothing anyone can see, header-only days, ids unique
across days, labels without features, stray files, configured formats, and S3 going
down in the middle of an ingestion."""

from __future__ import annotations

import gzip
import io
import uuid
from datetime import date, timedelta

import pandas as pd
import pytest
from click.testing import CliRunner
from mlstack import lake
from mlstack.exceptions import SourceError
from support import free_port, use_settings

pytestmark = pytest.mark.integration

DAY = date(2026, 2, 1)


def landed(spec, day: date, rows: int = 200, dataset: str = "features") -> str:
    from mlstack.demo.simulator import credit_default

    sim = spec.simulator
    files = credit_default(day, seed=sim.seed, rows=rows, start=sim.start, options=sim.options)
    return files[dataset][1].decode()


def put(settings, spec, day: date, name: str, data: bytes, dataset: str = "features") -> None:
    prefix = spec.dataset_source(dataset).options["prefix"]
    lake.delete_prefix(f"{prefix}/day={day}", settings)
    lake.write_bytes(f"{prefix}/day={day}/{name}", data, settings)


def state(spec, dataset: str = "features", day: date = DAY) -> dict:
    """What a reader sees: the current snapshot, the rows, the day's quarantine and its text."""
    from mlstack.stages.ingest import current_quarantine

    table = lake.load_table(spec.table_name(dataset))
    key = current_quarantine(spec, dataset, day)
    return {
        "snapshot": table.current_snapshot().snapshot_id,
        "rows": table.scan()
        .to_pandas()
        .drop(columns=["_ingested_at"])
        .sort_values(spec.schema.id_column)
        .reset_index(drop=True),
        "quarantine": key,
        "quarantine_text": lake.read_bytes(key) if key else None,
    }


def same(before: dict, after: dict) -> bool:
    return (
        before["snapshot"] == after["snapshot"]
        and before["rows"].equals(after["rows"])
        and before["quarantine"] == after["quarantine"]
        and before["quarantine_text"] == after["quarantine_text"]
    )


@pytest.fixture
def day_ingested(embedded_settings, credit_spec):
    """DAY ingested from the simulator's file (which has rejected and malformed rows)."""
    from mlstack.stages.ingest import ingest_day

    put(embedded_settings, credit_spec, DAY, "a.csv", landed(credit_spec, DAY).encode())
    result = ingest_day(credit_spec, DAY)
    assert result.rejected > 0 and result.malformed == 1
    return result


def with_source(spec, **changes):
    """The spec with changes to its features source (``options`` merged)."""
    options = {**spec.source.options, **changes.pop("options", {})}
    return spec.model_copy(
        update={"source": spec.source.model_copy(update={"options": options, **changes})}
    )


# --- counts, quarantine named by the commit --------------------------------------------------


def test_ingest_counts_add_up_and_snapshot_names_the_quarantine(day_ingested, credit_spec) -> None:
    from mlstack.stages.ingest import current_quarantine

    r = day_ingested
    assert r.rows_in == r.accepted + (r.rejected - r.malformed) + r.malformed
    key = current_quarantine(credit_spec, "features", DAY)
    assert r.quarantine == lake.url(key) and key.endswith(f"rejected-{r.batch}.csv")
    rejected = pd.read_csv(io.BytesIO(lake.read_bytes(key)), dtype=str)
    assert len(rejected) == r.rejected
    assert rejected["_reason"].str.startswith("malformed line").sum() == r.malformed
    assert rejected["_line"].notna().all()
    snap = lake.load_table(credit_spec.table_name()).current_snapshot()
    props = snap.summary.additional_properties
    assert props["mlstack.rows-in"] == str(r.rows_in) and props["mlstack.quarantine"] == key


def test_rerun_replaces_the_quarantine_file_and_prunes_the_old(
    day_ingested, credit_spec, embedded_settings
) -> None:
    from mlstack.stages.ingest import ingest_day, quarantine_folder

    again = ingest_day(credit_spec, DAY)
    assert again.batch != day_ingested.batch and again.rejected == day_ingested.rejected
    keys = lake.list_keys(quarantine_folder(credit_spec, "features", DAY))
    assert keys == [f"quarantine/credit_default/features/day={DAY}/rejected-{again.batch}.csv"]


# --- header-only days ----------------------------------------------------------------------


def test_header_only_file_for_an_ingested_day_is_refused_and_keeps_the_day(
    day_ingested, credit_spec, embedded_settings
) -> None:
    from mlstack.stages.ingest import ingest_day

    before = state(credit_spec)
    header = landed(credit_spec, DAY).splitlines()[0] + "\n"
    put(embedded_settings, credit_spec, DAY, "a.csv", header.encode())
    with pytest.raises(
        SourceError,
        match=rf"no rows for {DAY} \(only a header\). Nothing was written: mlstack.credit_default "
        rf"keeps {DAY} as it was.*'empty_day: record'",
    ):
        ingest_day(credit_spec, DAY)
    assert same(before, state(credit_spec))


def test_header_only_new_day_is_refused_not_reported_as_another_days_snapshot(
    day_ingested, credit_spec, embedded_settings
) -> None:
    from mlstack.stages.ingest import ingest_day

    new_day = DAY + timedelta(days=1)
    header = landed(credit_spec, DAY).splitlines()[0] + "\n"
    put(embedded_settings, credit_spec, new_day, "a.csv", header.encode())
    with pytest.raises(SourceError, match=f"no rows for {new_day}"):
        ingest_day(credit_spec, new_day)


def test_empty_day_record_commits_an_empty_day_of_its_own(
    day_ingested, credit_spec, embedded_settings
) -> None:
    from mlstack.stages import catalog
    from mlstack.stages.ingest import ingest_day

    spec = with_source(credit_spec, empty_day="record")
    header = landed(credit_spec, DAY).splitlines()[0] + "\n"
    new_day = DAY + timedelta(days=1)
    put(embedded_settings, spec, new_day, "a.csv", header.encode())
    result = ingest_day(spec, new_day)
    table = lake.load_table(spec.table_name())
    snap = table.current_snapshot()
    assert result.snapshot_id == snap.snapshot_id != day_ingested.snapshot_id
    assert snap.summary.additional_properties["mlstack.day"] == new_day.isoformat()
    assert (result.rows_in, result.accepted, result.rejected) == (0, 0, 0)
    assert len(table.scan().to_arrow()) == day_ingested.accepted  # DAY untouched
    rec = catalog.record_snapshot(spec, "features", result.snapshot_id)
    assert rec.partition == f"day={new_day}" and rec.partition_rows == 0


# --- ids across days, labels without features --------------------------------------------------


def test_id_already_ingested_on_another_day_is_rejected_with_that_day(
    day_ingested, credit_spec, embedded_settings
) -> None:
    from mlstack.stages.ingest import current_quarantine, ingest_day

    first = pd.read_csv(io.StringIO(landed(credit_spec, DAY)), dtype=str, on_bad_lines="skip")
    kept = lake.load_table(credit_spec.table_name()).scan().to_pandas()["application_id"]
    reused = first[first["application_id"].isin(kept)].head(3).copy()
    new_day = DAY + timedelta(days=1)
    reused["application_date"] = new_day.isoformat()
    fresh = pd.read_csv(io.StringIO(landed(credit_spec, new_day)), dtype=str, on_bad_lines="skip")
    data = pd.concat([fresh, reused]).to_csv(index=False).encode()
    put(embedded_settings, credit_spec, new_day, "a.csv", data)
    ingest_day(credit_spec, new_day)
    key = current_quarantine(credit_spec, "features", new_day)
    rejected = pd.read_csv(io.BytesIO(lake.read_bytes(key)), dtype=str)
    cross = rejected[rejected["_reason"].str.contains("was already ingested for")]
    assert sorted(cross["application_id"]) == sorted(reused["application_id"])
    assert cross["_reason"].str.contains(f"ingested for {DAY} \\(ids must be unique").all()
    ids = lake.load_table(credit_spec.table_name()).scan().to_pandas()["application_id"]
    assert ids.is_unique
    # re-running DAY itself is a replacement, not a conflict with itself
    assert ingest_day(credit_spec, DAY).accepted == day_ingested.accepted


def test_labels_for_ids_never_ingested_are_kept_and_reported(
    day_ingested, credit_spec, embedded_settings
) -> None:
    from mlstack.stages.ingest import ingest_day

    ids = lake.load_table(credit_spec.table_name()).scan().to_pandas()["application_id"][:3]
    labels = pd.DataFrame(
        {
            "application_id": [*ids, "NEVER-1", "NEVER-2"],
            "defaulted": [0, 1, 0, 1, 0],
            "label_date": DAY.isoformat(),
        }
    )
    put(embedded_settings, credit_spec, DAY, "l.csv", labels.to_csv(index=False).encode(), "labels")
    result = ingest_day(credit_spec, DAY, "labels")
    assert (result.rows_in, result.accepted, result.unmatched_ids) == (5, 5, 2)
    assert result.warnings == [
        "2 label(s) have an id never ingested as features (e.g. ['NEVER-1', 'NEVER-2']); they "
        "are kept in the labels table and join no features row until those arrive"
    ]
    snap = lake.load_table(credit_spec.table_name("labels")).current_snapshot()
    assert snap.summary.additional_properties["mlstack.unmatched-ids"] == "2"


# --- the day folder ---------------------------------------------------------------------------


def test_stray_files_and_subfolders_are_ignored_with_a_warning(
    embedded_settings, credit_spec
) -> None:
    from mlstack.stages.ingest import ingest_day

    prefix = f"landing/credit_default/applications/day={DAY}"
    put(embedded_settings, credit_spec, DAY, "a.csv", landed(credit_spec, DAY).encode())
    lake.write_bytes(f"{prefix}/README.md", b"# notes\n")
    lake.write_bytes(f"{prefix}/_SUCCESS", b"")
    lake.write_bytes(f"{prefix}/old/b.csv", b"not,a,valid\nfile\n")
    result = ingest_day(credit_spec, DAY)
    assert [f.rsplit("/", 1)[-1] for f in result.files] == ["a.csv"]
    assert any("subfolder(s) ['old'] ignored" in w for w in result.warnings)
    assert any("file(s) ['README.md'] ignored: not CSV" in w for w in result.warnings)


def test_day_folder_with_only_stray_files_is_refused_naming_them(
    embedded_settings, credit_spec
) -> None:
    from mlstack.stages.ingest import ingest_day

    put(embedded_settings, credit_spec, DAY, "export.xlsx", b"PK\x03\x04")
    with pytest.raises(SourceError, match=r"no CSV .* it holds only \['export.xlsx'\]"):
        ingest_day(credit_spec, DAY)


def test_gzip_semicolon_file_is_read_once_configured(embedded_settings, credit_spec) -> None:
    from mlstack.stages.ingest import ingest_day

    text = landed(credit_spec, DAY).replace(",", ";")
    put(embedded_settings, credit_spec, DAY, "a.csv.gz", gzip.compress(text.encode()))
    with pytest.raises(SourceError, match="options.compression: gzip"):
        ingest_day(credit_spec, DAY)
    spec = with_source(credit_spec, options={"compression": "gzip", "delimiter": ";"})
    result = ingest_day(spec, DAY)
    assert result.accepted > 190 and result.rows_in == 201


# --- the CLI: features committed, labels failed ------------------------------------------------


def test_cli_ingest_says_features_were_committed_when_labels_fail(
    embedded_settings, credit_spec
) -> None:
    from mlstack.cli import main

    put(embedded_settings, credit_spec, DAY, "a.csv", landed(credit_spec, DAY).encode())
    labels = landed(credit_spec, DAY, dataset="labels").encode("utf-16")
    put(embedded_settings, credit_spec, DAY, "l.csv", labels, "labels")
    result = CliRunner().invoke(main, ["ingest", "credit_default", "--date", DAY.isoformat()])
    assert result.exit_code != 0
    out = result.output
    assert "features" in out and "UTF-16" in out
    assert f"features of {DAY} WERE committed" in out
    assert f"mlstack ingest credit_default --date {DAY} --dataset labels" in out
    assert lake.load_table(credit_spec.table_name()).current_snapshot() is not None


# --- S3 down in the middle of an ingestion -----------------------------------------------------


@pytest.fixture
def own_s3(tmp_path, monkeypatch, postgres_url):
    """A lake on an S3 server of this test's own (moto), so the test can stop and restart it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = {"s": ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)}
    server["s"].start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    settings = use_settings(
        monkeypatch,
        home=str(tmp_path / "home"),
        database_url=postgres_url,
        lake_url=f"s3://lake-{uuid.uuid4().hex[:10]}",
        s3_endpoint_url=f"http://127.0.0.1:{port}",
        s3_access_key_id="test",
        s3_secret_access_key="test",
    )
    lake.prepare(settings)

    def stop() -> None:
        server["s"].stop()

    def start() -> None:  # moto keeps its buckets in the process: they survive a restart
        server["s"] = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server["s"].start()

    yield settings, stop, start
    server["s"].stop()


def test_s3_down_mid_ingest_leaves_table_and_quarantine_as_they_were(
    own_s3, credit_spec, monkeypatch
) -> None:
    from mlstack.stages import ingest

    settings, stop, start = own_s3
    put(settings, credit_spec, DAY, "a.csv", landed(credit_spec, DAY).encode())
    first = ingest.ingest_day(credit_spec, DAY)
    before = state(credit_spec)

    # The next delivery of the day; S3 goes down after its quarantine file is written,
    # as the Iceberg commit starts writing data files.
    text = landed(credit_spec, DAY).replace(",car,", ",crypto,", 5)
    put(settings, credit_spec, DAY, "a.csv", text.encode())
    real_replace_day = lake.replace_day

    def s3_dies_then_commit(*args, **kwargs):
        stop()
        return real_replace_day(*args, **kwargs)

    monkeypatch.setattr(lake, "replace_day", s3_dies_then_commit)
    with pytest.raises(OSError, match="connect"):  # the store's own error, unchanged
        ingest.ingest_day(credit_spec, DAY)
    monkeypatch.setattr(lake, "replace_day", real_replace_day)
    start()

    after = state(credit_spec)
    assert same(before, after)  # same snapshot, rows, quarantine file and its bytes
    assert after["quarantine"].endswith(f"rejected-{first.batch}.csv")
    # the failed run's own file (written before S3 died) is referenced by no snapshot, and
    # the next successful run of the day removes it
    folder = ingest.quarantine_folder(credit_spec, "features", DAY)
    leftovers = [k for k in lake.list_keys(folder) if first.batch not in k]
    assert len(leftovers) <= 1
    again = ingest.ingest_day(credit_spec, DAY)
    assert lake.list_keys(folder) == [ingest.current_quarantine(credit_spec, "features", DAY)]
    assert again.rejected > first.rejected


def test_bom_and_digit_only_ids_commit_as_text(embedded_settings, credit_spec) -> None:
    from mlstack.stages.ingest import ingest_day

    frame = pd.read_csv(io.StringIO(landed(credit_spec, DAY)), dtype=str, on_bad_lines="skip")
    frame["application_id"] = [f"{i:06d}" for i in range(len(frame))]
    data = b"\xef\xbb\xbf" + frame.to_csv(index=False).encode()
    put(embedded_settings, credit_spec, DAY, "a.csv", data)
    result = ingest_day(credit_spec, DAY)
    ids = lake.load_table(credit_spec.table_name()).scan().to_pandas()["application_id"]
    assert result.accepted == len(ids) > 0
    assert ids.str.fullmatch(r"\d{6}").all() and "000000" in set(ids)


def test_header_only_labels_day_is_recorded_empty_as_the_demo_spec_says(
    embedded_settings, credit_spec
) -> None:
    from mlstack.stages.ingest import ingest_day

    assert credit_spec.labels.source.empty_day == "record"
    day = credit_spec.simulator.start  # no labels are due yet: the file is only a header
    put(
        embedded_settings,
        credit_spec,
        day,
        "labels.csv",
        landed(credit_spec, day, dataset="labels").encode(),
        "labels",
    )
    result = ingest_day(credit_spec, day, "labels")
    assert (result.rows_in, result.accepted) == (0, 0) and result.snapshot_id is not None
