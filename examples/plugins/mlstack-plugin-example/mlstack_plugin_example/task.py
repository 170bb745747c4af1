"""Task ``min_rows``: placed after ``ingest``, it stops the run on a thin day."""

from __future__ import annotations

from typing import Any

from mlstack.plugins import register
from mlstack.usecase_tasks import StopRun, TaskContext


@register("tasks", "min_rows")
def min_rows(ctx: TaskContext) -> dict[str, Any]:
    """Stop the run when the ingest tasks before it accepted fewer than
    ``options.min_rows`` rows (default 1) in total."""
    wanted = int(ctx.options.get("min_rows", 1))
    accepted = sum(
        int(result.get("accepted", 0))
        for result in ctx.upstream.values()
        if isinstance(result, dict)
    )
    if accepted < wanted:
        raise StopRun(f"{ctx.day}: {accepted} rows accepted, fewer than min_rows {wanted}")
    return {"accepted": accepted, "min_rows": wanted}
