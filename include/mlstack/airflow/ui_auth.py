"""Airflow's own authentication and authorisation for mlstack's pages in the Airflow UI.

Plugin FastAPI apps are mounted beside Airflow's API, not behind it, so they must ask for
Airflow's checks themselves. The check is the one Airflow's API routes use
(:func:`airflow.api_fastapi.core_api.security.requires_access_dag`): the caller's JWT — an
``Authorization: Bearer`` header from API clients, else the ``_token`` cookie the Airflow UI
keeps after login — is validated by the configured auth manager, and the user must be allowed
to read DAGs. No token, an expired one → 401; a token Airflow cannot verify or a user without
DAG read access → 403. The pages turn the first two into a redirect to Airflow's login.
"""

from __future__ import annotations

from typing import Any


def page_dependencies() -> list[Any]:
    """FastAPI dependencies every mlstack page route runs: a logged-in Airflow user who may
    read DAGs (any auth manager: simple, FAB, Keycloak, ...)."""
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends

    return [Depends(requires_access_dag("GET"))]
