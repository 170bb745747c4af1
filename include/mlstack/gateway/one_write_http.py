"""uvicorn's httptools protocol, with each response leaving in one socket write.

uvicorn writes the status line and headers on ``http.response.start`` and the body on
``http.response.body``: two ``send`` syscalls and two TCP segments per response, and on
loopback or a LAN each one wakes the client up. For the gateway's small JSON answers the
first write alone was a fifth of a worker's GIL-held time under load. Here the transport
collects the writes of one event-loop step and hands them to the socket together just
after that step, so a response costs one syscall; the delay is that of a ``call_soon``.

Run with ``uvicorn --http mlstack.gateway.one_write_http:HttpToolsProtocol`` (``mlstack gateway
serve`` does).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _HttpToolsProtocol


class CoalescingTransport:
    """A transport proxy: writes made in one loop step go out as one ``write``."""

    __slots__ = ("_transport", "_loop", "_buffer")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._buffer: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer ``data``; the first write of a step schedules the flush."""
        if not self._buffer:
            self._loop.call_soon(self._flush)
        self._buffer.append(bytes(data))

    def _flush(self) -> None:
        buffer, self._buffer = self._buffer, []
        if buffer and not self._transport.is_closing():
            self._transport.write(buffer[0] if len(buffer) == 1 else b"".join(buffer))

    def close(self) -> None:
        """Send what is buffered, then close (as ``close`` does with its own buffer)."""
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        """Whether the underlying transport is closing."""
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpToolsProtocol(_HttpToolsProtocol):
    """uvicorn's httptools protocol over a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Wrap the transport, then set the connection up as uvicorn does."""
        wrapped: Any = CoalescingTransport(transport, self.loop)
        super().connection_made(wrapped)
