"""The catalog page: a use case's datasets, their versions (rows as bars, schema change) and
their lineage grouped per version, down to the models trained on it."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from mlstack.monitoring import views
from mlstack.ui import charts
from mlstack.ui.deps import KnownUsecase, templates

router = APIRouter(prefix="/catalog", tags=["catalog"])

#: A dataset version's lineage node, ``dataset:<name>@v<version>``.
VERSION_REF = re.compile(r"dataset:(?P<name>[^@]+)@v(?P<version>\d+)")


def edge_line(edge: dict[str, Any]) -> str:
    """An edge as ``source -relation-> target``."""
    return f"{edge['source']} -{edge['relation']}-> {edge['target']}"


def lineage_lines(dataset: dict[str, Any]) -> list[str]:
    """Lineage edges as lines, dataset first then models."""
    return [edge_line(e) for e in [*dataset["lineage"], *dataset["models"]]]


def lineage_groups(dataset: dict[str, Any]) -> list[dict[str, Any]]:
    """The lineage per dataset version, newest first: the edges touching that version and
    the models registered from the runs trained on it (``counts`` by relation)."""
    name = dataset["dataset"]["name"]
    registered: dict[str, list[dict[str, Any]]] = {}
    for e in dataset["models"]:
        registered.setdefault(e["source"], []).append(e)
    groups: dict[int, list[dict[str, Any]]] = {}
    for e in dataset["lineage"]:
        for end in (e["source"], e["target"]):
            found = VERSION_REF.fullmatch(end)
            if found and found["name"] == name:
                groups.setdefault(int(found["version"]), []).append(e)
                break
    out = []
    for version in sorted(groups, reverse=True):
        edges = groups[version]
        runs = [e["target"] for e in edges if e["relation"] == "trained"]
        edges = edges + [m for run in runs for m in registered.get(run, [])]
        counts: dict[str, int] = {}
        for e in edges:
            counts[e["relation"]] = counts.get(e["relation"], 0) + 1
        out.append(
            {
                "version": version,
                "lines": [edge_line(e) for e in edges],
                "counts": counts,
                "models": [e["target"] for e in edges if e["relation"] == "registered_as"],
            }
        )
    return out


def _dataset_context(ds: dict[str, Any]) -> dict[str, Any]:
    versions = ds["versions"]
    rows = [(f"v{v['version']} {v['partition'] or ''}".strip(), v["total_rows"]) for v in versions]
    rejected = [(f"v{v['version']}", v["rejected_rows"]) for v in versions if v["rejected_rows"]]
    return {
        **ds,
        "versions": [{**v, "at": str(v["snapshot_at"])[:19]} for v in versions],
        "rows": charts.bars(rows),
        "rejected": charts.bars(rejected),
        "groups": lineage_groups(ds),
    }


@router.get("/{usecase}", response_class=HTMLResponse)
def get_catalog(request: Request, usecase: KnownUsecase) -> HTMLResponse:
    """The use case's dataset versions with their lineage, linked from monitoring."""
    datasets = [_dataset_context(ds) for ds in views.catalog_versions(usecase)]
    return templates.TemplateResponse(
        request,
        "catalog.html",
        {"title": f"{usecase} catalog", "usecase": usecase, "datasets": datasets},
    )
