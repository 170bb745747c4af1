"""Sending notifications: monitoring alerts and retrain requests to the spec's
``monitoring.notifiers`` (each with the events it wants: ``alert``, ``retrain``), rollout
decisions to ``rollout.notifier``. The channels themselves are in
:mod:`mlstack.notifications.channels`.
A notifier that cannot deliver is logged as an error and reported back; it never hides the
result it reports, which stays recorded in mlstack's tables.
"""

from __future__ import annotations

import logging
from typing import Any

from mlstack import plugins
from mlstack.exceptions import PluginError
from mlstack.specs import UseCaseSpec

log = logging.getLogger(__name__)


def send(kind: str, options: dict[str, Any], event: dict[str, Any], where: str) -> str:
    """Call the ``kind`` notifier; ``"sent"`` or ``"failed: ..."`` (delivery problems never
    raise: the decision they report is already recorded). Bad options raise, naming ``where``.
    """
    fn = plugins.get("notifiers", kind)
    try:
        fn(event, **options)
    except (TypeError, PluginError) as exc:
        raise PluginError(f"{where} ({kind}) has bad options {sorted(options)}: {exc}") from exc
    except OSError as exc:  # network, HTTP or SMTP (SMTPException is an OSError)
        log.error("Notifier %s (%s) failed: %s", kind, where, exc)
        return f"failed: {exc}"
    return "sent"


def notify(spec: UseCaseSpec, event: str, payload: dict[str, Any]) -> dict[str, str]:
    """Send ``payload`` to every notifier of ``spec`` subscribed to ``event``.

    Returns ``{notifier: "sent" | "failed: ..."}``.
    """
    plugins.load_for(spec)
    outcome: dict[str, str] = {}
    body = {"usecase": spec.name, "event": event, **payload}
    body.setdefault("title", f"{spec.name}: {event}")
    for i, n in enumerate(spec.monitoring.notifiers):
        if event not in n.on:
            continue
        key = f"{i}:{n.kind}"
        outcome[key] = send(n.kind, n.options, body, f"{spec.path}: monitoring.notifiers[{i}]")
    return outcome
