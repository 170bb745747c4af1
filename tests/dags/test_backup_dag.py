"""The scheduled backup DAG: there only with a schedule (deploy mode sets one), one task,
one run at a time, no catch-up, the retention and target from the settings."""

from __future__ import annotations

import pytest
from support import use_settings


def test_no_backup_dag_without_a_schedule(embedded_settings) -> None:
    from mlstack.airflow.backup import build_backup

    assert build_backup() == {}


def test_backup_dag_structure(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlstack.airflow.backup import DAG_ID, buckets, build_backup

    s = use_settings(
        monkeypatch,
        home=str(tmp_path),
        backup_schedule="0 3 * * *",
        backup_keep="3",
        lake_url="s3://lake",
    )
    dag = build_backup()[DAG_ID]
    assert [t.task_id for t in dag.tasks] == ["backup"]
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert "mlstack" in dag.tags and dag.doc_md
    (task,) = dag.tasks
    assert task.retries >= 1 and task.owner == "mlstack"
    assert s.backup_keep == 3
    assert buckets(s) == {"lake": "lake", "mlflow": "mlflow"}


def test_backup_dag_names_the_missing_mlflow_url(tmp_path, monkeypatch) -> None:
    from mlstack.airflow.backup import databases
    from mlstack.exceptions import SettingsError

    s = use_settings(monkeypatch, home=str(tmp_path), backup_schedule="@daily")
    with pytest.raises(SettingsError, match="MLSTACK_BACKUP_MLFLOW_DATABASE_URL"):
        databases(s)
