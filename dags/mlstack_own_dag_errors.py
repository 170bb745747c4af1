"""The use cases' own DAG files (``<usecase>/dags/*.py``) that fail to load, as this file's
import error in Airflow (UI: DAG import errors). This file defines no DAG, so the error marks
none stale; dags/mlstack_dags.py skips the failing files and loads every other DAG.
"""

from mlstack.airflow.own_dags import raise_problems

raise_problems()
