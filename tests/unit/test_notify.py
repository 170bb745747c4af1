"""Notifiers: a webhook receives the alert as JSON; an unreachable one is reported, not fatal."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from mlstack.notify import notify
from mlstack.specs import get_spec
from support import ROOT


def _spec_with(notifiers: list[dict]):
    spec = get_spec("credit_default", ROOT / "include" / "usecases")
    monitoring = spec.monitoring.model_dump() | {"notifiers": notifiers}
    data = spec.model_dump(by_alias=True, exclude={"path"}) | {"monitoring": monitoring}
    return type(spec).model_validate({**data, "path": spec.path})


def test_notify_webhook_receives_json_payload() -> None:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    spec = _spec_with([{"kind": "webhook", "options": {"url": url}, "on": ["retrain"]}])
    out = notify(spec, "retrain", {"day": "2026-03-01", "messages": ["retrain requested"]})
    server.server_close()
    assert out == {"0:webhook": "sent"}
    assert received[0]["usecase"] == "credit_default" and received[0]["event"] == "retrain"


def test_notify_unreachable_webhook_reported_and_unsubscribed_skipped() -> None:
    spec = _spec_with(
        [
            {"kind": "webhook", "options": {"url": "http://127.0.0.1:9/x", "timeout": 1}},
            {"kind": "log", "on": ["retrain"]},
        ]
    )
    out = notify(spec, "alert", {"messages": ["drift"]})
    assert list(out) == ["0:webhook"] and out["0:webhook"].startswith("failed:")
