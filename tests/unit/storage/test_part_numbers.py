"""How each blob store picks a part's number: local disk tries the session's next one, S3 always allocates."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from gemfiles.storage.localdisk import LocalBlobStore
from gemfiles.storage.memory_blobs import MemoryBlobStore


class Numbers:
    """A PartNumbers source that counts its allocations."""

    def __init__(self, next_number: int, allocated: int) -> None:
        self.next = next_number
        self._allocated = allocated
        self.allocations = 0

    async def allocate(self) -> int:
        self.allocations += 1
        return self._allocated


async def blocks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_local_put_part_uses_the_next_number_without_allocating(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    key = uuid.uuid4().hex
    state = await store.begin_upload(key)
    numbers = Numbers(3, 9)
    part = await store.put_part(key, state, numbers, blocks(b"abc"), 3)
    assert (part.number, numbers.allocations) == (3, 0)


async def test_local_put_part_allocates_when_the_next_number_is_taken(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    key = uuid.uuid4().hex
    state = await store.begin_upload(key)
    await store.put_part(key, state, Numbers(3, 3), blocks(b"left by a crash"), None)
    numbers = Numbers(3, 9)
    part = await store.put_part(key, state, numbers, blocks(b"abc"), 3)
    assert (part.number, numbers.allocations) == (9, 1)
    assert b"".join([b async for b in store.read_part(key, state, part)]) == b"abc"


async def test_put_part_runs_observe_on_every_block_in_order(tmp_path: Path) -> None:
    seen: list[bytes] = []

    async def three() -> AsyncIterator[bytes]:
        for block in (b"a", b"bc", b"def"):
            yield block

    for store in (LocalBlobStore(tmp_path), MemoryBlobStore(uuid.uuid4().hex)):
        seen.clear()
        key = uuid.uuid4().hex
        state = await store.begin_upload(key)
        await store.put_part(key, state, Numbers(1, 2), three(), 6, seen.append)
        assert seen == [b"a", b"bc", b"def"]
