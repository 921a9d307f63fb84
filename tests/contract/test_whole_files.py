"""Files whose bytes arrived whole: one transaction records them (create_file), or commits a session's only
chunk and finishes it (finish_whole). Run on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from gemfiles.domain.models import SessionStatus
from gemfiles.domain.ports import MetadataStore, NameTaken, QuotaRefused
from tests.contract.test_metadata_store import GIB, NOW, file_for, new_project, new_session, stored_file


async def test_create_file_records_it_and_takes_its_size_as_usage(meta: MetadataStore) -> None:
    project = new_project()
    record = file_for(new_session(project), 40)

    assert await meta.create_file(record, GIB, NOW) == record

    assert await meta.get_file(project, record.id, NOW) == record
    usage = await meta.get_usage(project)
    assert (usage.used_bytes, usage.reserved_bytes) == (40, 0)


async def test_create_file_over_quota_raises_and_stores_nothing(meta: MetadataStore) -> None:
    project = new_project()
    await stored_file(meta, project, size=60)
    record = file_for(new_session(project), 50)

    with pytest.raises(QuotaRefused):
        await meta.create_file(record, 100, NOW)

    assert await meta.get_file(project, record.id, NOW) is None
    assert (await meta.get_usage(project)).used_bytes == 60


async def test_create_file_onto_a_live_file_raises_name_taken(meta: MetadataStore) -> None:
    project = new_project()
    existing = await stored_file(meta, project, size=10)
    clash = replace(file_for(new_session(project), 20), id=existing.id)

    with pytest.raises(NameTaken):
        await meta.create_file(clash, GIB, NOW)

    assert await meta.get_file(project, existing.id, NOW) == existing
    assert (await meta.get_usage(project)).used_bytes == 10


async def test_create_file_replaces_an_expired_file_of_the_same_name(meta: MetadataStore) -> None:
    project = new_project()
    old = await stored_file(meta, project, size=10, ttl=timedelta(hours=1))
    later = NOW + timedelta(hours=2)
    record = replace(file_for(new_session(project), 30, now=later), id=old.id)

    await meta.create_file(record, GIB, later)

    assert await meta.get_file(project, old.id, later) == record
    assert (await meta.get_usage(project)).used_bytes == 30
    queued = await meta.claim_gc(later, 60, 100)
    assert [(item.kind, item.key) for item in queued] == [("object", old.blob_key)]


async def test_concurrent_create_files_across_replicas_never_overshoot_the_quota(
    meta: MetadataStore, open_meta: Callable[[], Any]
) -> None:
    # Many at once on one store are committed in groups: the refused ones roll back alone.
    other: MetadataStore = await open_meta()
    project = new_project()
    size, quota = 100, 700

    async def create(store: MetadataStore) -> bool:
        try:
            await store.create_file(file_for(new_session(project), size), quota, NOW)
        except QuotaRefused:
            return False
        return True

    results = await asyncio.gather(*(create(store) for store in [meta, other] * 15))

    assert sum(results) == quota // size
    usage = await meta.get_usage(project)
    assert (usage.used_bytes, usage.reserved_bytes) == (quota, 0)
    listed = await meta.list_files(project, NOW, 100, None)
    assert len(listed) == quota // size


async def test_finish_whole_commits_the_chunk_and_finishes_the_session(meta: MetadataStore) -> None:
    project = new_project()
    session = new_session(project, size=25)
    await meta.create_session(session, GIB, NOW)

    record = await meta.finish_whole(session.token_digest, file_for(session, 25), GIB, NOW)

    assert record is not None and await meta.get_file(project, session.file_id, NOW) == record
    stored = await meta.get_session(session.token_digest)
    assert stored is not None and (stored.status, stored.received, stored.reserved_bytes) == (
        SessionStatus.FINAL,
        25,
        0,
    )
    usage = await meta.get_usage(project)
    assert (usage.used_bytes, usage.reserved_bytes) == (25, 0)


async def test_finish_whole_of_an_undeclared_size_takes_it_against_the_quota(meta: MetadataStore) -> None:
    project = new_project()
    fits, too_big = new_session(project, size=None), new_session(project, size=None)
    for session in (fits, too_big):
        await meta.create_session(session, 100, NOW)

    assert await meta.finish_whole(fits.token_digest, file_for(fits, 70), 100, NOW) is not None
    with pytest.raises(QuotaRefused):
        await meta.finish_whole(too_big.token_digest, file_for(too_big, 40), 100, NOW)

    left = await meta.get_session(too_big.token_digest)
    assert left is not None and (left.status, left.received) == (SessionStatus.ACTIVE, 0)
    usage = await meta.get_usage(project)
    assert (usage.used_bytes, usage.reserved_bytes) == (70, 0)


async def test_finish_whole_of_a_session_that_moved_on_changes_nothing(meta: MetadataStore) -> None:
    project = new_project()
    session = new_session(project, size=25)
    await meta.create_session(session, GIB, NOW)
    assert await meta.finish_whole(session.token_digest, file_for(session, 25), GIB, NOW) is not None

    again = replace(file_for(session, 25), blob_key="zz/other")
    assert await meta.finish_whole(session.token_digest, again, GIB, NOW) is None

    stored = await meta.get_file(project, session.file_id, NOW)
    assert stored is not None and stored.blob_key != "zz/other"
    assert (await meta.get_usage(project)).used_bytes == 25


async def test_finish_whole_onto_a_live_file_fails_the_session(meta: MetadataStore) -> None:
    project = new_project()
    existing = await stored_file(meta, project, size=10)
    session = new_session(project, size=20, file_id=existing.id)
    await meta.create_session(replace(session, file_id="placeholder"), GIB, NOW)
    session = replace(session, file_id="placeholder")
    clash = replace(file_for(session, 20), id=existing.id)

    with pytest.raises(NameTaken):
        await meta.finish_whole(session.token_digest, clash, GIB, NOW)

    stored = await meta.get_session(session.token_digest)
    assert stored is not None and stored.status == SessionStatus.FAILED
    usage = await meta.get_usage(project)
    assert (usage.used_bytes, usage.reserved_bytes) == (10, 0)
    queued = await meta.claim_gc(NOW, 60, 100)
    assert ("object", clash.blob_key) in [(item.kind, item.key) for item in queued]


async def test_create_file_takes_the_projects_own_quota_over_the_default(meta: MetadataStore) -> None:
    smaller, larger = new_project(), new_project()
    await meta.set_quota(smaller, 30)
    await meta.set_quota(larger, 5000)

    with pytest.raises(QuotaRefused) as caught:
        await meta.create_file(file_for(new_session(smaller), 40), 1000, NOW)
    assert caught.value.quota == 30
    await meta.create_file(file_for(new_session(larger), 3000), 1000, NOW)

    assert (await meta.get_usage(smaller)).used_bytes == 0
    assert (await meta.get_usage(larger)).used_bytes == 3000
    with pytest.raises(QuotaRefused) as over:
        await meta.create_file(file_for(new_session(larger), 2001), 1000, NOW)
    assert over.value.quota == 5000


async def test_finish_whole_takes_the_projects_own_quota_over_the_default(meta: MetadataStore) -> None:
    project = new_project()
    await meta.set_quota(project, 5000)
    session = new_session(project, size=None)
    await meta.create_session(session, 1000, NOW)

    done = await meta.finish_whole(session.token_digest, file_for(session, 3000), 1000, NOW)

    assert done is not None and (await meta.get_usage(project)).used_bytes == 3000
