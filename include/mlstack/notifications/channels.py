"""Built-in ``notifiers`` plugins: tell people what a stage decided.

A notifier is ``fn(event: dict, **options) -> None``; a spec names it with its options
(``monitoring.notifiers`` for alerts and retrain requests, ``rollout.notifier`` for rollout
decisions). Built-ins:

``log``      the event in the log (WARNING for rollbacks, halts and retrain requests).
``webhook``  the event POSTed as JSON to ``url``.
``slack``    a readable text to a Slack incoming webhook ``url``.
``email``    the text by SMTP: ``host``, ``port``, ``sender``, ``to``; ``starttls`` and
             ``username`` for servers that want them.

Secrets stay out of the spec: every option can instead be given as ``<option>_env``, the name
of an environment variable holding it (``url_env: SLACK_WEBHOOK_URL``,
``password_env: SMTP_PASSWORD``).
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import urllib.request
from email.message import EmailMessage
from typing import Any

from mlstack.exceptions import PluginError
from mlstack.plugins import register

log = logging.getLogger(__name__)


def option(options: dict[str, Any], name: str, default: Any = None) -> Any:
    """``options[name]``, or the environment variable named by ``options[name + "_env"]``."""
    if options.get(name) not in (None, ""):
        return options[name]
    var = options.get(f"{name}_env")
    if var:
        value = os.environ.get(str(var))
        if value in (None, ""):
            raise PluginError(f"notifier option {name}_env names {var}, which is not set")
        return value
    if default is None:
        raise PluginError(f"the notifier needs option {name} (or {name}_env)")
    return default


def text(event: dict[str, Any]) -> str:
    """The event as a few human lines: title, messages or reasons, root cause, report."""
    title = event.get("title") or f"mlstack {event.get('usecase')}: {event.get('event')}"
    day = f" on {event['day']}" if event.get("day") else ""
    lines = [f"[mlstack] {title}{day}"]
    lines += [f"- {m}" for m in event.get("messages") or event.get("reasons") or []]
    if event.get("root_cause"):
        lines.append(f"root cause: {event['root_cause']}")
    for key in ("report_uri", "report"):
        if event.get(key):
            lines.append(f"report: {event[key]}")
    return "\n".join(lines)


def post_json(url: str, body: dict[str, Any], timeout: float) -> None:
    """POST ``body`` as JSON (an HTTP error or refused connection raises OSError)."""
    req = urllib.request.Request(
        url,
        data=json.dumps(body, default=str).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - URL from the spec
        resp.read()


@register("notifiers", "log")
def log_notifier(event: dict[str, Any], **options: Any) -> None:
    """Log the event at WARNING for rollbacks, halts and retrain requests, INFO otherwise."""
    loud = event.get("action") in ("rollback", "halt") or event.get("event") == "retrain"
    level = logging.WARNING if loud else logging.INFO
    log.log(level, "%s: %s", event.get("title", "mlstack"), json.dumps(event, default=str))


@register("notifiers", "webhook")
def webhook_notifier(event: dict[str, Any], **options: Any) -> None:
    """POST the event as JSON to ``url`` (with a Slack-compatible ``text`` field)."""
    url = option(options, "url")
    post_json(url, {"text": text(event), **event}, float(options.get("timeout", 10.0)))


@register("notifiers", "slack")
def slack_notifier(event: dict[str, Any], **options: Any) -> None:
    """Post the event's text to a Slack incoming webhook ``url``."""
    post_json(option(options, "url"), {"text": text(event)}, float(options.get("timeout", 10.0)))


@register("notifiers", "email")
def email_notifier(event: dict[str, Any], **options: Any) -> None:
    """Send the event's text by SMTP to ``to`` (a list or one address)."""
    to = option(options, "to")
    msg = EmailMessage()
    msg["Subject"] = text(event).splitlines()[0]
    msg["From"] = option(options, "sender", "mlstack@localhost")
    msg["To"] = ", ".join([to] if isinstance(to, str) else to)
    msg.set_content(text(event))
    port = int(option(options, "port", 25))
    with smtplib.SMTP(
        option(options, "host"), port, timeout=float(options.get("timeout", 10))
    ) as s:
        if options.get("starttls"):
            s.starttls()
        if options.get("username"):
            s.login(option(options, "username"), option(options, "password"))
        s.send_message(msg)
