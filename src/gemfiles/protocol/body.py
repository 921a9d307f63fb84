"""The one reader of request bodies that are read whole (JSON), always with a size limit.

Bytes uploaded as a file are never read whole: the upload handlers stream them to the blob store.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from gemfiles.errors import InvalidArgument
from gemfiles.protocol.wire import parse_json_body

# Past the limit a request is read on (and dropped) for this many more bytes, so the client, still
# sending, gets the 400 instead of a reset connection; beyond that the connection is closed.
DRAIN_FACTOR = 4


def too_large(limit: int, hint: str = "") -> InvalidArgument:
    message = f"Request payload size exceeds the limit: {limit} bytes."
    return InvalidArgument(f"{message} {hint}" if hint else message)


async def read_body(request: Request, limit: int, *, hint: str = "") -> bytearray:
    """The request body, refused with a 400 past ``limit`` bytes without ever holding more than that.

    ``hint`` is added to the refusal (e.g. where large inputs go instead).
    """
    declared = request.headers.get("content-length", "")
    over = declared.isdigit() and int(declared) > limit
    buffer = bytearray()
    seen = 0
    try:
        async for chunk in request.stream():
            seen += len(chunk)
            if not over and seen > limit:
                over = True
                buffer = bytearray()
            if over:
                if seen > limit * DRAIN_FACTOR:
                    break
                continue
            buffer += chunk
    except ClientDisconnect:
        # The client went away, or stopped sending and the server timed it out (protocol/deadlines.py):
        # an ordinary refusal that no one reads, not an unhandled error.
        raise InvalidArgument("The request body ended before all of its bytes arrived.") from None
    if over:
        raise too_large(limit, hint)
    return buffer  # not copied: a body may be 100 MB


async def read_json(
    request: Request,
    limit: int,
    *,
    lenient_limit: int | None = None,
    what: str = "request",
    hint: str = "",
) -> Any:
    """The body as JSON (an empty body is ``{}``), read with ``read_body``.

    Bodies up to ``lenient_limit`` bytes (all of them when None) are parsed as leniently as Google's
    parser (``wire.parse_json_body``: single quotes, JSON5); larger ones must be strict JSON.
    """
    raw = await read_body(request, limit, hint=hint)
    if lenient_limit is None or len(raw) <= lenient_limit:
        return parse_json_body(bytes(raw), what=what)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"Invalid JSON payload received. {exc}") from None


async def read_json_object(request: Request, limit: int, *, what: str = "request") -> dict[str, Any]:
    """``read_json`` for bodies that must be a JSON object."""
    body = await read_json(request, limit, what=what)
    if not isinstance(body, dict):
        raise InvalidArgument("Invalid JSON payload received. Expected an object.")
    return body
