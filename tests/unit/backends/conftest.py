"""Files stored in a real LocalBlobStore, resolved the way the protocol layer resolves them."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gemfiles.domain.calls import ResolvedFile
from gemfiles.domain.models import FileRecord
from gemfiles.storage.localdisk import LocalBlobStore
from tests.support import PartNumber

StoreFile = Callable[..., Awaitable[ResolvedFile]]


def _blocks(path: Path, lo: int, hi: int) -> list[bytes]:
    with open(path, "rb") as src:
        src.seek(lo)
        return [src.read(min(hi - at, 1 << 20)) for at in range(lo, hi, 1 << 20)]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        while block := src.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def probe_facts(path: Path, mime_type: str) -> dict[str, Any]:
    """Facts as the media layer stores them at upload (duration, codecs, size), read with PyAV."""
    import av

    if not mime_type.startswith(("audio/", "video/")):
        return {}
    with av.open(str(path)) as container:
        facts: dict[str, Any] = {"duration_seconds": container.duration / 1_000_000}
        for stream in container.streams:
            if stream.type == "video":
                facts.update(video_codec=stream.codec_context.name, width=stream.width, height=stream.height)
            if stream.type == "audio":
                facts.update(audio_codec=stream.codec_context.name, sample_rate=stream.sample_rate)
    return facts


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def store_file(blobs: LocalBlobStore) -> StoreFile:
    return file_storer(blobs)


def file_storer(blobs: LocalBlobStore) -> StoreFile:
    """Uploads a file's bytes (in 3 parts, as a resumable upload leaves them) and resolves it."""

    async def store(path: Path, mime_type: str, facts: dict[str, Any] | None = None) -> ResolvedFile:
        data_size = await asyncio.to_thread(os.path.getsize, path)
        key = uuid.uuid4().hex
        state = await blobs.begin_upload(key)
        cuts = [0, data_size // 3, 2 * data_size // 3, data_size]
        parts = []
        for number, (lo, hi) in enumerate(itertools.pairwise(cuts), start=1):

            async def blocks(lo: int = lo, hi: int = hi) -> AsyncIterator[bytes]:
                for block in _blocks(path, lo, hi):
                    yield block

            parts.append(await blobs.put_part(key, state, PartNumber(number), blocks(), hi - lo))
        blob_key = await blobs.complete_upload(key, state, parts)
        now = datetime.now(UTC)
        record = FileRecord(
            project="test",
            id=key[:12],
            mime_type=mime_type,
            size_bytes=data_size,
            sha256_hex=_sha256(path),
            create_time=now,
            update_time=now,
            expire_time=now + timedelta(hours=48),
            blob_key=blob_key,
            facts=probe_facts(path, mime_type) if facts is None else facts,
        )
        return ResolvedFile(record, blobs)

    return store
