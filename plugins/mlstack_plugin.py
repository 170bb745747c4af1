"""The mlstack Airflow plugin: mlstack's pages inside the Airflow UI (Browse → Monitoring).

Mounts the FastAPI app of :mod:`mlstack.ui.monitoring` under ``/mlstack`` on the api-server
and adds a navigation entry. Nothing is computed at import: pages read the mlstack database
per request.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from mlstack.ui.monitoring import create_app


class MlstackPlugin(AirflowPlugin):
    """Monitoring pages: use cases, champion/challenger, metric charts with alerts."""

    name = "mlstack"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/mlstack", "name": "mlstack"}]
    external_views = [
        {
            "name": "Monitoring",
            "href": "/mlstack/monitoring/",
            "destination": "nav",
            "category": "browse",
            "url_route": "mlstack-monitoring",
        }
    ]
