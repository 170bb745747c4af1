"""What the demo's steps share: the run's context, one day's result row, the step types.

:class:`DemoContext` is made once by :func:`mlstack.demo.story.run` and handed to every step;
a step fills the day's :class:`DayResult` (the summary row) and adds rows to the context's
timeline (:func:`add_event`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from mlstack.settings import Settings


@dataclass
class DayResult:
    """What the DAGs did for one day (one summary row)."""

    day: date
    ingest: dict[str, dict[str, Any]] = field(default_factory=dict)
    catalog: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class DemoContext:
    """Everything a demo step needs."""

    usecase: str
    settings: Settings
    dags: dict[str, Any]
    log_file: Path
    spec_for_landing: Any
    days: list[date]
    #: The story as (day, event, evidence) rows, printed as the closing timeline.
    timeline: list[tuple[str, str, str]] = field(default_factory=list)
    #: Scratch state of the story steps (last policy decision, alerts already shown).
    story_state: dict[str, Any] = field(default_factory=dict)
    #: Train every this many days of new labels besides retrain requests (0: first model only).
    train_every: int = 0
    #: ``--full``: every day its own DAG runs and a report every monitored day.
    full: bool = False
    #: Told of each timeline row as it is added (the live progress shows the story).
    on_event: Callable[[str, str, str], None] | None = None


#: A step run for every day: ``(ctx, day, result)``; it fills ``result`` and the timeline.
Step = Callable[[DemoContext, date, DayResult], None]
#: A step run once after the last day: ``(ctx, results)``.
FinalStep = Callable[[DemoContext, list[DayResult]], None]


def add_event(ctx: DemoContext, day: date | str, event: str, evidence: str = "") -> None:
    """Append one timeline row (day, event, evidence) and tell ``ctx.on_event``."""
    ctx.timeline.append((str(day), event, evidence))
    if ctx.on_event is not None:
        ctx.on_event(str(day), event, evidence)
