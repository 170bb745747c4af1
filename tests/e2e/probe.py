"""What the stack holds for one use case and day, as JSON on stdout.

Runs inside the stack (``docker compose exec -T airflow-scheduler python - USECASE DAY``), where
the settings point at the stack's Postgres, S3 and MLflow. The e2e test asserts on its answer;
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


def main(usecase: str, day: str, with_model: str = "no") -> None:
    facts: dict[str, Any] = {
        "iceberg": iceberg_rows(usecase, date.fromisoformat(day)),
        "catalog_versions": catalog_versions(usecase),
    }
    if with_model == "model":
        facts["champion"] = champion(usecase)
    sys.stdout.write(json.dumps(facts, default=str) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
