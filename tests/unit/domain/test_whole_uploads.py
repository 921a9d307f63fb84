"""Uploads that arrive whole cost one metadata transaction (two for the SDKs' start + `upload, finalize`)."""

from __future__ import annotations

import errno
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gemfiles.domain.clock import SystemClock
from gemfiles.domain.models import SessionStatus, UploadSession
from gemfiles.domain.ports import is_inline
from gemfiles.domain.upload_machine import ChunkCommand, UploadError, UploadReply
from gemfiles.domain.uploads import Limits, UploadService
from gemfiles.errors import AlreadyExists
from gemfiles.storage.inline import InlineBlobStore
from gemfiles.storage.localdisk import LocalBlobStore
from gemfiles.storage.memory import MemoryBlobStore, MemoryMetadataStore, forget
from gemfiles.storage.sql import SqlMetadataStore


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def stores(tmp_path: Path) -> tuple[SqlMetadataStore, LocalBlobStore, UploadService]:
    meta = SqlMetadataStore.from_url(f"sqlite:///{tmp_path}/g.db")
    await meta.migrate()
    blobs = LocalBlobStore(tmp_path / "blobs")
    limits = Limits(2**31, 2**40, timedelta(days=2), timedelta(days=7))
    yield meta, blobs, UploadService(meta, blobs, SystemClock(), limits)  # type: ignore[misc]
    await meta.close()


def transactions(meta: SqlMetadataStore) -> int:
    assert meta._sqlite_writer is not None
    return meta._sqlite_writer.transactions


async def test_a_raw_upload_is_one_transaction(stores: tuple) -> None:
    meta, blobs, uploads = stores
    before = transactions(meta)

    reply = await uploads.upload_whole(
        "p", name=None, display_name=None, mime_type="text/plain", declared_size=None, body=body(b"hello")
    )

    assert transactions(meta) - before == 1
    assert reply.file is not None and reply.file.sha256_hex == hashlib.sha256(b"hello").hexdigest()
    assert b"".join([block async for block in blobs.open(reply.file.blob_key)]) == b"hello"
    assert (await meta.get_usage("p")).used_bytes == 5


async def start_and_send_whole(uploads: UploadService, data: bytes) -> tuple[UploadSession, UploadReply]:
    """The SDKs' small upload: ``start``, then one ``upload, finalize`` with the whole body."""
    _token, session = await uploads.start(
        "p", name=None, display_name=None, mime_type="text/plain", declared_size=len(data)
    )
    command = ChunkCommand(0, len(data), upload=True, finalize=True)
    return session, await uploads.chunk(session, command, body(data))


async def test_start_and_a_whole_file_chunk_are_two_transactions(stores: tuple) -> None:
    meta, blobs, uploads = stores
    before = transactions(meta)

    session, reply = await start_and_send_whole(uploads, b"hello")

    assert transactions(meta) - before == 2
    assert reply.status == "final" and reply.file is not None and reply.file.size_bytes == 5
    assert b"".join([block async for block in blobs.open(reply.file.blob_key)]) == b"hello"
    usage = await meta.get_usage("p")
    assert (usage.used_bytes, usage.reserved_bytes) == (5, 0)
    assert not (blobs.root / "uploads" / session.upload_key).exists()  # the session's own upload is dropped


class FullDisk(MemoryBlobStore):
    async def put_object(self, upload_key: str, blocks: AsyncIterator[bytes], observe: Any = None) -> Any:
        async for _ in blocks:
            pass
        raise OSError(errno.ENOSPC, "No space left on device")


async def test_a_store_that_fails_a_whole_upload_is_a_503_and_records_nothing() -> None:
    name = f"full-{uuid.uuid4().hex[:8]}"
    meta, blobs = MemoryMetadataStore(name), FullDisk(name)
    uploads = UploadService(
        meta, blobs, SystemClock(), Limits(2**20, 2**30, timedelta(days=2), timedelta(days=7))
    )
    try:
        with pytest.raises(UploadError) as raw:
            await uploads.upload_whole(
                "p",
                name=None,
                display_name=None,
                mime_type="text/plain",
                declared_size=None,
                body=body(b"hi"),
            )
        assert (raw.value.error.code, raw.value.status) == (503, "active")
        _token, session = await uploads.start(
            "p", name=None, display_name=None, mime_type="text/plain", declared_size=2
        )
        with pytest.raises(UploadError) as chunk:
            await uploads.chunk(session, ChunkCommand(0, 2, upload=True, finalize=True), body(b"hi"))
        assert (chunk.value.error.code, chunk.value.status, chunk.value.received) == (503, "active", 0)
        latest = await meta.get_session(session.token_digest)
        assert latest is not None and latest.status == SessionStatus.ACTIVE and latest.received == 0
        assert (await meta.get_usage("p")).used_bytes == 0
    finally:
        forget(name)


