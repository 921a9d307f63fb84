"""The blob store that keeps small files' bytes in the SQLite database (storage/inline.py): inline keys are
read, listed and removed there, every other key and every upload goes to the wrapped store, and its URL
opens a reading copy (a probe child's) that finds the same bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from gemfiles.domain.ports import inline_key
from gemfiles.storage.inline import InlineBlobStore, split_url
from gemfiles.storage.localdisk import LocalBlobStore
from gemfiles.storage.registry import open_blob_store, open_metadata_store
from gemfiles.storage.sql import SqlMetadataStore
from tests.contract.test_metadata_store import GIB, NOW, file_for, new_project, new_session


@pytest.fixture
async def meta(tmp_path: Path) -> AsyncIterator[SqlMetadataStore]:
    store = SqlMetadataStore.from_url(f"sqlite:///{tmp_path}/g.db")
    await store.migrate()
    yield store
    await store.close()


@pytest.fixture
def store(tmp_path: Path, meta: SqlMetadataStore) -> InlineBlobStore:
    return InlineBlobStore(LocalBlobStore(tmp_path / "blobs"), tmp_path / "g.db", meta)


async def small_file(meta: SqlMetadataStore, data: bytes) -> str:
    session = new_session(new_project(), size=len(data))
    record = replace(file_for(session, len(data)), blob_key=inline_key(session.upload_key))
    await meta.create_file(record, GIB, NOW, data)
    return record.blob_key


async def blocks(*items: bytes) -> AsyncIterator[bytes]:
    for item in items:
        yield item


async def read(store: InlineBlobStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([block async for block in store.open(key, start, end)])


async def test_inline_keys_are_read_from_the_database(store: InlineBlobStore, meta: SqlMetadataStore) -> None:
    key = await small_file(meta, b"hello world")

    assert await read(store, key) == b"hello world"
    assert await read(store, key, 6) == b"world"
    assert await read(store, key, 2, 4) == b"ll"
    with store.reader(key) as handle:
        handle.seek(6)
        assert handle.read() == b"world"


async def test_other_keys_go_to_the_wrapped_store(store: InlineBlobStore, tmp_path: Path) -> None:
    key, size = await store.put_object("a" * 40, blocks(b"on ", b"disk"))

    assert (key, size) == ("aa/" + "a" * 40, 7)
    assert (tmp_path / "blobs" / "objects" / "aa" / ("a" * 40 + ".data")).read_bytes() == b"on disk"
    assert await read(store, key) == b"on disk"
    with store.reader(key) as handle:
        assert handle.read() == b"on disk"
    await store.delete(key)
    with pytest.raises(FileNotFoundError):
        await read(store, key)


async def test_a_missing_inline_key_is_file_not_found(store: InlineBlobStore) -> None:
    with pytest.raises(FileNotFoundError):
        await read(store, inline_key("b" * 40))
    with pytest.raises(FileNotFoundError):
        store.reader(inline_key("b" * 40))


async def test_delete_and_remove_take_the_bytes_out_of_the_database(
    store: InlineBlobStore, meta: SqlMetadataStore
) -> None:
    deleted = await small_file(meta, b"one")
    removed = await small_file(meta, b"two")

    await store.delete(deleted)
    listed = {blob.key: blob async for blob in store.inventory()}
    assert deleted not in listed and listed[removed].size == 3
    await store.remove(listed[removed])

    assert await meta.read_inline(deleted) is None and await meta.read_inline(removed) is None
    assert [blob async for blob in store.inventory()] == []


async def test_the_url_opens_a_reading_copy_of_the_same_pair(
    store: InlineBlobStore, meta: SqlMetadataStore, tmp_path: Path
) -> None:
    key = await small_file(meta, b"seen from a child")
    disk_key, _ = await store.put_object("c" * 40, blocks(b"and from disk"))

    assert split_url(store.url) == (f"file://{tmp_path / 'blobs'}", str(tmp_path / "g.db"))
    copy = open_blob_store(store.url)
    assert isinstance(copy, InlineBlobStore) and copy.rows is None

    # Read as a probe child reads: a blocking reader in a thread of its own.
    def both() -> tuple[bytes, bytes]:
        with copy.reader(key) as small, copy.reader(disk_key) as large:
            return small.read(), large.read()

    assert await asyncio.to_thread(both) == (b"seen from a child", b"and from disk")
    assert await read(copy, key) == b"seen from a child"


def test_a_url_that_is_not_an_inline_url_is_refused() -> None:
    with pytest.raises(ValueError, match="not an inline blob URL"):
        split_url("file:///data/blobs")
    with pytest.raises(ValueError, match="not an inline blob URL"):
        split_url("inline+file:///data/blobs")


def test_the_embedded_default_keeps_small_files_in_its_database_and_postgresql_does_not(
    tmp_path: Path,
) -> None:
    from gemfiles.app import _inline_database, build_services
    from gemfiles.settings import Settings

    default = Settings(data_dir=tmp_path / "data")
    services = build_services(default)
    database = _inline_database(default, services.meta)
    assert database == (tmp_path / "data" / "gemfiles.db").resolve()
    assert isinstance(services.blobs, InlineBlobStore)
    assert services.uploads.whole.inline_limit == 64 * 1024
    assert split_url(services.blobs.url)[1] == str(database)

    assert _inline_database(Settings(data_dir=tmp_path, inline_max_bytes=0), services.meta) is None
    postgres = Settings(data_dir=tmp_path, database_url="postgresql://u:p@127.0.0.1:1/gemfiles")
    assert _inline_database(postgres, open_metadata_store(postgres.resolved_database_url)) is None
