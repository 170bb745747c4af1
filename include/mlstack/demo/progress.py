"""What the demo tells while it runs: the hooks :func:`mlstack.demo.story.run` calls.

:class:`Progress` is the interface (each hook does nothing here): a stage of the run starts
(``stage``), a simulated day starts and ends (``day_started``, ``day_done`` with the day's
summary row) and the story has an event (``event``: the row the closing timeline shows, at
the moment it happens). The command line implements it twice (:mod:`mlstack.cli.demo`): a
live bar on a terminal, plain lines flushed as they happen anywhere else.
"""

from __future__ import annotations

from datetime import date

from mlstack.demo.context import DayResult


class Progress:
    """The demo's progress hooks; this base ignores them all."""

    def stage(self, text: str) -> None:
        """A stage of the run that is not a day starts (preparing Airflow, the last step)."""

    def day_started(self, index: int, total: int, day: date) -> None:
        """Day ``index`` (1-based) of ``total`` starts."""

    def day_done(self, index: int, total: int, result: DayResult) -> None:
        """Day ``index`` of ``total`` ended; ``result`` is its summary row."""

    def event(self, day: str, event: str, evidence: str) -> None:
        """The story has an event (one timeline row), as it happens."""
