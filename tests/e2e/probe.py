"""What the stack holds for one use case and day, as JSON on stdout.

Runs inside the stack (``docker compose exec -T airflow-scheduler python - USECASE DAY WHAT...``),
where the settings point at the stack's Postgres, S3 and MLflow. WHAT names the facts wanted:
``lake`` (Iceberg rows, catalog versions), ``model`` (the champion and its artifacts),
``rollout`` (the latest rollout, its decisions, reports and the aliases) and ``monitor`` (the
day's metrics, alerts, report and logged predictions). The e2e test asserts on its answer;
this script only reads.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Any


def iceberg_rows(usecase: str, day: date) -> dict[str, Any]:
    """Rows of the use case's feature table on ``day`` (and in total)."""
    from mlstack import lake
    from mlstack.specs import get_spec
    from pyiceberg.expressions import EqualTo

    spec = get_spec(usecase)
    table = lake.catalog().load_table(lake.table_identifier(spec.table_name("features")))
    day_rows = table.scan(
        row_filter=EqualTo(spec.schema_.timestamp_column, day.isoformat())
    ).to_arrow()
    return {
        "table": lake.table_identifier(spec.table_name("features")),
        "day_rows": day_rows.num_rows,
        "snapshot_id": table.current_snapshot().snapshot_id if table.current_snapshot() else None,
    }


def catalog_versions(usecase: str) -> list[dict[str, Any]]:
    """The catalog's versions of the use case's feature dataset."""
    from mlstack.specs import get_spec
    from mlstack.stages import catalog

    shown = catalog.show_dataset(catalog.dataset_name(get_spec(usecase), "features"), limit=1000)
    return [
        {k: v[k] for k in ("version", "snapshot_id", "partition", "partition_rows")}
        for v in shown["versions"]
    ]


def champion(usecase: str) -> dict[str, Any] | None:
    """The registered model's `champion` version and the artifacts it has in the bucket."""
    import boto3
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlstack.settings import get_settings

    s = get_settings()
    client = MlflowClient(tracking_uri=s.mlflow_tracking_uri)
    try:
        version = client.get_model_version_by_alias(usecase, "champion")
    except MlflowException as exc:
        return {"error": str(exc).splitlines()[0]}
    s3 = boto3.client(
        "s3",
        endpoint_url=s.s3_endpoint_url,
        aws_access_key_id=s.s3_access_key_id,
        aws_secret_access_key=s.s3_secret_access_key,
        region_name=s.s3_region,
    )
    keys = [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="mlflow")
        for obj in page.get("Contents", [])
    ]
    # MLflow 3 keeps a logged model's files under .../models/<model id>/artifacts/, and
    # names it in the version's source (models:/m-...); older models live under their run.
    model_id = getattr(version, "model_id", None) or (
        version.source.removeprefix("models:/").split("/")[0]
        if version.source.startswith("models:/")
        else None
    )
    ids = [i for i in (model_id, version.run_id) if i]
    return {
        "version": version.version,
        "source": version.source,
        "run_id": version.run_id,
        "model_id": model_id,
        "artifact_keys": [k for k in keys if any(i in k for i in ids)][:50],
    }


def aliases(usecase: str) -> dict[str, Any]:
    """The registered model's aliases, and each version's ``mlstack.rollout`` tag."""
    from mlstack import registry

    return {
        "aliases": registry.aliases_of(usecase),
        "rollout_tags": {
            int(v.version): v.tags.get("mlstack.rollout") for v in registry.list_versions(usecase)
        },
    }


def promotions(usecase: str) -> list[dict[str, Any]]:
    """Promotion decisions, newest first: version, outcome and each gate's verdict."""
    from mlstack.stages import promote

    keys = ("model_version", "outcome", "action", "compared_with", "reasons", "gates")
    return [{k: r.get(k) for k in keys} for r in promote.history(usecase, limit=10)]


def rollout_facts(usecase: str) -> dict[str, Any]:
    """The latest rollout, every decision with its evidence, and which report objects exist."""
    import sqlalchemy as sa
    from mlstack import lake, store
    from mlstack.stages import rollout

    status = rollout.status(usecase)
    ro = status["rollout"]
    if ro is None:
        return {"rollout": None, **aliases(usecase)}
    d = store.rollout_decisions.c
    with store.engine().connect() as conn:
        decisions = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(d.id, d.stage_index, d.action, d.reasons, d.evidence, d.report_uri)
                .where(d.rollout_id == ro["rollout_id"])
                .order_by(d.id)
            )
        ]
    return {
        "rollout": ro,
        "decisions": decisions,
        "report_keys": lake.list_keys(f"reports/rollouts/{usecase}/{ro['rollout_id']}"),
        "lake_url": lake.url(""),
        **aliases(usecase),
    }


def monitor_facts(usecase: str, day: date) -> dict[str, Any]:
    """The day's monitoring metrics and alerts, its report objects, and the logged requests."""
    from datetime import UTC, datetime, time, timedelta

    import sqlalchemy as sa
    from mlstack import lake, store

    m, a, p = store.monitoring_metrics.c, store.monitoring_alerts.c, store.predictions.c
    start = datetime.combine(day, time.min, tzinfo=UTC)
    with store.engine().connect() as conn:
        metrics = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(m.metric, m.feature, m.value, m.alert, m.model_version).where(
                    m.usecase == usecase, m.run_date == day
                )
            )
        ]
        alerts = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(a.kind, a.message, a.report_uri).where(
                    a.usecase == usecase, a.run_date == day
                )
            )
        ]
        logged = {
            f"{r.variant}/v{r.model_version}": int(r.n)
            for r in conn.execute(
                sa.select(p.variant, p.model_version, sa.func.count().label("n"))
                .where(
                    p.usecase == usecase,
                    p.created_at >= start,
                    p.created_at < start + timedelta(days=1),
                )
                .group_by(p.variant, p.model_version)
            )
        }
    return {
        "metrics": metrics,
        "alerts": alerts,
        "logged_predictions": logged,
        "report_keys": lake.list_keys(f"reports/{usecase}/{day.isoformat()}"),
    }


def main(usecase: str, day: str, *what: str) -> None:
    wanted = set(what) or {"lake"}
    facts: dict[str, Any] = {}
    if "lake" in wanted:
        facts["iceberg"] = iceberg_rows(usecase, date.fromisoformat(day))
        facts["catalog_versions"] = catalog_versions(usecase)
    if "model" in wanted:
        facts["champion"] = champion(usecase)
    if "promotions" in wanted:
        facts["promotions"] = promotions(usecase)
        facts |= aliases(usecase)
    if "rollout" in wanted:
        facts["rollout"] = rollout_facts(usecase)
    if "monitor" in wanted:
        facts["monitor"] = monitor_facts(usecase, date.fromisoformat(day))
    sys.stdout.write(json.dumps(facts, default=str) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
