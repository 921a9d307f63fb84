"""The request body the S3 store streams into a part: a client's chunk once, a joined part again on retry."""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator, Callable
from typing import Any


class PartBody:
    """An async request body for aiohttp: the domain's blocks, counted.

    botocore calls ``seek(0)`` before every attempt. A client's chunk cannot be read twice, so that is
    refused after the first byte and a failed send is not retried with half a stream (the client re-sends
    the chunk instead). A body joined from stored objects can be read again: given ``restart``, a rewind
    starts a fresh stream from it and botocore's retry sends the whole part again.

    The body ends by itself after ``length`` bytes, without asking the source for more: aiohttp may still
    be finishing the body in its writer task when the reply is in. ``finish`` then runs the source to its
    end in the caller's task, so whatever the source does after its last block (the domain's running
    SHA-256) is done before the caller goes on.
    """

    def __init__(
        self,
        blocks: AsyncIterator[bytes],
        length: int,
        restart: Callable[[], AsyncIterator[bytes]] | None = None,
    ) -> None:
        self._blocks = blocks
        self._restart = restart
        self._spent: list[AsyncIterator[bytes]] = []
        self.length = length
        self.size = 0
        self.started = False
        self.error: Exception | None = None

    def read(self, *args: Any) -> bytes:  # botocore checks that a body is file-like; aiohttp iterates it
        raise io.UnsupportedOperation("read")

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset != 0 or whence != 0:
            raise io.UnsupportedOperation("a body can only be rewound to its start")
        if self.started:
            if self._restart is None:
                raise io.UnsupportedOperation("a chunk's body cannot be rewound")
            self._spent.append(self._blocks)
            self._blocks = self._restart()
            self.size = 0
            self.started = False
            self.error = None
        return 0

    def tell(self) -> int:
        return self.size

    def __aiter__(self) -> AsyncIterator[bytes]:
        self.started = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        try:
            while self.size < self.length:
                block = await anext(self._blocks, None)
                if block is None:
                    raise ValueError(f"the chunk ended after {self.size} of its {self.length} bytes")
                self.size += len(block)
                if self.size > self.length:
                    raise ValueError(f"the chunk is longer than its declared {self.length} bytes")
                yield block
        except Exception as exc:
            self.error = exc
            raise

    async def close(self) -> None:
        """Closes every stream this body started, without reading them further."""
        for blocks in [*self._spent, self._blocks]:
            with contextlib.suppress(Exception):
                await blocks.aclose()  # type: ignore[attr-defined]
        self._spent.clear()

    async def finish(self) -> None:
        for spent in self._spent:
            with contextlib.suppress(Exception):
                await spent.aclose()  # type: ignore[attr-defined]
        self._spent.clear()
        async for block in self._blocks:
            if block:
                self.size += len(block)
                self.error = ValueError(f"the chunk is longer than its declared {self.length} bytes")
                raise self.error
