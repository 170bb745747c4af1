"""Airflow's own authentication and authorisation for mlstack's pages in the Airflow UI.

Plugin FastAPI apps are mounted beside Airflow's API, not behind it, so they must ask for
Airflow's checks themselves. The check is the one Airflow's API routes use
(:func:`airflow.api_fastapi.core_api.security.requires_access_dag`): the caller's JWT — an
``Authorization: Bearer`` header from API clients, else the ``_token`` cookie the Airflow UI
keeps after login — is validated by the configured auth manager, and the user must be allowed
to read DAGs. No token, an expired one → 401; a token Airflow cannot verify or a user without
DAG read access → 403. The pages turn the first two into a redirect to Airflow's login.

Per use case, the pages ask the auth manager the question Airflow asks for a DAG's page:
may this user read the DAG? A use case's pages are readable when every one of its DAGs is
(:func:`usecase_access`). With the simple auth manager (the laptop) that is every use case;
with FAB (deploy mode) it is the use cases of the user's roles (:mod:`mlstack.airflow.access`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def page_dependencies() -> list[Any]:
    """FastAPI dependencies every mlstack page route runs: a logged-in Airflow user who may
    read DAGs (any auth manager: simple, FAB, Keycloak, ...)."""
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends

    return [Depends(requires_access_dag("GET"))]


@functools.cache
def _dag_ids(usecase: str) -> tuple[str, ...]:
    """A use case's DAG ids (specs change with a restart of the api-server, not before)."""
    from mlstack.airflow.access import usecase_dag_ids
    from mlstack.specs import get_spec

    return tuple(usecase_dag_ids(get_spec(usecase)))


def usecase_access() -> Callable[..., Callable[[str], bool]]:
    """The dependency that answers, for the calling user, which use cases' pages they may
    read (``mlstack.ui.create_app(usecase_access=...)``)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends

    # the user by a default, not an annotation: this module's annotations are strings that
    # FastAPI would resolve in its globals, where a local import is not
    the_user = Depends(get_user)

    def may_read_usecases(user: Any = the_user) -> Callable[[str], bool]:
        manager = get_auth_manager()

        def may_read(usecase: str) -> bool:
            return all(
                manager.is_authorized_dag(method="GET", details=DagDetails(id=dag_id), user=user)
                for dag_id in _dag_ids(usecase)
            )

        return may_read

    return may_read_usecases
