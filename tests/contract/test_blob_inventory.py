"""What the scrub relies on, written once and run on every backend: ``BlobStore.inventory`` and ``remove``
(local disk, S3 on SeaweedFS, the memory twin) and ``MetadataStore.blob_keys_in_use`` (SQLite, PostgreSQL,
the twin)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

from gemfiles.domain.ports import BlobStore, MetadataStore, StoredBlob
from gemfiles.storage.parts import object_key
from tests.contract.conftest import Backend
from tests.contract.test_blob_store import MIB, Upload, blocks_of
from tests.contract.test_metadata_store import GIB, NOW, new_project, new_session, stored_file

SLACK = timedelta(minutes=5)  # the store's clock (S3's) and this machine's may differ a little


async def listed(blobs: BlobStore) -> list[StoredBlob]:
    return [blob async for blob in blobs.inventory()]


def recent(moment: datetime) -> bool:
    now = datetime.now(UTC)
    return moment.tzinfo is not None and now - SLACK <= moment <= now + SLACK


# BlobStore.inventory and remove -----------------------------------------------------------------------------
async def test_inventory_lists_every_object_with_its_key_size_and_time(blobs: BlobStore) -> None:
    upload = await Upload.begin(blobs)
    for data in (os.urandom(6 * MIB), os.urandom(1000)):
        await upload.chunk(data)
    joined = await upload.complete()
    whole, size = await blobs.put_object(uuid.uuid4().hex + "0a0b0c0d", blocks_of(b"w" * 3000))

    objects = {b.key: b for b in await listed(blobs) if b.kind == "object"}

    assert set(objects) == {joined, whole}
    assert (objects[joined].size, objects[whole].size) == (6 * MIB + 1000, size)
    assert all(recent(b.modified) for b in objects.values())


async def test_inventory_lists_an_unfinished_upload_under_its_upload_key(blobs: BlobStore) -> None:
    upload = await Upload.begin(blobs)
    await upload.chunk(b"p" * 1000)

    entries = [b for b in await listed(blobs) if b.kind == "upload"]

    assert entries and {b.key for b in entries} == {upload.key}
    assert sum(b.size for b in entries) == 1000
    assert all(recent(b.modified) for b in entries)


async def test_inventory_of_an_empty_store_is_empty(blobs: BlobStore) -> None:
    assert await listed(blobs) == []


async def test_remove_takes_away_what_each_entry_names_and_is_idempotent(
    blobs: BlobStore, backend: Backend
) -> None:
    for layout in [(MIB,), (6 * MIB, MIB), (MIB, MIB, 6 * MIB, 77)]:  # S3: a chunk object, native, two rounds
        upload = await Upload.begin(blobs)
        for size in layout:
            await upload.chunk(os.urandom(size))
        await upload.complete()
    unfinished = await Upload.begin(blobs)
    await unfinished.chunk(os.urandom(6 * MIB))
    await unfinished.chunk(b"small")
    await blobs.put_object(uuid.uuid4().hex, blocks_of(b"whole"))
    entries = await listed(blobs)
    assert len([b for b in entries if b.kind == "object"]) == 4

    for blob in entries:
        await blobs.remove(blob)
    for blob in entries:
        await blobs.remove(blob)  # a second scrub (another replica) removing the same entries

    assert await listed(blobs) == []
    assert backend.leftovers() == []


async def test_remove_of_one_object_leaves_the_others_readable(blobs: BlobStore) -> None:
    kept, _ = await blobs.put_object(uuid.uuid4().hex, blocks_of(b"kept"))
    gone, _ = await blobs.put_object(uuid.uuid4().hex, blocks_of(b"gone"))

    await blobs.remove(next(b for b in await listed(blobs) if b.key == gone))

    assert [b.key for b in await listed(blobs)] == [kept]
    assert b"".join([block async for block in blobs.open(kept)]) == b"kept"


# MetadataStore.blob_keys_in_use ------------------------------------------------------------------------------
async def test_keys_in_use_are_those_of_files_and_active_sessions(meta: MetadataStore) -> None:
    project = new_project()
    record = await stored_file(meta, project)
    active = new_session(project)
    await meta.create_session(active, GIB, NOW)
    strangers = [object_key(uuid.uuid4().hex + "00000000") for _ in range(3)]

    in_use = await meta.blob_keys_in_use(
        [record.blob_key, *strangers], [active.upload_key, uuid.uuid4().hex + "00000000"]
    )

    assert in_use == {record.blob_key, active.upload_key}


async def test_a_finished_or_cancelled_session_no_longer_names_its_upload_key(meta: MetadataStore) -> None:
    project = new_project()
    record = await stored_file(meta, project)  # its session is final now
    cancelled = new_session(project)
    await meta.create_session(cancelled, GIB, NOW)
    await meta.cancel_session(cancelled.token_digest, NOW)
    await meta.finish_gc([item.id for item in await meta.claim_gc(NOW, 60, 1000)])

    owner = record.blob_key.partition("/")[2]
    assert await meta.blob_keys_in_use([], [owner, cancelled.upload_key]) == set()


async def test_a_key_queued_for_collection_is_in_use_until_collected(meta: MetadataStore) -> None:
    project = new_project()
    record = await stored_file(meta, project)
    await meta.delete_file(project, record.id, NOW)
    assert await meta.blob_keys_in_use([record.blob_key], []) == {record.blob_key}

    await meta.finish_gc([item.id for item in await meta.claim_gc(NOW, 60, 1000)])

    assert await meta.blob_keys_in_use([record.blob_key], []) == set()


async def test_keys_in_use_are_answered_for_many_keys_at_once(meta: MetadataStore) -> None:
    project = new_project()
    records = [await stored_file(meta, project) for _ in range(3)]
    sessions = [new_session(project) for _ in range(3)]
    for session in sessions:
        await meta.create_session(session, GIB, NOW)
    objects = [object_key(uuid.uuid4().hex + "00000000") for _ in range(250)] + [r.blob_key for r in records]
    uploads = [uuid.uuid4().hex + "00000000" for _ in range(250)] + [s.upload_key for s in sessions]

    in_use = await meta.blob_keys_in_use(objects, uploads)

    assert in_use == {r.blob_key for r in records} | {s.upload_key for s in sessions}
