"""``BodyLimit``: the gateway's middleware just inside ``RequestMetrics`` (and ``KeyAuth``
when API keys are required); refuses bodies over a size (413, counted as
``refused_total{reason="body_too_large"}``) before anything reads or parses them, and
bodies that are not strict JSON (400, counted as ``invalid_json``: NaN, Infinity, numbers
beyond double range, invalid UTF-8, lone surrogates, which Python's ``json`` would let
through to the routes); then hands the read body on to the app. The predict hot path makes
the strict check itself, on its error path only."""

from __future__ import annotations

from mlstack.gateway.api.asgi import ASGIApp, Receive, Scope, Send
from mlstack.gateway.api.fast_predict import not_strict_json, replay_body, send_json
from mlstack.gateway.api.request_metrics import note_refusal


class BodyLimit:
    """413 for a body over ``max_bytes`` (declared in Content-Length or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    return await self._refuse(scope, send)
                break
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await self._refuse(scope, send)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if not scope["path"].endswith("/predict") and _is_json(scope):
            refusal = not_strict_json(body)
            if refusal is not None:
                note_refusal(scope, "invalid_json")
                return await send_json(send, 400, refusal)
        await self.app(scope, replay_body(body, receive), send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        note_refusal(scope, "body_too_large")
        detail = f"request body larger than {self.max_bytes} bytes (MLSTACK_GATEWAY_MAX_BODY_BYTES)"
        await send_json(send, 413, {"detail": detail})


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.lower().startswith(b"application/json"))
    return True  # FastAPI reads a body without a content type as JSON too
