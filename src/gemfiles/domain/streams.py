"""Byte streams compared without holding them: re-sent chunks against what was stored."""

from __future__ import annotations

from collections.abc import AsyncIterator


async def same_bytes(left: AsyncIterator[bytes], right: AsyncIterator[bytes]) -> bool:
    """Whether two byte streams of any chunking hold the same bytes (stops at the first difference)."""
    left_it, right_it = aiter(left), aiter(right)
    left_buf = right_buf = memoryview(b"")
    while True:
        if not left_buf:
            left_buf = memoryview(await next_nonempty(left_it))
        if not right_buf:
            right_buf = memoryview(await next_nonempty(right_it))
        if not left_buf or not right_buf:
            return not left_buf and not right_buf
        common = min(len(left_buf), len(right_buf))
        if left_buf[:common] != right_buf[:common]:
            return False
        left_buf, right_buf = left_buf[common:], right_buf[common:]


async def next_nonempty(iterator: AsyncIterator[bytes]) -> bytes:
    async for block in iterator:
        if block:
            return block
    return b""
