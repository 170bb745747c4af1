"""Plain helpers shared by tests (importable as ``support``: pytest puts tests/ on the path).

Fixtures live in conftest.py files; things a test imports live here, because two
``conftest`` modules cannot both be imported by that name.
"""

from __future__ import annotations

import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
