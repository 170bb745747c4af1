"""Notifiers: a webhook receives the alert as JSON; an unreachable one is reported, not fatal."""

from __future__ import annotations

import base64
import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from mlstack.exceptions import PluginError
from mlstack.notifications.dispatch import notify
from mlstack.specs import get_spec
from support import ROOT


def _spec_with(notifiers: list[dict]):
    spec = get_spec("credit_default", ROOT / "include" / "usecases")
    monitoring = spec.monitoring.model_dump() | {"notifiers": notifiers}
    data = spec.model_dump(by_alias=True, exclude={"path"}) | {"monitoring": monitoring}
    return type(spec).model_validate({**data, "path": spec.path})


def _receiver() -> tuple[HTTPServer, list[dict]]:
    """An HTTP server on a free port that takes one JSON POST into the returned list."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    return server, received


def test_notify_webhook_receives_json_payload() -> None:
    server, received = _receiver()
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


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough of an SMTP server (RFC 5321, AUTH PLAIN) to receive one message."""

    received: ClassVar[list[dict[str, str]]] = []

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        mail: dict[str, str] = {}
        while line := self.rfile.readline().decode().rstrip("\r\n"):
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-test\r\n250 AUTH PLAIN\r\n")
            elif verb == "AUTH":
                mail["auth"] = base64.b64decode(line.split()[2]).decode()
                self.wfile.write(b"235 ok\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 go on\r\n")
                body = []
                while (data := self.rfile.readline().decode()) != ".\r\n":
                    body.append(data)
                mail["data"] = "".join(body)
                self.received.append(mail)
                self.wfile.write(b"250 queued\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                self.wfile.write(b"250 ok\r\n")


def test_email_notifier_sends_by_smtp_with_password_from_env(monkeypatch) -> None:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret")
    options = {
        "host": "127.0.0.1",
        "port": server.server_address[1],
        "to": ["risk@example.org"],
        "username": "mlstack",
        "password_env": "TEST_SMTP_PASSWORD",
    }
    spec = _spec_with([{"kind": "email", "options": options}])
    out = notify(spec, "retrain", {"day": "2026-03-01", "messages": ["value dropped 40 EUR"]})
    server.shutdown()
    server.server_close()
    assert out == {"0:email": "sent"}
    mail = _Smtp.received[-1]
    assert mail["auth"] == "\0mlstack\0s3cret"
    assert "Subject: [mlstack] credit_default: retrain on 2026-03-01" in mail["data"]
    assert "- value dropped 40 EUR" in mail["data"]


def test_slack_notifier_posts_text_and_missing_secret_names_the_variable(monkeypatch) -> None:
    server, received = _receiver()
    monkeypatch.setenv("TEST_SLACK_URL", f"http://127.0.0.1:{server.server_port}/services/x")
    spec = _spec_with([{"kind": "slack", "options": {"url_env": "TEST_SLACK_URL"}}])
    assert notify(spec, "alert", {"messages": ["income drifted"]}) == {"0:slack": "sent"}
    server.server_close()
    assert received == [{"text": "[mlstack] credit_default: alert\n- income drifted"}]
    monkeypatch.delenv("TEST_SLACK_URL")
    with pytest.raises(PluginError, match="url_env names TEST_SLACK_URL, which is not set"):
        notify(spec, "alert", {"messages": ["income drifted"]})
