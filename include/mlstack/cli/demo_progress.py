"""The demo's progress as the command line shows it (:class:`mlstack.demo.progress.Progress`).

* :class:`LiveBar` — on a terminal: a rich bar counting the days, the day's figures as its
  description, each story event printed above it as it happens.
* :class:`LogLines` — anywhere else: one line per simulated day (day, stage, key figures)
  and one per story event, each flushed at once, so ``mlstack demo | tee log`` or a CI log
  shows the story while it runs.

:func:`day_line` is what both say about a finished day.
"""

from __future__ import annotations

from datetime import date
from types import TracebackType
from typing import TYPE_CHECKING

import click

from mlstack.demo.context import DayResult
from mlstack.demo.progress import Progress

if TYPE_CHECKING:
    from rich.console import Console

#: Longest evidence text shown on an event's line (the closing timeline shows it whole).
EVIDENCE_CHARS = 160


def day_stage(result: DayResult) -> str:
    """What the day was mostly about: ``train`` (a model was trained), ``monitor`` (the
    monitor decided something), else ``ingest``."""
    if any(n.startswith(("trained", "re-trained")) or " trained v" in n for n in result.notes):
        return "train"
    if any(n.startswith("monitor:") for n in result.notes):
        return "monitor"
    return "ingest"


def day_figures(result: DayResult) -> str:
    """The day's key figures: rows accepted and rejected, labels, and the monitor's verdict."""
    features = result.ingest.get("features", {})
    labels = result.ingest.get("labels", {})
    parts = [f"{features.get('accepted', 0)} rows"]
    if features.get("rejected"):
        parts[0] += f" ({features['rejected']} rejected)"
    if labels:
        parts.append(f"{labels.get('accepted', 0)} labels")
    verdict = next((n for n in result.notes if n.startswith("monitor:")), "")
    if verdict:
        parts.append(verdict.split(" (")[0].split(" [")[0])
    return ", ".join(parts)


def day_line(index: int, total: int, result: DayResult) -> str:
    """``day 12/100 2026-01-12 ingest: 300 rows (2 rejected), 300 labels``."""
    return f"day {index}/{total} {result.day} {day_stage(result)}: {day_figures(result)}"


def event_line(day: str, event: str, evidence: str) -> str:
    """``  >> 2026-02-15 alert: drift: 4 drifted feature(s) ...`` (evidence shortened)."""
    shown = evidence if len(evidence) <= EVIDENCE_CHARS else evidence[: EVIDENCE_CHARS - 3] + "..."
    return f"  >> {day} {event}" + (f": {shown}" if shown else "")


class LogLines(Progress):
    """Plain lines on stdout, flushed as they happen (no terminal needed)."""

    def stage(self, text: str) -> None:
        """``-- preparing Airflow ...``."""
        click.echo(f"-- {text}")

    def day_done(self, index: int, total: int, result: DayResult) -> None:
        """One line per day: :func:`day_line`."""
        click.echo(day_line(index, total, result))

    def event(self, day: str, event: str, evidence: str) -> None:
        """One line per story event: :func:`event_line`."""
        click.echo(event_line(day, event, evidence))


class LiveBar(Progress):
    """A rich progress bar on ``console`` over ``total`` days; events print above it."""

    def __init__(self, console: Console, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        self.console = console
        self.bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.task = self.bar.add_task("starting", total=total)

    def __enter__(self) -> LiveBar:
        self.bar.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self.bar.update(self.task, description="done")
        self.bar.__exit__(kind, exc, tb)

    def stage(self, text: str) -> None:
        """The bar's description says the stage."""
        self.bar.update(self.task, description=text)

    def day_started(self, index: int, total: int, day: date) -> None:
        """The bar's description names the day running."""
        self.bar.update(self.task, description=f"day {day}")

    def day_done(self, index: int, total: int, result: DayResult) -> None:
        """The bar advances; its description shows the day's figures."""
        self.bar.update(self.task, completed=index, description=day_line(index, total, result))

    def event(self, day: str, event: str, evidence: str) -> None:
        """The event prints above the bar."""
        self.console.print(event_line(day, event, evidence), markup=False, highlight=False)
