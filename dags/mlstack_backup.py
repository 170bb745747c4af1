"""The scheduled backup (deploy mode): exists when MLSTACK_BACKUP_SCHEDULE is set."""

from mlstack.airflow.backup import build_backup

globals().update(build_backup())
