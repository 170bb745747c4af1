"""Write the dumps of a database the previous release (7835cca) made, rows in every table.

``python tests/previous_release/make_dumps.py --postgres-url postgresql://...`` loads
7835cca's ``mlstack/store.py`` from git, lets its ``init_tables`` create the tables (what
that release did on first use) in a SQLite file and in the given empty PostgreSQL
database, inserts :func:`rows`, and writes ``mlstack-7835cca.sqlite.sql`` (sqlite3's dump)
and ``mlstack-7835cca.postgres.sql`` (``pg_dump --inserts``, as plain SQL) beside this
script. The migration tests load those dumps and migrate them
(tests/integration/test_store_migration.py, with :func:`load`). Run once; the dumps are
committed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RELEASE = "7835cca"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def old_store(tmp: Path) -> ModuleType:
    """7835cca's ``mlstack.store``, from git (it imports today's ``mlstack.settings``)."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{RELEASE}:include/mlstack/store.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = tmp / "store_7835cca.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("store_7835cca", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows() -> dict[str, list[dict[str, Any]]]:
    """Rows for every table of 7835cca, by table name (insert in this order)."""
    uc, rid = "credit_default", "11111111-2222-4333-8444-555555555555"
    metric = {"usecase": uc, "model_version": 1, "run_date": date(2026, 3, 1), "feature": None}
    metric |= {"threshold": 0.72, "alert": False, "details": {}, "created_at": T0}
    return {
        "catalog_datasets": [
            {"name": f"{uc}.features", "usecase": uc, "kind": "features"}
            | {"table_identifier": f"mlstack.{uc}_features", "location": "s3://lake/f"}
            | {"owner": "risk", "description": "applications", "tags": {"pii": "no"}}
            | {"created_at": T0, "updated_at": T0}
        ],
        "catalog_versions": [
            {"dataset": f"{uc}.features", "version": n, "snapshot_id": 7000 + n}
            | {"partition": f"2026-03-0{n}", "operation": "append", "total_rows": 100 * n}
            | {"partition_rows": 100, "rejected_rows": 0, "schema": {"age": "long"}}
            | {"schema_changes": [], "stats": {"age": {"mean": 40.5}}, "producer": "ingest"}
            | {"snapshot_at": T0, "created_at": T0}
            for n in (1, 2)
        ],
        "catalog_lineage": [
            {"source": "job:ingest", "relation": "produced", "target": f"{uc}.features@1"}
            | {"details": {}, "created_at": T0}
        ],
        "promotion_decisions": [
            {"usecase": uc, "model_version": 1, "run_id": "r1", "action": "gates"}
            | {"outcome": "champion", "compared_with": None, "previous_champion": None}
            | {"reasons": ["first model"], "gates": [], "metrics": {"roc_auc": 0.8}}
            | {"actor": "airflow", "created_at": T0}
        ],
        "predictions": [
            {"prediction_id": f"00000000-0000-4000-8000-00000000000{i}", "usecase": uc}
            | {"entity_id": f"app-{i}", "rollout_id": None, "rollout_stage": None}
            | {"variant": "champion", "model_version": 1, "features": {"age": 30 + i}}
            | {"prediction": 0.1 * i, "score": 0.1 * i, "latency_ms": 2.5, "created_at": T0}
            for i in (1, 2, 3)
        ],
        "feedback": [
            {"usecase": uc, "prediction_id": "00000000-0000-4000-8000-000000000001"}
            | {"entity_id": "app-1", "label": 1.0, "label_at": T0, "received_at": T0}
        ],
        "prediction_errors": [
            {"usecase": uc, "rollout_id": rid, "rollout_stage": 0, "variant": "challenger"}
            | {"model_version": 2, "error": "ValueError: bad input", "created_at": T0}
        ],
        "rollouts": [
            {"rollout_id": rid, "usecase": uc, "champion_version": 1, "challenger_version": 2}
            | {"stages": [{"name": "canary", "traffic": 0.1, "shadow": False}]}
            | {"stage_index": 0, "state": "running", "started_at": T0}
            | {"stage_started_at": T0, "ended_at": None, "actor": "airflow"}
        ],
        "rollout_decisions": [
            {"rollout_id": rid, "usecase": uc, "stage_index": 0, "action": "wait"}
            | {"reasons": ["40 labelled rows"], "evidence": {}, "report_uri": None}
            | {"created_at": T0}
        ],
        "monitoring_metrics": [
            metric | {"variant": None, "metric": "estimated_roc_auc", "value": 0.8},
            metric | {"variant": "champion", "metric": "drift_share", "value": 0.1},
            metric
            | {"variant": "challenger", "model_version": 2, "metric": "drift_share"}
            | {"value": 0.2},
        ],
        "monitoring_alerts": [
            {"usecase": uc, "model_version": 1, "run_date": date(2026, 3, 1), "kind": "drift"}
            | {"severity": "warning", "message": "drift in age", "details": {}}
            | {"report_uri": "s3://lake/reports/x.html", "created_at": T0}
        ],
        "retrain_requests": [
            {"usecase": uc, "model_version": 1, "run_date": date(2026, 3, 1), "decision": "none"}
            | {"reason": "no drift", "evidence": {}, "created_at": T0}
        ],
    }


def fill(store: ModuleType, url: str) -> None:
    """Create 7835cca's tables with its own code, then insert :func:`rows`."""
    eng = sa.create_engine(url)
    store.init_tables(eng)
    with eng.begin() as conn:
        for name, table_rows in rows().items():
            conn.execute(store.metadata.tables[name].insert(), table_rows)
    eng.dispose()


def load(eng: sa.Engine) -> None:
    """Load the committed dump of ``eng``'s backend (sqlite or postgresql) into its empty
    database: the database 7835cca made, rows in every table."""
    backend = "sqlite" if eng.dialect.name == "sqlite" else "postgres"
    sql = (HERE / f"mlstack-{RELEASE}.{backend}.sql").read_text()
    if backend == "sqlite":
        raw = eng.raw_connection()
        try:
            raw.driver_connection.executescript(sql)
        finally:
            raw.close()
    else:
        with eng.begin() as conn:
            conn.exec_driver_sql(sql)
    eng.dispose()  # the dump emptied its session's search_path: no pooled connection keeps it


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres-url", required=True, help="an empty PostgreSQL database")
    parser.add_argument("--pg-dump", default="pg_dump", help="pg_dump of that server's version")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = old_store(Path(tmp))
        db = Path(tmp) / "old.db"
        fill(store, f"sqlite:///{db}")
        with sqlite3.connect(db) as conn:
            (HERE / f"mlstack-{RELEASE}.sqlite.sql").write_text("\n".join(conn.iterdump()) + "\n")
    fill(store, args.postgres_url)
    plain = sa.make_url(args.postgres_url).set(drivername="postgresql")
    dump = subprocess.run(
        [args.pg_dump, "--inserts", "--no-owner", "--no-privileges", "--dbname"]
        + [plain.render_as_string(hide_password=False)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # plain SQL any client runs: no psql meta-commands (\restrict), nothing only PG 17+ knows
    lines = [x for x in dump.splitlines() if not x.startswith(("\\", "SET transaction_timeout"))]
    (HERE / f"mlstack-{RELEASE}.postgres.sql").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
