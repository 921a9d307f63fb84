"""Uploads that arrive whole cost one metadata transaction (two for the SDKs' start + `upload, finalize`)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from gemfiles.domain.clock import SystemClock
from gemfiles.domain.upload_machine import ChunkCommand
from gemfiles.domain.uploads import Limits, UploadService
from gemfiles.storage.localdisk import LocalBlobStore
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


async def test_start_and_a_whole_file_chunk_are_two_transactions(stores: tuple) -> None:
    meta, blobs, uploads = stores
    before = transactions(meta)

    _token, session = await uploads.start(
        "p", name=None, display_name=None, mime_type="text/plain", declared_size=5
    )
    reply = await uploads.chunk(session, ChunkCommand(0, 5, upload=True, finalize=True), body(b"hello"))

    assert transactions(meta) - before == 2
    assert reply.status == "final" and reply.file is not None and reply.file.size_bytes == 5
    assert b"".join([block async for block in blobs.open(reply.file.blob_key)]) == b"hello"
    usage = await meta.get_usage("p")
    assert (usage.used_bytes, usage.reserved_bytes) == (5, 0)
    assert not (blobs.root / "uploads" / session.upload_key).exists()  # the session's own upload is dropped
