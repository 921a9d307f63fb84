"""A JSON request body written piece by piece, so big string values never sit in memory.

A value in the body may be a ``JsonString``: literal text plus streamed segments (``Base64Of`` bytes,
``TextOf`` UTF-8 text) whose bytes are read from the blob store or a temporary file only while the body is
written. ``write_json`` renders such a value into a temporary file (spilled to disk past 1 MiB) whose exact
length is then known, so the upstream gets an ordinary ``Content-Length`` request, not a chunked one that
some proxies refuse.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import json
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

READ_BLOCK = 256 * 1024
FLUSH_AT = 256 * 1024
SPOOL_IN_MEMORY = 1024 * 1024

ByteStream = Callable[[], AsyncIterator[bytes]]


@dataclass(slots=True)
class Base64Of:
    """Bytes written as base64 while the body is written, read from a stream opened only then."""

    stream: ByteStream

    async def chunks(self) -> AsyncIterator[str]:
        carry = b""
        async for block in self.stream():
            data = carry + block
            cut = len(data) - len(data) % 3
            carry = data[cut:]
            if cut:
                yield base64.b64encode(data[:cut]).decode("ascii")
        if carry:
            yield base64.b64encode(carry).decode("ascii")


@dataclass(slots=True)
class TextOf:
    """UTF-8 bytes written as JSON-escaped text (invalid bytes replaced), cut after ``limit`` bytes."""

    stream: ByteStream
    limit: int

    async def chunks(self) -> AsyncIterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        seen = 0
        cut = False
        async for block in self.stream():
            if seen + len(block) > self.limit:
                block, cut = block[: self.limit - seen], True
            seen += len(block)
            yield escape(decoder.decode(block))
            if cut:
                break
        yield escape(decoder.decode(b"", final=True))
        if cut:
            yield escape(f"\n[... cut here: the text is longer than {self.limit} bytes]")


Segment = Base64Of | TextOf


@dataclass(slots=True)
class JsonString:
    """A JSON string value made of literal text and streamed segments."""

    pieces: list[str | Segment]

    async def chunks(self) -> AsyncIterator[str]:
        for piece in self.pieces:
            if isinstance(piece, str):
                yield escape(piece)
            else:
                async for chunk in piece.chunks():
                    yield chunk


def escape(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def bytes_stream(data: bytes) -> ByteStream:
    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(data), READ_BLOCK):
            yield data[start : start + READ_BLOCK]

    return stream


def spool_stream(spool: BinaryIO) -> ByteStream:
    """Reads a finished temporary file from its start, off the event loop."""

    async def stream() -> AsyncIterator[bytes]:
        await asyncio.to_thread(spool.seek, 0)
        while block := await asyncio.to_thread(spool.read, READ_BLOCK):
            yield block

    return stream


async def write_json(value: Any) -> tuple[BinaryIO, int]:
    """Renders ``value`` (dicts, lists, scalars, JsonStrings) as UTF-8 JSON into a temporary file.

    Returns the file, positioned at its start, and its length. The caller closes it.
    """
    spool: BinaryIO = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, prefix="gemfiles-body-")  # type: ignore[assignment]
    pending: list[str] = []
    size = 0
    pending_size = 0

    async def flush() -> None:
        nonlocal size, pending_size
        data = "".join(pending).encode()
        pending.clear()
        pending_size = 0
        size += len(data)
        await asyncio.to_thread(spool.write, data)

    try:
        async for text in _render(value):
            pending.append(text)
            pending_size += len(text)
            if pending_size >= FLUSH_AT:
                await flush()
        await flush()
        await asyncio.to_thread(spool.seek, 0)
    except BaseException:
        spool.close()
        raise
    return spool, size


async def _render(value: Any) -> AsyncIterator[str]:
    if isinstance(value, JsonString):
        yield '"'
        async for chunk in value.chunks():
            yield chunk
        yield '"'
    elif isinstance(value, dict):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            yield ("," if index else "") + json.dumps(str(key), ensure_ascii=False) + ":"
            async for chunk in _render(item):
                yield chunk
        yield "}"
    elif isinstance(value, list | tuple):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ","
            async for chunk in _render(item):
                yield chunk
        yield "]"
    else:
        yield json.dumps(value, ensure_ascii=False, allow_nan=False)


def file_stream(spool: BinaryIO) -> AsyncIterator[bytes]:
    """An open file's remaining bytes, read off the event loop (an httpx request body)."""

    async def stream() -> AsyncIterator[bytes]:
        while block := await asyncio.to_thread(spool.read, READ_BLOCK):
            yield block

    return stream()
