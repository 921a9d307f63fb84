"""A multipart upload's body, part by part, with python-multipart's push parser.

The body is streamed: each ASGI message is fed to the parser as it arrives, and the file part's bytes go on
to the blob store as the parser yields them, so a large file part is never held whole. The metadata part
(JSON) is read whole, up to a limit.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from gemfiles.errors import InvalidArgument

_HEADERS, _DATA, _END = 0, 1, 2


# One unquoted boundary parameter of RFC 2046's characters (no space), the form clients send.
_ONE_BOUNDARY = re.compile(r"[ \t]*boundary[ \t]*=[ \t]*([0-9A-Za-z'()+_,./:=?-]+)[ \t]*", re.IGNORECASE)


def boundary_of(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/*`` Content-Type, or None when it is not multipart or has none.

    ``multipart/related; boundary=XYZ`` (no quotes, one parameter) is cut here, with the result
    python-multipart's ``parse_options_header`` gives for it (a unit test compares the two); any other form
    goes to that parser.
    """
    media, semicolon, params = content_type.partition(";")
    simple = None
    if semicolon and '"' not in content_type and ";" not in params:
        simple = _ONE_BOUNDARY.fullmatch(params)
    if simple is not None:
        is_multipart = media.strip(" \t").lower().startswith("multipart/")
        return simple.group(1).encode("ascii") if is_multipart else None
    media_type, options = parse_options_header(content_type)
    if not media_type.startswith(b"multipart/"):
        return None
    return options.get(b"boundary") or None


class MultipartBody:
    """Pulls the parts out of a streamed multipart body: ``next_part`` gives a part's headers (lowercase
    names), then ``read_whole`` or ``read_stream`` its bytes."""

    def __init__(self, stream: AsyncIterator[bytes], boundary: bytes) -> None:
        self._stream = aiter(stream)
        # What the parser has found and no one has taken yet, in order: (_HEADERS, dict) | (_DATA, bytes) |
        # (_END, None). One ASGI message usually holds a whole small body: one write, then no await.
        self._events: deque[tuple[int, Any]] = deque()
        self._field = b""
        self._value = b""
        self._headers: dict[str, str] = {}
        callbacks = {
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
        }
        self._parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._field.decode("latin-1").strip().lower()] = self._value.decode("latin-1").strip()
        self._field = self._value = b""

    def _on_headers_finished(self) -> None:
        self._events.append((_HEADERS, self._headers))
        self._headers = {}

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append((_DATA, data[start:end]))

    def _on_part_end(self) -> None:
        self._events.append((_END, None))

    async def _event(self) -> tuple[int, Any] | None:
        events = self._events
        while not events:
            try:
                chunk = await anext(self._stream)
            except StopAsyncIteration:
                return None
            if chunk:
                try:
                    self._parser.write(chunk)
                except Exception as exc:
                    raise InvalidArgument(f"Malformed multipart body: {exc}") from None
        return events.popleft()

    async def next_part(self) -> dict[str, str] | None:
        """The next part's headers; None at the end of the body."""
        while True:
            event = await self._event()
            if event is None:
                return None
            if event[0] == _HEADERS:
                headers: dict[str, str] = event[1]
                return headers

    async def _in_part(self) -> tuple[int, Any]:
        event = await self._event()
        if event is None:
            raise InvalidArgument("The multipart body ended in the middle of a part.")
        return event

    async def read_whole(self, limit: int) -> bytes:
        """The current part's bytes, refused past ``limit``."""
        chunks: list[bytes] = []
        size = 0
        while True:
            kind, value = await self._in_part()
            if kind == _END:
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if kind == _DATA:
                size += len(value)
                if size > limit:
                    raise InvalidArgument(f"The metadata part exceeds {limit} bytes.")
                chunks.append(value)

    async def read_stream(self) -> AsyncIterator[bytes]:
        """The current part's bytes as they arrive."""
        while True:
            kind, value = await self._in_part()
            if kind == _END:
                return
            if kind == _DATA and value:
                yield value
