"""What every blob store shares about an upload's parts: names, the per-block hook, re-sent bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from gemfiles.domain.streams import same_bytes


def check_upload_key(upload_key: str) -> str:
    """An upload key is made by the server (ASCII letters and digits); nothing else names a blob path."""
    if not upload_key or not upload_key.isalnum() or not upload_key.isascii():
        raise ValueError(f"not a blob key: {upload_key!r}")
    return upload_key


def object_key(upload_key: str) -> str:
    """The key of the object an upload completes into."""
    return f"{check_upload_key(upload_key)[:2]}/{upload_key}"


async def observed(
    blocks: AsyncIterator[bytes], observe: Callable[[bytes], None] | None
) -> AsyncIterator[bytes]:
    """Runs ``observe`` on every block, in order, in a worker thread, one block behind the stream.

    The observer of block k runs while block k is sent and block k+1 received; it has run on every block
    when the stream ends.
    """
    if observe is None:
        async for block in blocks:
            yield block
        return
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] | None = None
    try:
        async for block in blocks:
            if pending is not None:
                await pending
            pending = loop.run_in_executor(None, observe, block)
            yield block
        if pending is not None:
            await pending
            pending = None
    finally:
        if pending is not None:
            await asyncio.gather(pending, return_exceptions=True)


async def same_stored_bytes(body: AsyncIterator[bytes], stored: AsyncIterator[bytes]) -> bool:
    """Whether ``body`` equals a stored part; a part moved away meanwhile (an OSError) counts as different."""
    try:
        return await same_bytes(body, stored)
    except OSError:
        return False


class _FreshNumbers:
    """Part numbers of an upload key nobody else holds: 1, then 2, 3, ... when the store asks for more."""

    def __init__(self) -> None:
        self.next = 1

    async def allocate(self) -> int:
        self.next += 1
        return self.next


async def put_object_in_parts(
    store: Any, upload_key: str, blocks: AsyncIterator[bytes], observe: Callable[[bytes], None] | None
) -> tuple[str, int]:
    """``put_object`` for stores whose one way in is an upload of parts (S3's multipart, the memory twin)."""
    state = await store.begin_upload(upload_key)
    try:
        part = await store.put_part(upload_key, state, _FreshNumbers(), blocks, None, observe)
        return await store.complete_upload(upload_key, state, [part]), part.size
    except BaseException:
        await store.abort_upload(upload_key, state, [])
        raise
