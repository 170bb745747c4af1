"""Built-in ``notifiers`` plugins: tell people what a stage decided.

A notifier is ``fn(event: dict, **options) -> None``; the spec names it (e.g.
``rollout.notifier: webhook`` with ``notifier_options: {url: ...}``). ``log`` writes the
event to the log; ``webhook`` POSTs it as JSON.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

from mlstack.exceptions import PluginError
from mlstack.plugins import register

log = logging.getLogger(__name__)


@register("notifiers", "log")
def log_notifier(event: dict[str, Any], **options: Any) -> None:
    """Log the event at WARNING for rollbacks and halts, INFO otherwise."""
    level = logging.WARNING if event.get("action") in ("rollback", "halt") else logging.INFO
    log.log(level, "%s: %s", event.get("title", "mlstack"), json.dumps(event, default=str))


@register("notifiers", "webhook")
def webhook_notifier(event: dict[str, Any], *, url: str = "", timeout: float = 10.0) -> None:
    """POST the event as JSON to ``url`` (Slack-compatible ``text`` field included)."""
    if not url:
        raise PluginError("the webhook notifier needs notifier_options.url in the spec")
    body = json.dumps({"text": event.get("title", ""), **event}, default=str).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (configured URL)
        resp.read()
