"""Report files streamed from the lake (local folder or S3): the daily monitoring reports and
the rollout decisions' reports. Only keys the read model allows are served; HTML reports run
sandboxed, in an origin of their own."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response, StreamingResponse

from mlstack import lake
from mlstack.monitoring import views
from mlstack.ui.deps import KnownUsecase

router = APIRouter(prefix="/monitoring", tags=["reports"])

#: Evidently's HTML runs its own scripts: give it an opaque origin, away from Airflow's.
REPORT_CSP = "sandbox allow-scripts allow-popups"
CHUNK = 1 << 20


def _stream(key: str) -> Iterator[bytes]:
    """A lake object in chunks."""
    fs, root = lake.filesystem()
    with fs.open_input_stream(f"{root}/{key}") as f:
        while chunk := f.read(CHUNK):
            yield bytes(chunk)


def _serve(key: str | None, shown: str) -> Response:
    """Stream a report file: HTML sandboxed, JSON as is; 404 when ``key`` is None (not a
    report's path) or nothing is there."""
    if key is None or not lake.list_keys(key):
        raise HTTPException(status_code=404, detail=f"no report {shown}")
    if key.endswith(".html"):
        headers = {"Content-Security-Policy": REPORT_CSP}
        return StreamingResponse(_stream(key), media_type="text/html", headers=headers)
    return StreamingResponse(_stream(key), media_type="application/json")


@router.get("/reports/{usecase}/{day}/{name}")
def get_report(usecase: KnownUsecase, day: str, name: str) -> Response:
    """One daily monitoring report file (``reports/<usecase>/<day>/monitor.{html,json}``)."""
    return _serve(views.report_key(usecase, day, name), f"reports/{usecase}/{day}/{name}")


@router.get("/rollouts/{usecase}/{rollout_id}/{name}")
def get_rollout_report(usecase: KnownUsecase, rollout_id: str, name: str) -> Response:
    """One rollout decision's report file
    (``reports/rollouts/<usecase>/<rollout_id>/<stage>-<action>.{html,json}``)."""
    key = views.rollout_report_key(usecase, rollout_id, name)
    return _serve(key, f"reports/rollouts/{usecase}/{rollout_id}/{name}")
