"""``KeyAuth``: the gateway's first middleware after ``RequestMetrics`` when API keys are
required (``MLSTACK_GATEWAY_REQUIRE_KEYS``): checks the key before any body is read, applies the
key's rate limit, and writes one access-log line per request naming the key's id.

What needs which key: ``POST /v1/{usecase}/predict`` a key with the ``predict`` scope for
that use case, ``.../feedback`` one with ``feedback``; ``GET /v1`` and ``/v1/{usecase}`` any
valid key (for that use case). ``/health``, ``/metrics`` and the API docs stay open (put
``/metrics`` behind the proxy's own rule). A refusal is JSON ``{"detail", "reason"}`` — 401
(missing, malformed, unknown, expired, revoked key), 403 (wrong use case or scope), 429
(rate limit, with ``Retry-After``) — counted in ``/metrics`` as
``mlstack_gateway_refused_total{reason=...}`` (by :mod:`.request_metrics`); nothing of it
reaches the routes, so nothing is scored or logged as a prediction.
"""

from __future__ import annotations

import math
import threading
import time
from typing import TextIO

from mlstack.gateway.api.asgi import ASGIApp, Receive, Scope, Send, noting_status
from mlstack.gateway.api.fast_predict import send_json
from mlstack.gateway.api.request_metrics import note_refusal
from mlstack.gateway.keys import KeyRing, RateLimiter, Refusal


class AccessLog:
    """Access-log lines, buffered in memory and written by a daemon thread every
    ``flush_s`` (through ``logging`` a line per request cost more CPU than the key check)."""

    def __init__(self, stream: TextIO, flush_s: float = 1.0) -> None:
        self.stream, self.flush_s = stream, flush_s
        self._lines: list[str] = []
        self._second, self._stamp = -1, ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()

    def write(self, scope: Scope, key_id: str, status: int, t0: float) -> None:
        """One line: time, the key's id (never the key), client, method, path, status, ms."""
        now = time.time()
        if int(now) != self._second:
            self._second = int(now)
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        client = scope.get("client") or ("-", 0)
        ms = (time.perf_counter() - t0) * 1000
        self._lines.append(
            f"{self._stamp} key={key_id} client={client[0]} {scope['method']} "
            f"{scope['path']} {status} {ms:.1f}ms\n"
        )

    def flush(self) -> None:
        """Write the buffered lines."""
        lines, self._lines = self._lines, []
        if lines:
            self.stream.write("".join(lines))
            self.stream.flush()

    def close(self) -> None:
        """Stop the thread after a last flush."""
        self._stop.set()
        self._thread.join(5)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self.flush()


def request_scope(path: str) -> tuple[str, str | None] | None:
    """``(use case, scope)`` a path needs a key for (scope None: any), or None if open."""
    parts = path.rstrip("/").split("/")  # "", "v1", usecase, action
    if len(parts) < 2 or parts[1] != "v1":
        return None
    if len(parts) == 2:
        return "*", None
    if len(parts) == 3:
        return parts[2], None
    return parts[2], parts[3] if parts[3] in ("predict", "feedback") else None


class KeyAuth:
    """ASGI middleware; see the module docstring."""

    def __init__(
        self, app: ASGIApp, keys: KeyRing, limiter: RateLimiter, access: AccessLog | None
    ) -> None:
        self.app, self.keys, self.limiter, self.access = app, keys, limiter, access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        needs = request_scope(scope["path"])
        if needs is None:
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        auth = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
                break
        usecase, action = needs
        key, refusal = await self.keys.check_reading(auth, usecase, action)
        key_id = key.key_id if key is not None else "-"
        wait = 0.0
        if refusal is None and key is not None:
            wait = self.limiter.wait_s(key.key_id)
            if wait > 0:
                refusal = Refusal(
                    429,
                    "rate_limited",
                    f"API key {key.key_id} is over its rate limit "
                    "(MLSTACK_GATEWAY_KEY_RATE_PER_S); retry after the Retry-After seconds",
                )
        if refusal is not None:
            note_refusal(scope, refusal.reason)
            await _refuse(send, refusal, wait)
            if self.access is not None:
                self.access.write(scope, key_id, refusal.status, t0)
            return
        send_noting_status, seen = noting_status(send)
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            if self.access is not None:
                self.access.write(scope, key_id, seen[0], t0)


async def _refuse(send: Send, refusal: Refusal, retry_after: float) -> None:
    headers: list[tuple[bytes, bytes]] = []
    if refusal.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="mlstack gateway"'))
    if refusal.status == 429:
        headers.append((b"retry-after", str(max(1, math.ceil(retry_after))).encode()))
    body = {"detail": refusal.detail, "reason": refusal.reason}
    await send_json(send, refusal.status, body, headers)
