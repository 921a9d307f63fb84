"""The blocking file work of the local blob store: a seekable view over an object's parts."""

from __future__ import annotations

import bisect
import io
from pathlib import Path
from typing import Any, BinaryIO


class ConcatReader(io.RawIOBase):
    """A seekable read-only view over several part files laid end to end."""

    def __init__(self, parts: list[tuple[Path, int]]) -> None:
        self._parts = parts
        self._starts: list[int] = []
        total = 0
        for _, size in parts:
            self._starts.append(total)
            total += size
        self._size = total
        self._pos = 0
        self._index = -1
        self._handle: BinaryIO | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        index = self._part_at(self._pos)
        if index != self._index:
            if self._handle is not None:
                self._handle.close()
            self._handle = open(self._parts[index][0], "rb")
            self._index = index
        assert self._handle is not None
        within = self._pos - self._starts[index]
        self._handle.seek(within)
        want = min(len(buffer), self._parts[index][1] - within)
        data = self._handle.read(want)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _part_at(self, pos: int) -> int:
        index = bisect.bisect_right(self._starts, pos) - 1
        # Skip empty parts that start at the same offset.
        while index < len(self._parts) - 1 and self._parts[index][1] == 0:
            index += 1
        return index

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        super().close()
