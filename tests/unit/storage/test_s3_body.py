"""The request body the S3 store streams: a client's chunk is never rewound, a joined part can be."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest

from gemfiles.storage.s3_body import PartBody as _Body

BLOCKS = [b"abc", b"defg", b"h"]


async def source(blocks: list[bytes] = BLOCKS) -> AsyncIterator[bytes]:
    for block in blocks:
        yield block


async def take(body: _Body, count: int | None = None) -> bytes:
    out = b""
    stream = aiter(body)
    async for block in stream:
        out += block
        if count is not None and len(out) >= count:
            break
    return out


async def test_a_fresh_body_can_be_rewound_before_its_first_byte() -> None:
    body = _Body(source(), 8)
    assert body.seek(0) == 0
    assert await take(body) == b"abcdefgh"
    await body.finish()


async def test_a_chunk_body_refuses_to_rewind_once_started() -> None:
    body = _Body(source(), 8)
    assert await take(body, 3) == b"abc"
    with pytest.raises(io.UnsupportedOperation):
        body.seek(0)


async def test_a_joined_body_restarts_from_its_source_when_rewound() -> None:
    starts = []

    def restart() -> AsyncIterator[bytes]:
        starts.append(1)
        return source()

    body = _Body(source(), 8, restart=restart)
    assert await take(body, 3) == b"abc"
    assert body.seek(0) == 0
    assert (body.size, len(starts)) == (0, 1)
    assert await take(body) == b"abcdefgh"
    assert body.size == 8
    await body.finish()


async def test_a_body_only_rewinds_to_its_start() -> None:
    body = _Body(source(), 8, restart=source)
    with pytest.raises(io.UnsupportedOperation):
        body.seek(2)


async def test_a_restarted_source_that_runs_short_is_still_refused() -> None:
    body = _Body(source(), 8, restart=lambda: source([b"abc"]))
    await take(body, 3)
    body.seek(0)
    with pytest.raises(ValueError, match="ended after 3 of its 8 bytes"):
        await take(body)
    await body.close()
