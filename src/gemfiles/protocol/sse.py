"""The one server-sent-events writer: streamGenerateContent's ``data:`` chunks and interactions' events.

Both SDKs parse these by hand, so the framing is exact (WIRE.md 10.3, 11.3): ``data: `` with a space and
the JSON on one line; interactions put ``event: <kind>`` first; every event ends with a blank line (the JS
SDK drops a final event that is not terminated).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any

import orjson
from starlette.responses import StreamingResponse

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_data(payload: Any) -> bytes:
    """One ``data:`` event: the JSON on one line, then a blank line."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def sse_event(kind: str, payload: dict[str, Any]) -> bytes:
    """``event:``, one ``data:`` line, a blank line; the JSON carries ``event_type`` (WIRE.md 11.3)."""
    return b"event: " + kind.encode() + b"\n" + sse_data(payload)


class EventIds:
    """Named events numbered with ``event_id``s a client can resume after (``last_event_id``)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, kind: str, payload: dict[str, Any]) -> bytes:
        self.n += 1
        return sse_event(kind, {"event_type": kind, **payload, "event_id": f"evt_{self.n}"})


def sse_response(body: AsyncIterable[bytes] | Iterable[bytes]) -> StreamingResponse:
    """200 ``text/event-stream``, uncached and unbuffered by proxies."""
    return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)
