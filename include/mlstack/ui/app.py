"""The FastAPI app the Airflow plugin mounts under ``/mlstack``.

Authentication is not decided here: :func:`create_app` takes the dependencies every route
needs and the test of which use cases the caller may read (the plugin passes Airflow's own,
from :mod:`mlstack.airflow.ui_auth`) and sends a browser that is refused for want of a valid
login to Airflow's login page. The static files
(CSS, chart script, the vendored charting library) are public: they hold no data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlstack.ui import deps
from mlstack.ui.routes import catalog, maturity, monitoring, reports

STATIC = Path(__file__).parent / "static"
#: Airflow's login entry point (it redirects to the auth manager's login page, then ``next``).
LOGIN_PATH = "/api/v2/auth/login"
#: Refusals a new login cures: no token, an expired one (401), one Airflow cannot verify (403).
RELOGIN_DETAILS = frozenset({"Invalid JWT token"})


def login_redirect(status_code: int, detail: Any, accept: str, url: str) -> str | None:
    """Where a browser refused for want of a valid login goes: Airflow's login, then back to
    ``url`` (a path: behind a TLS proxy the request's own URL says http and an inner host).
    None for API clients (they get the 401/403) and for real permission refusals."""
    if "text/html" not in accept:
        return None
    if status_code == 401 or (status_code == 403 and detail in RELOGIN_DETAILS):
        return f"{LOGIN_PATH}?{urlencode({'next': url})}"
    return None


async def redirect_to_login(request: Request, exc: Exception) -> Response:
    """Send a browser without a valid login to Airflow's login page; others get the error."""
    assert isinstance(exc, StarletteHTTPException)
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = login_redirect(exc.status_code, exc.detail, request.headers.get("accept", ""), back)
    if target is not None:
        return RedirectResponse(target, status_code=303)
    return await http_exception_handler(request, exc)


def create_app(
    dependencies: Sequence[Any] = (),
    usecase_access: Callable[..., Callable[[str], bool]] | None = None,
) -> FastAPI:
    """The app the Airflow plugin mounts; every route runs ``dependencies`` (the login check),
    and ``usecase_access`` (a dependency) decides which use cases' pages the caller may read
    (without it: every one)."""
    app = FastAPI(title="mlstack", description="mlstack pages inside the Airflow UI")
    if usecase_access is not None:
        app.dependency_overrides[deps.usecase_access] = usecase_access
    for router in (monitoring.router, reports.router, catalog.router, maturity.router):
        app.include_router(router, dependencies=list(dependencies))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(StarletteHTTPException, redirect_to_login)
    return app
