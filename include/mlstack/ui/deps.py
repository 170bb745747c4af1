"""What the routes share: the readable-use-case dependency and the Jinja2 templates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import jinja2
from fastapi import Depends, HTTPException
from fastapi.templating import Jinja2Templates

from mlstack.monitoring import views

TEMPLATES = Path(__file__).parent / "templates"

templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


def usecase_names() -> list[str]:
    """The use cases with a valid spec, sorted."""
    return views.usecases()


def usecase_access() -> Callable[[str], bool]:
    """Which use cases the caller may read. Here: every one — the app is given the auth
    manager's answer instead (``create_app(usecase_access=...)``; the Airflow plugin passes
    :func:`mlstack.airflow.ui_auth.usecase_access`)."""
    return lambda usecase: True


#: The caller's test of a use case: may they read its pages?
UsecaseAccess = Annotated[Callable[[str], bool], Depends(usecase_access)]


def readable_usecase_names(may_read: UsecaseAccess) -> list[str]:
    """The use cases with a valid spec that the caller may read, sorted."""
    return [name for name in usecase_names() if may_read(name)]


def known_usecase(usecase: str, may_read: UsecaseAccess) -> str:
    """The path's use case; 404 when no spec has that name, 403 when the caller may not
    read it (Airflow's per-DAG permission on every one of its DAGs)."""
    if usecase not in usecase_names():
        raise HTTPException(status_code=404, detail=f"no use case {usecase!r}")
    if not may_read(usecase):
        raise HTTPException(
            status_code=403,
            detail=f"you may not read use case {usecase!r}: an admin adds you to its team "
            "(team.users or team.groups in its usecase.yaml)",
        )
    return usecase


#: A path parameter ``usecase`` that names a use case with a spec the caller may read.
KnownUsecase = Annotated[str, Depends(known_usecase)]
#: The use cases the caller may read.
ReadableUsecases = Annotated[list[str], Depends(readable_usecase_names)]
