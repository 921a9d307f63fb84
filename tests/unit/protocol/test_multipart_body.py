"""The multipart body reader: the boundary read from Content-Type as python-multipart reads it, and the
parts of a body however its bytes are split across messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from python_multipart.multipart import parse_options_header

from gemfiles.errors import InvalidArgument
from gemfiles.protocol.multipart import MultipartBody, boundary_of

CONTENT_TYPES = [
    "multipart/related; boundary=abc",
    "multipart/related;boundary=abc",
    "Multipart/Related; BOUNDARY=abc'()+_,-./:=?XYZ09",
    "multipart/form-data; boundary= abc \t",
    "multipart/related; boundary=abc; charset=utf-8",
    'multipart/related; boundary="a b;c"',
    'multipart/related; boundary="abc"',
    "multipart/related; boundary=",
    "multipart/related; boundary=a b",
    "multipart/related; charset=x",
    "multipart/related",
    "text/plain; boundary=abc",
    " \tmultipart/mixed ; boundary=abc",
    "application/json",
    "",
    "multipart/related; boundary=é",
]


def _reference(content_type: str) -> bytes | None:
    media_type, options = parse_options_header(content_type)
    if not media_type.startswith(b"multipart/"):
        return None
    return options.get(b"boundary") or None


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_boundary_of_reads_content_type_as_python_multipart_does(content_type: str) -> None:
    assert boundary_of(content_type) == _reference(content_type)


BODY = (
    b"--XyZ\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
    b'{"file": {"displayName": "small"}}'
    b"\r\n--XyZ\r\nContent-Type: text/plain\r\n\r\nhello, world"
    b"\r\n--XyZ--\r\n"
)


async def _parts(messages: list[bytes]) -> tuple[dict[str, str], bytes, dict[str, str], bytes]:
    async def stream() -> AsyncIterator[bytes]:
        for message in messages:
            yield message

    body = MultipartBody(stream(), b"XyZ")
    first = await body.next_part()
    assert first is not None
    meta = await body.read_whole(1024)
    second = await body.next_part()
    assert second is not None
    data = b"".join([chunk async for chunk in body.read_stream()])
    assert await body.next_part() is None
    return first, meta, second, data


@pytest.mark.parametrize("size", [1, 3, 7, 64, len(BODY)])
def test_multipart_body_gives_the_same_parts_however_the_bytes_are_split(size: int) -> None:
    messages = [BODY[i : i + size] for i in range(0, len(BODY), size)]
    first, meta, second, data = asyncio.run(_parts(messages))
    assert first == {"content-type": "application/json; charset=UTF-8"}
    assert meta == b'{"file": {"displayName": "small"}}'
    assert second == {"content-type": "text/plain"}
    assert data == b"hello, world"


def test_multipart_body_refuses_a_metadata_part_over_its_limit() -> None:
    async def read() -> bytes:
        async def stream() -> AsyncIterator[bytes]:
            yield BODY

        body = MultipartBody(stream(), b"XyZ")
        await body.next_part()
        return await body.read_whole(10)

    with pytest.raises(InvalidArgument, match="exceeds 10 bytes"):
        asyncio.run(read())


def test_multipart_body_refuses_a_body_that_ends_inside_a_part() -> None:
    async def read() -> bytes:
        async def stream() -> AsyncIterator[bytes]:
            yield BODY[:80]

        body = MultipartBody(stream(), b"XyZ")
        await body.next_part()
        return await body.read_whole(1024)

    with pytest.raises(InvalidArgument, match="ended in the middle of a part"):
        asyncio.run(read())
