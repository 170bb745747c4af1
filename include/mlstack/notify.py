"""Notifications on monitoring alerts and retrain requests: ``notifiers`` plugins.

Built-ins: ``log`` and ``webhook`` (JSON POST to ``url``) from :mod:`mlstack.notifiers`, and
here ``slack`` (an incoming webhook ``url``) and ``email`` (SMTP: ``host``, ``port``,
``sender``, ``to``). A spec lists them
under ``monitoring.notifiers`` with the events each wants (``alert``, ``retrain``). A
notifier that cannot deliver is logged as an error and reported back; it never hides the
monitoring result, and the alert itself stays in ``monitoring_alerts``.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from email.message import EmailMessage
from typing import Any

from mlstack import plugins
from mlstack.exceptions import PluginError
from mlstack.specs import UseCaseSpec

log = logging.getLogger(__name__)


def _text(payload: dict[str, Any]) -> str:
    lines = [f"[mlstack] {payload.get('usecase')}: {payload.get('event')} on {payload.get('day')}"]
    lines += [f"- {m}" for m in payload.get("messages", [])]
    if payload.get("root_cause"):
        lines.append(f"root cause: {payload['root_cause']}")
    if payload.get("report_uri"):
        lines.append(f"report: {payload['report_uri']}")
    return "\n".join(lines)


def _post(url: str, body: dict[str, Any], timeout: float) -> None:
    req = urllib.request.Request(
        url,
        data=json.dumps(body, default=str).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - URL from the spec
        resp.read()


@plugins.register("notifiers", "slack")
def slack_notifier(payload: dict[str, Any], *, url: str, timeout: float = 10.0) -> None:
    """Post the text to a Slack incoming webhook ``url``."""
    _post(url, {"text": _text(payload)}, timeout)


@plugins.register("notifiers", "email")
def email_notifier(
    payload: dict[str, Any],
    *,
    host: str,
    to: list[str] | str,
    sender: str = "mlstack@localhost",
    port: int = 25,
    timeout: float = 10.0,
) -> None:
    """Send the text by SMTP to ``to``."""
    msg = EmailMessage()
    msg["Subject"] = f"[mlstack] {payload.get('usecase')}: {payload.get('event')}"
    msg["From"] = sender
    msg["To"] = ", ".join([to] if isinstance(to, str) else to)
    msg.set_content(_text(payload))
    with smtplib.SMTP(host, port, timeout=timeout) as smtp:
        smtp.send_message(msg)


def notify(spec: UseCaseSpec, event: str, payload: dict[str, Any]) -> dict[str, str]:
    """Send ``payload`` to every notifier of ``spec`` subscribed to ``event``.

    Returns ``{notifier: "sent" | "failed: ..."}``.
    """
    plugins.load_for(spec)
    outcome: dict[str, str] = {}
    body = {"usecase": spec.name, "event": event, **payload}
    body.setdefault("title", f"mlstack {spec.name}: {event}")
    for i, n in enumerate(spec.monitoring.notifiers):
        if event not in n.on:
            continue
        key = f"{i}:{n.kind}"
        fn = plugins.get("notifiers", n.kind)
        try:
            fn(body, **n.options)
        except TypeError as exc:
            raise PluginError(
                f"{spec.path}: monitoring.notifiers[{i}] ({n.kind}) has bad options "
                f"{sorted(n.options)}: {exc}"
            ) from exc
        except OSError as exc:  # network or SMTP: report, keep monitoring's result
            log.error("Notifier %s for %s failed: %s", key, spec.name, exc)
            outcome[key] = f"failed: {exc}"
            continue
        outcome[key] = "sent"
    return outcome
