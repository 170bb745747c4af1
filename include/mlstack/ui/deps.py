"""What the routes share: the known-use-case dependency and the Jinja2 templates."""

from __future__ import annotations

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


def known_usecase(usecase: str) -> str:
    """The path's use case, or 404 when no spec has that name."""
    if usecase not in usecase_names():
        raise HTTPException(status_code=404, detail=f"no use case {usecase!r}")
    return usecase


#: A path parameter ``usecase`` that names a use case with a spec.
KnownUsecase = Annotated[str, Depends(known_usecase)]
