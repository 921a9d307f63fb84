"""JSON Lines read from a stream of blocks: offsets, blank lines, oversized lines, any block boundaries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gemfiles.domain.jsonl import count_lines, read_lines

TEXT = b'{"a": 1}\n\n  \n{"b": 22}\r\n{"c": 333}'


async def blocks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def lines_of(
    data: bytes, size: int, max_bytes: int = 100, **kw: int
) -> list[tuple[int, int, int, bytes, bool]]:
    return [
        (line.index, line.start, line.end, line.data, line.oversized)
        async for line in read_lines(blocks_of(data, size), max_bytes=max_bytes, **kw)
    ]


@pytest.mark.parametrize("block_size", [1, 2, 3, 7, 1000])
async def test_read_lines_gives_offsets_and_skips_blank_lines_at_any_block_size(block_size: int) -> None:
    assert await lines_of(TEXT, block_size) == [
        (0, 0, 9, b'{"a": 1}\n', False),
        (1, 13, 24, b'{"b": 22}\r\n', False),
        (2, 24, 34, b'{"c": 333}', False),
    ]


@pytest.mark.parametrize("block_size", [1, 4, 1000])
async def test_read_lines_resumes_from_an_offset_with_the_next_index(block_size: int) -> None:
    lines = await lines_of(TEXT[13:], block_size, first_index=1, first_offset=13)
    assert [(i, s, e) for i, s, e, _, _ in lines] == [(1, 13, 24), (2, 24, 34)]


@pytest.mark.parametrize("block_size", [1, 5, 1000])
async def test_read_lines_reports_an_oversized_line_without_keeping_it(block_size: int) -> None:
    data = b"short\n" + b"x" * 50 + b"\nok\n" + b"y" * 30
    lines = await lines_of(data, block_size, max_bytes=10)
    assert lines == [
        (0, 0, 6, b"short\n", False),
        (1, 6, 57, b"", True),
        (2, 57, 60, b"ok\n", False),
        (3, 60, 90, b"", True),
    ]


async def test_read_lines_accepts_a_line_of_exactly_the_limit() -> None:
    assert await lines_of(b"x" * 10 + b"\n", 3, max_bytes=10) == [(0, 0, 11, b"x" * 10 + b"\n", False)]


@pytest.mark.parametrize("block_size", [1, 2, 1000])
async def test_count_lines_counts_what_read_lines_yields(block_size: int) -> None:
    for data in (TEXT, b"", b"\n\n", b"a", b"a\n", b" \n b \n", TEXT + b"\n\n"):
        expected = len(await lines_of(data, 1000, max_bytes=1000))
        assert await count_lines(blocks_of(data, block_size)) == expected, data
