"""What the commands print through: a rich console sized for a terminal or a pipe, JSON, and
plain-text tables that stay readable at 80 columns.

:func:`table` lays rows out in the console's width: a column too wide for it wraps between
whole phrases (``; `` separated, else words), and a row's long remark (a promotion reason)
goes on its own indented line under the row instead of a narrow column. ``wide=True`` shows
every column, nothing wrapped (``--wide``). Only :func:`console` loads rich: a command that
prints a table or JSON needs nothing but the standard library here.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

#: Columns of piped output when ``COLUMNS`` does not say (logs keep long lines whole).
PIPE_WIDTH = 160
#: Spaces between two columns.
GAP = 2
#: Indent of a row's remark line.
NOTE_INDENT = 4


def console() -> Console:
    """A rich console: the terminal's width, or ``COLUMNS``, or 160 columns when piped."""
    from rich.console import Console

    return Console(width=None if _sized() else PIPE_WIDTH)


def width() -> int:
    """The width the tables lay out in (see :func:`console`)."""
    return shutil.get_terminal_size((80, 24)).columns if _sized() else PIPE_WIDTH


def _sized() -> bool:
    return sys.stdout.isatty() or "COLUMNS" in os.environ


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout (dates and other values as strings)."""
    click.echo(json.dumps(data, indent=2, default=str))


def json_option(f: Any) -> Any:
    """The ``--json`` flag of a read command (parameter ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help="Print the data as JSON.")(f)


def wide_option(f: Any) -> Any:
    """The ``--wide`` flag of a read command (parameter ``wide``)."""
    return click.option(
        "--wide", is_flag=True, help="Show every column, nothing wrapped (lines get long)."
    )(f)


@dataclass(frozen=True)
class Column:
    """A table column; ``wide_only`` columns show with ``--wide`` only."""

    name: str
    wide_only: bool = False
    right: bool = False


def wrap(text: str, limit: int) -> list[str]:
    """``text`` in lines of at most ``limit`` characters, broken between whole phrases
    (``; `` separated) where they fit, else between words, else inside a word too long for a
    line (a path); never an empty list."""
    if len(text) <= limit:
        return [text]
    phrases = text.split("; ")
    pieces = [p + ";" for p in phrases[:-1]] + phrases[-1:]
    lines: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current} {piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            lines.append(current)
        *full, current = textwrap.wrap(piece, max(1, limit), break_on_hyphens=False) or [""]
        lines += full
    return [*lines, current] if current or not lines else lines


def _fit(
    natural: list[int], floors: list[int], room: int, *, widest_first: bool = False
) -> list[int]:
    """Column widths that fit ``room``: the column with most to give (``widest_first``: the
    widest that can give) shrinks first, never below its floor."""
    widths = list(natural)
    while sum(widths) > room:
        slack = [w - f for w, f in zip(widths, floors, strict=True)]
        if widest_first:
            gives = [(s > 0, w) for s, w in zip(slack, widths, strict=True)]
            i = max(range(len(widths)), key=gives.__getitem__)
        else:
            i = max(range(len(widths)), key=slack.__getitem__)
        if slack[i] <= 0:
            break
        widths[i] -= min(slack[i], sum(widths) - room)
    return widths


def table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Any]],
    *,
    notes: Sequence[str] | None = None,
    title: str | None = None,
    wide: bool = False,
    limit: int | None = None,
) -> str:
    """``rows`` under ``columns`` as text in ``limit`` columns (default :func:`width`); each
    row's ``notes`` entry, when not empty, on a line under it (with ``wide``: as a last
    column ``note``, whole)."""
    shown = [i for i, c in enumerate(columns) if wide or not c.wide_only]
    cols = [columns[i] for i in shown]
    cells = [["" if r[i] is None else str(r[i]) for i in shown] for r in rows]
    if wide and notes is not None:
        cols.append(Column("note"))
        cells = [[*c, n or ""] for c, n in zip(cells, notes, strict=True)]
        notes = None
    room = limit or width()
    natural = [max([len(c.name), *(len(r[i]) for r in cells)]) for i, c in enumerate(cols)]
    floors = [
        max([len(c.name), *(len(w) for r in cells for w in r[i].split())])
        for i, c in enumerate(cols)
    ]
    room_for_cells = room - GAP * (len(cols) - 1)
    # the floor is a column's header and longest word; when even that is too wide, long
    # words (paths, ids) break too
    widths = natural if wide else _fit(natural, floors, room_for_cells)
    if not wide and sum(widths) > room_for_cells:
        widths = _fit(widths, [len(c.name) for c in cols], room_for_cells, widest_first=True)
    lines = [title] if title else []
    lines.append(_line([c.name for c in cols], cols, widths))
    for n, row in enumerate(cells):
        parts = [wrap(text, w) if not wide else [text] for text, w in zip(row, widths, strict=True)]
        for k in range(max(len(p) for p in parts)):
            lines.append(_line([p[k] if k < len(p) else "" for p in parts], cols, widths))
        note = notes[n] if notes else ""
        if note:
            lines += [" " * NOTE_INDENT + x for x in wrap(note, room - NOTE_INDENT)]
    return "\n".join(lines)


def text(line: str, *, wide: bool = False) -> str:
    """A line of prose wrapped to :func:`width` (between words), or whole with ``wide``."""
    return line if wide else "\n".join(wrap(line, width()))


def _line(texts: list[str], cols: list[Column], widths: list[int]) -> str:
    out = [
        t.rjust(w) if c.right else t.ljust(w) for t, c, w in zip(texts, cols, widths, strict=True)
    ]
    return (" " * GAP).join(out).rstrip()
