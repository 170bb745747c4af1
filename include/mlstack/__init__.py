"""mlstack: the lifecycle library behind the mlstack Airflow project.

Stages (ingest, catalog, train, ...) live in :mod:`mlstack.stages` as plain Python;
Airflow glue lives in :mod:`mlstack.airflow`; the shared ground (settings, specs, plugins,
lake, store) sits beside them.

Importing it turns MLflow's usage telemetry off unless ``MLFLOW_DISABLE_TELEMETRY`` is set
already: a self-hosted stack does not report to mlflow.org, and MLflow's telemetry thread,
when it cannot fetch its configuration (no route out), deletes an environment variable while
the task's own HTTP calls may be reading the environment (``requests`` looks up proxies
there): a ``KeyError`` that failed a training task's ``log-batch`` call in CI. The image sets
the same for processes that import MLflow without mlstack (the MLflow server).
"""

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

__version__ = "0.1.0"
