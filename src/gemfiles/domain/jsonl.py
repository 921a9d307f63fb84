"""JSON Lines read from a stream of blocks, one line at a time, with each line's byte offsets.

A batch input may be 2 GB: it is never held whole. A line longer than ``max_bytes`` is not kept either;
it is reported as oversized (its bytes skipped up to the next newline) so one bad line fails alone.
Blank lines are skipped and do not count: line ``index`` numbers the non-blank lines from 0.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Line:
    index: int
    start: int  # byte offset of the line's first byte
    end: int  # byte offset just past its newline (or the end of the input)
    data: bytes  # empty when oversized
    oversized: bool = False


class _Splitter:
    """Keeps at most ``max_bytes`` + 1 bytes of the current line; counts the rest of an oversized one."""

    def __init__(self, max_bytes: int, index: int, offset: int) -> None:
        self.max_bytes = max_bytes
        self.index = index
        self.start = offset
        self.kept = bytearray()
        self.length = 0  # the current line's length so far, kept or not

    def add(self, piece: bytes) -> None:
        self.length += len(piece)
        if len(self.kept) <= self.max_bytes:
            self.kept += piece[: self.max_bytes + 1 - len(self.kept)]

    def take(self) -> Line | None:
        """The line ended: a Line for it (None if blank), and the next one starts."""
        line: Line | None = None
        end = self.start + self.length
        content_length = self.length - (1 if self.kept.endswith(b"\n") else 0)
        if content_length > self.max_bytes:
            line = Line(self.index, self.start, end, b"", True)
        elif bytes(self.kept).strip():
            line = Line(self.index, self.start, end, bytes(self.kept))
        if line is not None:
            self.index += 1
        self.start = end
        self.kept = bytearray()
        self.length = 0
        return line


async def read_lines(
    blocks: AsyncIterator[bytes], *, max_bytes: int, first_index: int = 0, first_offset: int = 0
) -> AsyncIterator[Line]:
    """The non-blank lines of ``blocks``, which start at byte ``first_offset`` of the input."""
    splitter = _Splitter(max_bytes, first_index, first_offset)
    async for block in blocks:
        cut = 0
        while (newline := block.find(b"\n", cut)) >= 0:
            splitter.add(block[cut : newline + 1])
            cut = newline + 1
            line = splitter.take()
            if line is not None:
                yield line
        if cut < len(block):
            splitter.add(block[cut:])
    if splitter.length:
        line = splitter.take()
        if line is not None:
            yield line


async def count_lines(blocks: AsyncIterator[bytes]) -> int:
    """How many non-blank lines ``read_lines`` would yield, without keeping any line."""
    count = 0
    in_content = False  # the current line has a non-whitespace byte
    async for block in blocks:
        start = 0
        while (newline := block.find(b"\n", start)) >= 0:
            if in_content or block[start:newline].strip():
                count += 1
            in_content = False
            start = newline + 1
        if block[start:].strip():
            in_content = True
    return count + (1 if in_content else 0)
