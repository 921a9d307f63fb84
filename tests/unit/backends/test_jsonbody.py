"""The request body is written piece by piece and must be exactly the JSON of the same values."""

from __future__ import annotations

import base64
import json
import random

import pytest

from gemfiles.backends.jsonbody import Base64Of, JsonString, TextOf, bytes_stream, write_json


async def body_of(value: object) -> bytes:
    spool, length = await write_json(value)
    with spool:
        data = spool.read()
    assert len(data) == length
    return data


@pytest.mark.parametrize("block", [1, 2, 3, 4, 7, 1000])
async def test_base64_of_any_block_sizes_is_the_base64_of_the_whole(block: int) -> None:
    data = random.Random(block).randbytes(10_000)

    async def blocks():  # type: ignore[no-untyped-def]
        for start in range(0, len(data), block):
            yield data[start : start + block]

    body = await body_of({"data": JsonString(["data:x;base64,", Base64Of(blocks)])})
    assert json.loads(body) == {"data": "data:x;base64," + base64.b64encode(data).decode()}


async def test_text_of_escapes_json_and_keeps_characters_split_across_blocks() -> None:
    text = 'line "one"\n\ttab \\ back ünïcödé 😀 \x00 end'
    raw = text.encode()

    async def one_byte_blocks():  # type: ignore[no-untyped-def]
        for byte in raw:
            yield bytes([byte])

    body = await body_of([JsonString(["a", TextOf(one_byte_blocks, 10_000), "z"]), 1, None, True, 2.5])
    assert json.loads(body) == ["a" + text + "z", 1, None, True, 2.5]


async def test_big_body_spills_to_disk_and_matches_json_dumps() -> None:
    data = random.Random(0).randbytes(3 * 1024 * 1024)
    value = {"messages": [{"content": [{"t": JsonString([Base64Of(bytes_stream(data))])}] * 2}], "n": "é"}
    body = await body_of(value)
    expected = {"messages": [{"content": [{"t": base64.b64encode(data).decode()}] * 2}], "n": "é"}
    assert body == json.dumps(expected, ensure_ascii=False).replace(", ", ",").replace(": ", ":").encode()