# Small files kept with their record (inline_bytes) -------------------------------------------------------
LIMIT = 16


@pytest.fixture
async def inline_stores(
    tmp_path: Path,
) -> AsyncIterator[tuple[SqlMetadataStore, InlineBlobStore, UploadService]]:
    meta = SqlMetadataStore.from_url(f"sqlite:///{tmp_path}/g.db")
    await meta.migrate()
    blobs = InlineBlobStore(LocalBlobStore(tmp_path / "blobs"), tmp_path / "g.db", meta)
    limits = Limits(2**31, 2**40, timedelta(days=2), timedelta(days=7), inline_bytes=LIMIT)
    yield meta, blobs, UploadService(meta, blobs, SystemClock(), limits)
    await meta.close()


async def split(*blocks: bytes) -> AsyncIterator[bytes]:
    for block in blocks:
        yield block


def on_disk(blobs: InlineBlobStore) -> list[Path]:
    inner = blobs.inner
    assert isinstance(inner, LocalBlobStore)
    return [path for path in inner.root.rglob("*") if path.is_file()]


async def test_a_body_up_to_the_limit_is_kept_with_its_record_in_one_transaction(
    inline_stores: tuple,
) -> None:
    meta, blobs, uploads = inline_stores
    before = transactions(meta)
    data = b"x" * LIMIT

    reply = await uploads.upload_whole(
        "p",
        name=None,
        display_name=None,
        mime_type="text/plain",
        declared_size=None,
        body=split(data[:5], data[5:]),
    )

    assert transactions(meta) - before == 1
    assert reply.file is not None and is_inline(reply.file.blob_key)
    assert reply.file.sha256_hex == hashlib.sha256(data).hexdigest()
    assert await meta.read_inline(reply.file.blob_key) == data
    assert b"".join([block async for block in blobs.open(reply.file.blob_key)]) == data
    assert on_disk(blobs) == []
    assert (await meta.get_usage("p")).used_bytes == LIMIT


async def test_a_body_over_the_limit_is_written_whole_to_the_blob_store(inline_stores: tuple) -> None:
    _meta, blobs, uploads = inline_stores
    blocks = [b"a" * 10, b"b" * 10, b"c" * 10]  # the limit is crossed inside the second block

    reply = await uploads.upload_whole(
        "p", name=None, display_name=None, mime_type="text/plain", declared_size=None, body=split(*blocks)
    )

    assert reply.file is not None and not is_inline(reply.file.blob_key)
    assert b"".join([block async for block in blobs.open(reply.file.blob_key)]) == b"".join(blocks)
    assert reply.file.sha256_hex == hashlib.sha256(b"".join(blocks)).hexdigest()
    assert len(on_disk(blobs)) == 1 and [b async for b in blobs.inventory() if is_inline(b.key)] == []


async def test_the_sdks_whole_chunk_is_kept_with_its_record(inline_stores: tuple) -> None:
    meta, blobs, uploads = inline_stores
    before = transactions(meta)

    _session, reply = await start_and_send_whole(uploads, b"hello")

    assert transactions(meta) - before == 2
    assert reply.file is not None and is_inline(reply.file.blob_key)
    assert await meta.read_inline(reply.file.blob_key) == b"hello"
    assert on_disk(blobs) == []
    usage = await meta.get_usage("p")
    assert (usage.used_bytes, usage.reserved_bytes) == (5, 0)


async def test_a_refused_small_upload_leaves_no_bytes(inline_stores: tuple) -> None:
    meta, blobs, uploads = inline_stores
    await uploads.upload_whole(
        "p",
        name="files/taken",
        display_name=None,
        mime_type="text/plain",
        declared_size=None,
        body=body(b"one"),
    )

    with pytest.raises(AlreadyExists, match="files/taken already exists"):
        await uploads.upload_whole(
            "p",
            name="files/taken",
            display_name=None,
            mime_type="text/plain",
            declared_size=None,
            body=body(b"two"),
        )

    assert [blob.key async for blob in blobs.inventory()] == [
        (await meta.get_file("p", "taken", SystemClock().now())).blob_key  # type: ignore[union-attr]
    ]
