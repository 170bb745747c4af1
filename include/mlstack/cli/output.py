"""What the commands print through: a rich console sized for a terminal or for a pipe."""

from __future__ import annotations

import sys

from rich.console import Console


def console() -> Console:
    """A rich console; when output is piped (no terminal) it is 160 columns, not 80."""
    return Console(width=None if sys.stdout.isatty() else 160)
