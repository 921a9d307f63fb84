"""What every probe shares: the facts type, the error for bytes that are not what they claim, clipping."""

from __future__ import annotations

from typing import Any, BinaryIO

Facts = dict[str, Any]

# A first line is a label for a human (and the inspector model), not the document: keep it short.
FIRST_LINE_CHARS = 200


class NotMedia(Exception):
    """The bytes are not the media their MIME type claims; the message says why, for the user."""


def clip_line(line: str) -> str:
    """A line trimmed of surrounding whitespace and cut to ``FIRST_LINE_CHARS`` characters."""
    return line.strip()[:FIRST_LINE_CHARS].rstrip()


def first_nonblank_line(text: str) -> str | None:
    for line in text.splitlines():
        if line.strip():
            return clip_line(line)
    return None


class BoundedReads:
    """A file object whose single reads are capped, so a parser that would slurp a whole object fails instead.

    pypdf, for one, reads the entire file into memory to rebuild a damaged cross-reference table; behind
    this wrapper that read raises NotMedia (for objects larger than ``limit``), and memory stays bounded.
    """

    def __init__(self, handle: BinaryIO, limit: int) -> None:
        self._handle = handle
        self._limit = limit

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self._limit:
            here = self._handle.tell()
            end = self._handle.seek(0, 2)
            self._handle.seek(here)
            wanted = end - here if size is None or size < 0 else min(size, end - here)
            if wanted > self._limit:
                raise NotMedia(
                    f"reading it would take {wanted} bytes at once, over the limit of {self._limit}"
                )
        return self._handle.read(-1 if size is None else size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    @property
    def mode(self) -> str:
        return "rb"
