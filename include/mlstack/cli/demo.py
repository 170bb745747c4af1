"""``mlstack demo``: the embedded demo, its progress as it runs and a closing summary.

On a terminal a live bar counts the days and the story's events print above it; anywhere
else (``mlstack demo | tee log``, CI, a notebook) one line per simulated day and one per
story event, flushed as they happen (:mod:`mlstack.cli.demo_progress`).
"""

from __future__ import annotations

import sys
from datetime import date
from typing import TYPE_CHECKING

import click

from mlstack.cli.output import console as make_console

if TYPE_CHECKING:
    from rich.table import Table


@click.command()
@click.option("--usecase", default="credit_default", show_default=True, help="Use case to run.")
@click.option(
    "--days", default=100, show_default=True, type=click.IntRange(1, 366), help="Days to simulate."
)
@click.option(
    "--rows", default=None, type=click.IntRange(1), help="Rows per day (default: the spec's)."
)
@click.option(
    "--start", default=None, help="First day (YYYY-MM-DD; default: the simulator's start)."
)
@click.option(
    "--train-every",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Also train every N days of new labels (the spec's schedule, simulated); "
    "0 = the first model, then only retrain requests.",
)
@click.option(
    "--full",
    is_flag=True,
    help="An Evidently drift report every monitored day (default: only on days with a new "
    "alert), and every day's DAGs run on their own (default: quiet days and monitored days "
    "go seven to a run).",
)
@click.option("--reset", is_flag=True, help="Delete the demo's data first.")
@click.option("--reset-only", is_flag=True, help="Delete the demo's data and exit.")
def demo(
    usecase: str,
    days: int,
    rows: int | None,
    start: str | None,
    train_every: int,
    full: bool,
    reset: bool,
    reset_only: bool,
) -> None:
    """Run the demo use case through the real DAGs on embedded backends (no Docker)."""
    from mlstack.cli.demo_progress import LiveBar, LogLines
    from mlstack.demo import story as demo_run
    from mlstack.settings import get_settings

    console = make_console()
    settings = get_settings()
    if reset or reset_only:
        demo_run.reset(settings)
        console.print(f"removed {settings.home}")
        if reset_only:
            return
    first = date.fromisoformat(start) if start else None
    if sys.stdout.isatty():
        with LiveBar(console, days) as bar:
            ctx, results = demo_run.run(usecase, days, rows, first, bar, train_every, full)
    else:
        ctx, results = demo_run.run(usecase, days, rows, first, LogLines(), train_every, full)
    console.print(summary_table(results))
    from mlstack import model_records
    from mlstack.cli.models import models_table

    if models := model_records.list_models(usecase):
        console.print(models_table(models, title="models"), markup=False, highlight=False)
    if ctx.timeline:
        console.print(timeline_table(ctx.timeline))
    console.print(
        "Training: "
        + (
            f"the first model, then every {train_every} days of new labels and on retrain requests"
            if train_every
            else "the first model, then only on retrain requests (the spec's schedule is "
            "not simulated; --train-every N adds it)"
        )
        + "; every challenger is rolled out when it appears, on a compressed clock."
    )
    console.print(f"Data under {settings.home}; Airflow task logs in {ctx.log_file}.")
    console.print(
        "Explore: [bold]mlstack catalog list[/], [bold]mlstack catalog show "
        f"{usecase}[/]; run again to replace the same days, --reset to start over."
    )


def summary_table(results: list) -> Table:
    """One row per day: rows in/accepted/rejected, labels, snapshot, catalog versions."""
    from rich.table import Table

    table = Table(title="demo summary", show_footer=True)
    tot = {"in": 0, "ok": 0, "bad": 0, "labels": 0}
    rows = []
    for r in results:
        f = r.ingest.get("features", {})
        lab = r.ingest.get("labels", {})
        versions = " ".join(f"v{c['version']}" for c in r.catalog) or "-"
        tot["in"] += f.get("rows_in", 0)
        tot["ok"] += f.get("accepted", 0)
        tot["bad"] += f.get("rejected", 0)
        tot["labels"] += lab.get("accepted", 0)
        rows.append(
            (
                str(r.day),
                str(f.get("rows_in", "")),
                str(f.get("accepted", "")),
                str(f.get("rejected", "")),
                str(lab.get("accepted", "-")),
                str(f.get("snapshot_id", "")),
                versions,
                "; ".join(r.notes),
            )
        )
    cols = [
        ("day", f"{len(results)} days"),
        ("rows in", str(tot["in"])),
        ("accepted", str(tot["ok"])),
        ("rejected", str(tot["bad"])),
        ("labels", str(tot["labels"])),
        ("snapshot", ""),
        ("catalog", ""),
    ]
    if any(r.notes for r in results):
        cols.append(("notes", ""))
    for name, footer in cols:
        table.add_column(
            name,
            footer=footer,
            justify="right" if name in {"rows in", "accepted", "rejected", "labels"} else "left",
        )
    for row in rows:
        table.add_row(*row[: len(cols)])
    return table


def timeline_table(events: list[tuple[str, str, str]]) -> Table:
    """The story in order: shock, alerts, the retrain policy's decisions, training, rollout."""
    from rich.table import Table

    table = Table(title="timeline")
    table.add_column("day", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("evidence")
    for day, event, evidence in sorted(events, key=lambda e: e[0]):  # stable: "after ..." last
        table.add_row(day, event, evidence)
    return table
