"""ProjectAdmin on the in-memory twin: a project's own quota is what the upload service checks; keys."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest

from gemfiles.domain.clock import OffsetClock
from gemfiles.domain.projects import ProjectAdmin, key_hash
from gemfiles.domain.upload_machine import ChunkCommand, UploadError
from gemfiles.domain.uploads import Limits, UploadService
from gemfiles.errors import InvalidArgument, NotFound, QuotaExceeded
from gemfiles.storage.memory import MemoryBlobStore, MemoryMetadataStore, forget

DEFAULT_QUOTA = 10_000


@pytest.fixture
def stores() -> Iterator[tuple[MemoryMetadataStore, MemoryBlobStore]]:
    name = f"admin-{uuid.uuid4().hex[:12]}"
    yield MemoryMetadataStore(name), MemoryBlobStore(name)
    forget(name)


def uploads_on(meta: MemoryMetadataStore, blobs: MemoryBlobStore) -> UploadService:
    limits = Limits(50_000, DEFAULT_QUOTA, timedelta(hours=48), timedelta(days=7))
    return UploadService(meta, blobs, OffsetClock(), limits)


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def upload(uploads: UploadService, project: str, size: int | None) -> None:
    _token, session = await uploads.start(
        project, name=None, display_name="x", mime_type="text/plain", declared_size=size
    )
    await uploads.chunk(session, ChunkCommand(0, 3000, upload=True, finalize=True), one(b"a" * 3000))


async def test_an_own_quota_below_the_default_refuses_an_upload_the_default_allows(
    stores: tuple[MemoryMetadataStore, MemoryBlobStore],
) -> None:
    meta, blobs = stores
    admin = ProjectAdmin(meta, OffsetClock(), DEFAULT_QUOTA)
    uploads = uploads_on(meta, blobs)
    await upload(uploads, "small", 3000)
    row = await admin.set_quota("small", 5000)
    assert (row.quota_bytes, row.quota(DEFAULT_QUOTA), row.used_bytes) == (5000, 5000, 3000)
    with pytest.raises(QuotaExceeded) as declared:
        await upload(uploads, "small", 3000)
    assert "5000" in declared.value.message
    with pytest.raises(UploadError) as undeclared:
        await upload(uploads, "small", None)
    assert isinstance(undeclared.value.error, QuotaExceeded)
    await upload(uploads, "other", 3000)  # another project keeps the default


async def test_an_own_quota_above_the_default_allows_more(
    stores: tuple[MemoryMetadataStore, MemoryBlobStore],
) -> None:
    meta, blobs = stores
    admin = ProjectAdmin(meta, OffsetClock(), DEFAULT_QUOTA)
    await admin.set_quota("big", 20_000)
    uploads = uploads_on(meta, blobs)
    for _ in range(5):
        await upload(uploads, "big", 3000)
    assert (await admin.usage("big")).used_bytes == 15_000
    await admin.set_quota("big", None)
    assert (await admin.usage("big")).quota(DEFAULT_QUOTA) == DEFAULT_QUOTA


async def test_set_quota_refuses_a_negative_quota_and_a_bad_project_name(
    stores: tuple[MemoryMetadataStore, MemoryBlobStore],
) -> None:
    admin = ProjectAdmin(stores[0], OffsetClock(), DEFAULT_QUOTA)
    with pytest.raises(InvalidArgument):
        await admin.set_quota("p", -1)
    with pytest.raises(InvalidArgument):
        await admin.set_quota("no spaces/here", 10)


async def test_created_keys_are_stored_hashed_listed_and_revoked_by_prefix(
    stores: tuple[MemoryMetadataStore, MemoryBlobStore],
) -> None:
    meta = stores[0]
    admin = ProjectAdmin(meta, OffsetClock(), DEFAULT_QUOTA)
    made = await admin.create_key("team")
    assert made.key.startswith("gf-") and made.record.prefix == made.key[:10]
    assert await meta.lookup_key(key_hash(made.key)) == "team"
    assert [k.key_hash for k in await admin.keys()] == [key_hash(made.key)]
    assert await admin.revoke_key(made.record.prefix) == 1
    assert await meta.lookup_key(key_hash(made.key)) is None
    with pytest.raises(NotFound):
        await admin.revoke_key(made.record.prefix)
