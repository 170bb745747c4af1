"""The maturity page: per use case, its declared level, the checklist answered from evidence,
the level the evidence supports, what the next level needs and the level-5 retrain costs —
the data of ``mlstack maturity`` (:mod:`mlstack.maturity`), beside the monitoring pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from mlstack.maturity import report
from mlstack.specs import get_spec
from mlstack.ui.deps import KnownUsecase, ReadableUsecases, templates

router = APIRouter(prefix="/maturity", tags=["maturity"])


def usecase_report(usecase: str) -> dict[str, Any]:
    """One use case's maturity report, its checklist grouped by level (1 to 5)."""
    rep = report(get_spec(usecase))
    levels = [
        {"level": n, "items": [i for i in rep["items"] if i["level"] == n]} for n in range(1, 6)
    ]
    return {**rep, "levels": levels}


def _page(request: Request, title: str, usecases: list[str]) -> HTMLResponse:
    reports = [usecase_report(name) for name in usecases]
    return templates.TemplateResponse(
        request, "maturity.html", {"title": title, "reports": reports}
    )


@router.get("/", response_class=HTMLResponse)
def list_maturity(request: Request, readable: ReadableUsecases) -> HTMLResponse:
    """The maturity of every use case the caller may read."""
    return _page(request, "mlstack maturity", readable)


@router.get("/api/{usecase}")
def get_maturity(usecase: KnownUsecase) -> dict[str, Any]:
    """One use case's maturity report as JSON (what ``mlstack maturity USECASE --json`` prints)."""
    return report(get_spec(usecase))


@router.get("/{usecase}", response_class=HTMLResponse)
def read_maturity(request: Request, usecase: KnownUsecase) -> HTMLResponse:
    """One use case's maturity."""
    return _page(request, f"{usecase} maturity", [usecase])
