"""The ASGI types the gateway's middlewares share (``scope``, messages, callables), and
:func:`noting_status`, with which a middleware learns the status of the answer it passed on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def noting_status(send: Send) -> tuple[Send, list[int]]:
    """``send`` that also records the answer's status in the returned one-item list (0 until
    the response starts): for a middleware that acts on the status after the app ran."""
    seen = [0]

    async def send_noting_status(message: Message) -> None:
        if message["type"] == "http.response.start":
            seen[0] = message["status"]
        await send(message)

    return send_noting_status, seen


__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send", "noting_status"]
