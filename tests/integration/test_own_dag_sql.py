"""Bring your own data, end to end: the example use case ``customer_churn`` reads a real
PostgreSQL table (the ``sql`` source) and its hand-written DAG ``customer_churn__pipeline``
(``customer_churn/dags/pipeline.py``, in the use case's folder, composed from
:mod:`mlstack.airflow.stages`), taken from the dags folder's DagBag as the dag-processor
loads it, runs ingest → catalog → train → promote → monitor through ``dag.test()``,
mlstack's DB on the same PostgreSQL server and the lake on S3 (moto); MLflow on its
embedded store (the MLflow server's own tests are elsewhere)."""

from __future__ import annotations

import runpy
import shutil
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "include" / "usecases" / "customer_churn"
DAYS, ROWS = 10, 200  # 6 days to train on, 2 validation, 2 holdout
START = date(2026, 1, 1)
LAST = START + timedelta(days=DAYS - 1)


def source_database(postgres_server: str) -> str:
    """A database of its own on the session's PostgreSQL: the billing system's."""
    name = f"billing_{uuid.uuid4().hex[:8]}"
    eng = sa.create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return f"{postgres_server}/{name}"


def example_usecases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The example's folder as the deployment's only use case (``MLSTACK_USECASES_DIR``).

    The promotion latency gate gets 5 s: what is tested is the pipeline, and a loaded
    machine's single-row timing misses 100 ms."""
    from mlstack.settings import get_settings

    folder = tmp_path / "usecases" / "customer_churn"
    shutil.copytree(EXAMPLE, folder)
    raw = yaml.safe_load((folder / "usecase.yaml").read_text())
    raw["promotion"]["max_latency_ms"] = 5000
    (folder / "usecase.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("MLSTACK_USECASES_DIR", str(folder.parent))
    get_settings.cache_clear()
    return get_settings()


def states(run: Any) -> dict[str, str]:
    return {
        ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()
    }


def test_example_dag_runs_a_postgres_table_from_ingest_to_monitoring(
    airflow_db, pg_s3_settings, postgres_server, tmp_path, monkeypatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from mlstack import registry, store
    from mlstack.airflow.runner import task_results
    from mlstack.specs import get_spec
    from mlstack.stages.ingest import ingest_day

    url = source_database(postgres_server)
    seed = runpy.run_path(str(EXAMPLE / "seed_table.py"))
    assert seed["seed"](url, DAYS, ROWS, START) == DAYS * ROWS
    monkeypatch.setenv("CUSTOMER_CHURN_DB_URL", url)
    settings = example_usecases(tmp_path, monkeypatch)
    spec = get_spec("customer_churn")
    for i in range(DAYS - 1):  # the days before: ingested by hand from the same table
        ingest_day(spec, START + timedelta(days=i))

    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["customer_churn__pipeline"]
    run = dag.test(logical_date=None, run_conf={"day": LAST.isoformat()})

    assert states(run) == {
        "ingest_features": "success",
        "record_versions": "success",
        "train": "success",
        "evaluate": "success",
        "announce_challenger": "skipped",  # a first model becomes champion, not challenger
        "monitor": "success",
    }
    results = task_results(run)
    ingested = results["ingest_features"]
    assert (ingested["rows_in"], ingested["accepted"], ingested["rejected"]) == (ROWS, ROWS, 0)
    assert ingested["files"] == [
        f"sql:{sa.engine.make_url(url).render_as_string(hide_password=True)}/subscription_renewals"
    ]
    recorded = {r["snapshot_id"]: r for r in results["record_versions"]}
    assert recorded[ingested["snapshot_id"]]["total_rows"] == DAYS * ROWS  # catalogued
    version = results["train"]["version"]
    assert registry.aliases_of("customer_churn") == {"champion": version}
    decision = results["evaluate"]
    assert (decision["version"], decision["outcome"]) == (version, "champion")

    eng = store.engine(settings)
    with eng.connect() as conn:
        decided = conn.execute(
            sa.select(store.promotion_decisions.c.outcome, store.promotion_decisions.c.actor).where(
                store.promotion_decisions.c.usecase == "customer_churn"
            )
        ).all()
        monitored = conn.execute(
            sa.select(store.monitoring_metrics.c.metric, store.monitoring_metrics.c.value)
            .where(store.monitoring_metrics.c.usecase == "customer_churn")
            .where(store.monitoring_metrics.c.run_date == LAST)
            .where(store.monitoring_metrics.c.model_version == version)
        ).all()
    assert decided == [("champion", "customer_churn__pipeline/evaluate")]
    metrics = {m: v for m, v in monitored}
    assert results["monitor"]["rows"] == ROWS
    assert "estimated_roc_auc" in metrics
    assert metrics["realised_roc_auc"] > 0.6  # every row of the table carries its outcome


def test_sql_source_reads_through_an_airflow_connection(
    postgres_server, embedded_settings, monkeypatch
) -> None:
    """``conn_id``: the URL comes from an Airflow connection (here AIRFLOW_CONN_<ID>)."""
    from mlstack import sources
    from mlstack.airflow.connections import connection_url
    from mlstack.specs import get_spec

    monkeypatch.setattr(sources, "connection_url", connection_url)  # as the ingest task does
    url = source_database(postgres_server)
    runpy.run_path(str(EXAMPLE / "seed_table.py"))["seed"](url, 2, 30, START)
    parsed = sa.engine.make_url(url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_BILLING_DB",
        f"postgres://{parsed.username}@{parsed.host}:{parsed.port}/{parsed.database}",
    )
    spec = get_spec("customer_churn", ROOT / "include" / "usecases")
    options = {"conn_id": "billing_db", "table": "subscription_renewals"}
    batch = sources.sql(
        START, spec=spec, dataset="features", options=options, settings=embedded_settings
    )
    assert len(batch.frame) == 30
    assert set(batch.frame["renewal_date"]) == {START}
