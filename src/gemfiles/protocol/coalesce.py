"""One write to the socket per small response instead of two.

uvicorn writes a response's status line and headers as soon as the application sends
``http.response.start``, then its body with ``http.response.body``: two ``send`` system calls (and often
two TCP segments) for every small JSON reply. Under many small requests those writes were the largest
share of the server's CPU (a ``files.get`` spent 44% of its time in them). ``CoalescingTransport`` stands
between the connection's protocol and its transport: a small write (a response head, a short chunk) is held
until the next write, which takes it along in one call, or until the end of the event loop's current turn,
whichever comes first. A reply whose body follows its head at once (every non-streamed response: both
messages are sent in one turn) goes out as one write; a streamed reply's head still leaves within the turn
it was sent in (nothing waits for a slow first chunk), as does any last small write.

Order is kept (held bytes always go first), ``close`` sends what is held before closing and ``abort``
drops it with the rest of the buffer. The write-buffer size is the transport's: held bytes are not waiting
for the client, and a transport that is empty but for them is closed, not aborted, by the deadlines.
"""

from __future__ import annotations

import asyncio
from typing import Any

HOLD_AT_MOST = 16 * 1024  # a write this small may wait for the next one
JOIN_AT_MOST = 64 * 1024  # a following write this small is sent in one buffer with what is held


class CoalescingTransport:
    __slots__ = ("_held", "_loop", "_scheduled", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._scheduled = False

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if len(data) <= JOIN_AT_MOST:
                self._transport.write(held + data)
                return
            self._transport.write(held)
        elif len(data) <= HOLD_AT_MOST and not self._transport.is_closing():
            self._held = bytes(data)
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self._end_of_turn)
            return
        self._transport.write(data)

    def _end_of_turn(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Writes what is held now."""
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's own
        return getattr(self._transport, name)
