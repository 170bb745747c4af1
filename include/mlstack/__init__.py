"""mlstack: the lifecycle library behind the mlstack Airflow project.

Stages (ingest, catalog, train, ...) live in :mod:`mlstack.stages` as plain Python;
Airflow glue lives in :mod:`mlstack.airflow`; the shared ground (settings, specs, plugins,
lake, store) sits beside them.
"""

__version__ = "0.1.0"
