"""``customer_churn__pipeline``: one day of a use case's whole life in one hand-written DAG.

``ingest`` reads the day's renewals from the billing system's Postgres table (the ``sql``
source: ``CUSTOMER_CHURN_DB_URL``), ``catalog`` records the dataset version, ``train`` fits
a model on the table's exact snapshot and registers it as ``candidate``, ``promote`` gates it
against the champion, and ``monitor`` watches the champion on the day's rows. A stage that has
nothing to do skips and the next one still runs; a failure stops the run.

Param ``day`` (YYYY-MM-DD; empty = the run's logical date). Runs when triggered (maturity 1);
from maturity 2 on the spec's ``schedule``. The spec's ``dags: {own: [pipeline]}`` keeps the
factory from generating this use case's stage DAGs as well.

Written with mlstack's public stage API (:mod:`mlstack.airflow.stages`): copy this file to
compose your own. It lives in the use case's folder (``<usecase>/dags/*.py``), so it ships
with the use case; ``dags/mlstack_dags.py`` loads it (:mod:`mlstack.airflow.own_dags`).
"""

from mlstack.airflow import stages

spec = stages.own_usecase("customer_churn")
if spec is not None:  # a deployment without this use case (the embedded demo) defines nothing
    with stages.own_dag(
        spec,
        "pipeline",
        "ingest to monitoring, one day per run",
        doc=__doc__,
        schedule=spec.schedule if spec.switches()["scheduled_ingest"] else None,
        params={"day": stages.day_param("run the pipeline for")},
    ) as dag:
        (
            stages.ingest(spec)
            >> stages.catalog(spec)
            >> stages.train(spec)
            >> stages.promote(spec)
            >> stages.monitor(spec)
        )
