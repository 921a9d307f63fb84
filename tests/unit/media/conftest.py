"""A real local-disk blob store, and files put into it part by part as the upload path does."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gemfiles.domain.mime import needs_processing
from gemfiles.domain.models import FileRecord, FileState
from gemfiles.storage.localdisk import LocalBlobStore
from tests.support import PartNumber

Store = Callable[..., Awaitable[FileRecord]]


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


async def _blocks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.fixture
def store(blobs: LocalBlobStore) -> Store:
    """``await store(data, mime_type, parts=n)``: the bytes as an object of ``n`` parts; its file record."""

    async def put(data: bytes, mime_type: str, parts: int = 1) -> FileRecord:
        upload_key = uuid.uuid4().hex
        state = await blobs.begin_upload(upload_key)
        cuts = [round(len(data) * i / parts) for i in range(parts + 1)]
        refs = [
            await blobs.put_part(
                upload_key, state, PartNumber(number), _blocks(data[cuts[number - 1] : cuts[number]]), None
            )
            for number in range(1, parts + 1)
        ]
        key = await blobs.complete_upload(upload_key, state, refs)
        now = datetime.now(UTC)
        return FileRecord(
            project="p",
            id=upload_key[:12],
            mime_type=mime_type,
            size_bytes=len(data),
            sha256_hex=hashlib.sha256(data).hexdigest(),
            create_time=now,
            update_time=now,
            expire_time=now + timedelta(hours=48),
            blob_key=key,
            state=FileState.PROCESSING if needs_processing(mime_type) else FileState.ACTIVE,
        )

    return put


Probe = Callable[..., Awaitable[tuple[FileState, dict[str, object] | None, dict[str, object] | None]]]


@pytest.fixture
def probe_bytes(store: Store, blobs: LocalBlobStore) -> Probe:
    """``await probe_bytes(data, mime_type, parts=n)``: what the worker would store for those bytes (the
    probe itself, run here in a thread; ``test_isolated`` covers running it in a child)."""
    from gemfiles.media.probe import probe_sync

    async def run(data: bytes, mime_type: str, parts: int = 1) -> tuple[FileState, dict | None, dict | None]:
        return await asyncio.to_thread(probe_sync, await store(data, mime_type, parts), blobs)

    return run
