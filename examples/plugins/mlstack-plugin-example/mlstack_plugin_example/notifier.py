"""Notifier ``jsonl_file``: each event appended to a file as one JSON line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlstack.notifications.channels import option
from mlstack.plugins import register


@register("notifiers", "jsonl_file")
def jsonl_file(event: dict[str, Any], **options: Any) -> None:
    """Append ``event`` to the file ``path`` (or the one ``path_env`` names)."""
    path = Path(option(options, "path"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(event, default=str) + "\n")
