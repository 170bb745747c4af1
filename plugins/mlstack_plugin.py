"""The mlstack Airflow plugin: mlstack's pages inside the Airflow UI (Browse → Monitoring,
Browse → Maturity).

Mounts the FastAPI app of :mod:`mlstack.ui.app` under ``/mlstack`` on the api-server,
behind Airflow's own login and DAG read permission, per use case
(:mod:`mlstack.airflow.ui_auth`), and adds navigation entries (Browse → Monitoring, Browse →
Maturity) and a Monitoring tab on every DAG that opens its use case's page. Nothing is
computed at import: pages read the mlstack database and the lake per request.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from mlstack.airflow.ui_auth import page_dependencies, usecase_access
from mlstack.ui.app import create_app


class MlstackPlugin(AirflowPlugin):
    """Monitoring pages: use cases, champion/challenger, metric charts, reports, catalog."""

    name = "mlstack"
    fastapi_apps = [
        {
            "app": create_app(page_dependencies(), usecase_access()),
            "url_prefix": "/mlstack",
            "name": "mlstack",
        }
    ]
    external_views = [
        {
            "name": "Monitoring",
            "href": "/mlstack/monitoring/",
            "destination": "nav",
            "category": "browse",
            "url_route": "mlstack-monitoring",
        },
        {
            "name": "Maturity",
            "href": "/mlstack/maturity/",
            "destination": "nav",
            "category": "browse",
            "url_route": "mlstack-maturity",
        },
        {
            # a Monitoring tab on each DAG: its use case's page (see routes/monitoring.py)
            "name": "Monitoring",
            "href": "/mlstack/monitoring/dag/{DAG_ID}",
            "destination": "dag",
        },
    ]
