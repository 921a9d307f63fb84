"""Dropping a connection without a reply, as a network failure would (the ``drop_after_store`` fault).

ASGI has no message for "close the connection now"; a server that sees an application fail before it
answered sends a 500 instead. So the outermost middleware (``observe.RequestObserver``) keeps a way to close
the server's own transport in the scope (``closer_of``), and ``DroppedConnection`` (a response that sends
nothing) uses it.
With uvicorn (both its HTTP implementations) the transport is the one of the request cycle whose ``receive``
the middleware was given. Where no transport can be found (an in-process test client), the response raises
``ConnectionAbortedError`` instead, which such a client reports as a failed request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

log = logging.getLogger("gemfiles.protocol")

DROP_KEY = "gemfiles.drop_connection"


def closer_of(receive: Receive) -> Callable[[], Any] | None:
    """How to close the connection whose server-made ``receive`` this is (None if it cannot be found)."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    close = getattr(transport, "close", None)
    return close if callable(close) else None


class DroppedConnection(Response):
    """No status line, no headers, no body: the connection is closed."""

    def __init__(self, reason: str) -> None:
        super().__init__(b"")
        self.reason = reason

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        close = scope.get(DROP_KEY)
        if close is None:
            raise ConnectionAbortedError(f"connection dropped: {self.reason}")
        log.info("dropping the connection of %s: %s", scope.get("path"), self.reason)
        close()
        # The server learns of the lost connection on the next turns of the loop; once it has, it neither
        # answers 500 nor logs an application that returned without a response.
        for _ in range(3):
            await asyncio.sleep(0)
