"""MetadataStore, written once and run on every backend (SQLite and PostgreSQL).

"Two replicas" here are two store instances on one database, each with its own connection pool.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gemfiles.domain.models import FileRecord, FileState, PartRef, SessionStatus, UploadSession
from gemfiles.domain.ports import MetadataStore, NameTaken, QuotaRefused, SessionGone
from gemfiles.storage.registry import open_metadata_store
from tests.contract.conftest import Backend

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(hours=48)
GIB = 1024**3


def new_project() -> str:
    return f"p-{uuid.uuid4().hex[:12]}"


def new_session(project: str, *, size: int | None = 100, file_id: str | None = None) -> UploadSession:
    return UploadSession(
        token_digest=uuid.uuid4().hex + uuid.uuid4().hex,
        project=project,
        file_id=file_id or uuid.uuid4().hex[:12],
        mime_type="text/plain",
        display_name="notes",
        declared_size=size,
        reserved_bytes=size or 0,
        received=0,
        status=SessionStatus.ACTIVE,
        create_time=NOW,
        expire_time=NOW + timedelta(days=7),
        blob_state={"upload_id": "u-1"},
    )


def file_for(session: UploadSession, size: int, *, now: datetime = NOW, ttl: timedelta = TTL) -> FileRecord:
    return FileRecord(
        project=session.project,
        id=session.file_id,
        mime_type=session.mime_type,
        size_bytes=size,
        sha256_hex="0" * 64,
        create_time=now,
        update_time=now,
        expire_time=now + ttl,
        blob_key=f"{session.upload_key[:2]}/{session.upload_key}",
        display_name=session.display_name,
    )


async def stored_file(
    meta: MetadataStore, project: str, size: int = 10, *, now: datetime = NOW, ttl: timedelta = TTL
) -> FileRecord:
    """A file made the way an upload makes one: session, one part, finish."""
    session = new_session(project, size=size)
    await meta.create_session(session, GIB, now)
    await meta.commit_part(session.token_digest, 0, PartRef(1, size), None, 0, GIB, now)
    return await meta.finish_session(session.token_digest, file_for(session, size, now=now, ttl=ttl), now)


# Upload sessions ---------------------------------------------------------------------------------------
async def test_create_session_stores_it_and_reserves_its_size(meta: MetadataStore) -> None:
    project = new_project()
    session = new_session(project, size=300)
    await meta.create_session(session, 1000, NOW)

    stored = await meta.get_session(session.token_digest)
    assert stored is not None
    assert (stored.project, stored.file_id, stored.declared_size) == (project, session.file_id, 300)
    assert stored.blob_state == {"upload_id": "u-1"}
    assert stored.status == SessionStatus.ACTIVE and stored.received == 0 and stored.parts == []
    usage = await meta.get_usage(project)
    assert (usage.used_bytes, usage.reserved_bytes) == (0, 300)


async def test_create_session_over_quota_raises_and_stores_nothing(meta: MetadataStore) -> None:
    project = new_project()
    await meta.create_session(new_session(project, size=600), 1000, NOW)
    refused = new_session(project, size=401)
    with pytest.raises(QuotaRefused):
        await meta.create_session(refused, 1000, NOW)
    assert await meta.get_session(refused.token_digest) is None
    assert (await meta.get_usage(project)).reserved_bytes == 600


async def test_create_session_for_a_taken_file_id_raises_name_taken(meta: MetadataStore) -> None:
    project = new_project()
    record = await stored_file(meta, project)
    with pytest.raises(NameTaken):
        await meta.create_session(new_session(project, file_id=record.id), GIB, NOW)


async def test_get_session_of_an_unknown_token_is_none(meta: MetadataStore) -> None:
    assert await meta.get_session("f" * 64) is None


async def test_allocate_part_hands_out_distinct_numbers_across_replicas(
    meta: MetadataStore, open_meta: Callable[[], Any]
) -> None:
    other: MetadataStore = await open_meta()
    session = new_session(new_project())
    await meta.create_session(session, GIB, NOW)
    numbers = await asyncio.gather(
        *(store.allocate_part(session.token_digest) for store in [meta, other] * 10)
    )
    # Distinct, and never the session's own next_part (1), which an unallocated attempt may be using.
    assert sorted(numbers) == list(range(2, 22))


async def test_commit_part_moves_next_part_past_the_committed_number(meta: MetadataStore) -> None:
    session = new_session(new_project())
    await meta.create_session(session, GIB, NOW)
    assert await meta.commit_part(session.token_digest, 0, PartRef(number=7, size=3), None, 0, GIB, NOW)
    latest = await meta.get_session(session.token_digest)
    assert latest is not None and latest.next_part == 8 and latest.received == 3


async def test_allocate_part_of_a_missing_session_raises_session_gone(meta: MetadataStore) -> None:
    with pytest.raises(SessionGone):
        await meta.allocate_part("e" * 64)


async def test_commit_part_is_a_compare_and_set_on_the_received_offset(meta: MetadataStore) -> None:
    session = new_session(new_project(), size=None)
    await meta.create_session(session, GIB, NOW)
    first = PartRef(1, 5, etag='"a"')
    assert await meta.commit_part(session.token_digest, 0, first, b"state-1", 5, GIB, NOW)
    # A racing attempt at the same offset loses and changes nothing.
    assert not await meta.commit_part(session.token_digest, 0, PartRef(2, 5, key="2"), b"other", 5, GIB, NOW)
    assert await meta.commit_part(session.token_digest, 5, PartRef(3, 7, key="3"), b"state-2", 7, GIB, NOW)

    stored = await meta.get_session(session.token_digest)
    assert stored is not None
    assert stored.received == 12
    assert stored.parts == [first, PartRef(3, 7, key="3")]
    assert stored.hash_state == b"state-2"
    assert stored.reserved_bytes == 12
    assert (await meta.get_usage(session.project)).reserved_bytes == 12


async def test_commit_part_whose_extra_reservation_does_not_fit_raises_and_changes_nothing(
    meta: MetadataStore,
) -> None:
    session = new_session(new_project(), size=None)
    await meta.create_session(session, 100, NOW)
    assert await meta.commit_part(session.token_digest, 0, PartRef(1, 60), None, 60, 100, NOW)
    with pytest.raises(QuotaRefused):
        await meta.commit_part(session.token_digest, 60, PartRef(2, 41), None, 41, 100, NOW)
    stored = await meta.get_session(session.token_digest)
    assert stored is not None and stored.received == 60 and len(stored.parts) == 1
    assert (await meta.get_usage(session.project)).reserved_bytes == 60


async def test_commit_part_of_a_finished_session_is_refused(meta: MetadataStore) -> None:
    project = new_project()
    session = new_session(project, size=10)
    await meta.create_session(session, GIB, NOW)
    assert await meta.cancel_session(session.token_digest, NOW)
    assert not await meta.commit_part(session.token_digest, 0, PartRef(1, 10), None, 0, GIB, NOW)


async def test_finish_session_turns_the_reservation_into_usage(meta: MetadataStore) -> None:
    project = new_project()
    record = await stored_file(meta, project, size=10)

    assert await meta.get_file(project, record.id, NOW) == record
    session_usage = await meta.get_usage(project)
    assert (session_usage.used_bytes, session_usage.reserved_bytes) == (10, 0)


async def test_finish_session_twice_raises_session_gone(meta: MetadataStore) -> None:
    session = new_session(new_project(), size=10)
    await meta.create_session(session, GIB, NOW)
    await meta.commit_part(session.token_digest, 0, PartRef(1, 10), None, 0, GIB, NOW)
    await meta.finish_session(session.token_digest, file_for(session, 10), NOW)
    with pytest.raises(SessionGone):
        await meta.finish_session(session.token_digest, file_for(session, 10), NOW)
    stored = await meta.get_session(session.token_digest)
    assert stored is not None and stored.status == SessionStatus.FINAL


async def test_finish_session_onto_a_live_file_fails_the_session(meta: MetadataStore) -> None:
    project = new_project()
    existing = await stored_file(meta, project, size=10)
    # Two sessions may race for one custom name: the second to finish loses.
    session = new_session(project, size=20, file_id="late-comer")
    await meta.create_session(session, GIB, NOW)
    clash = replace(file_for(session, 20), id=existing.id)
    with pytest.raises(NameTaken):
        await meta.finish_session(session.token_digest, clash, NOW)

    stored = await meta.get_session(session.token_digest)
    assert stored is not None and stored.status == SessionStatus.FAILED
    assert stored.result_error is not None and stored.result_error["status"] == "ALREADY_EXISTS"
    usage = await meta.get_usage(project)
    assert (usage.used_bytes, usage.reserved_bytes) == (10, 0)


async def test_finish_session_replaces_an_expired_file_of_the_same_name(meta: MetadataStore) -> None:
    project = new_project()
    old = await stored_file(meta, project, size=10, ttl=timedelta(hours=1))
    later = NOW + timedelta(hours=2)
    session = new_session(project, size=30, file_id=old.id)
    await meta.create_session(session, GIB, later)
    await meta.commit_part(session.token_digest, 0, PartRef(1, 30), None, 0, GIB, later)
    record = await meta.finish_session(session.token_digest, file_for(session, 30, now=later), later)

    assert await meta.get_file(project, old.id, later) == record
    assert (await meta.get_usage(project)).used_bytes == 30
    queued = await meta.claim_gc(later, 60, 100)
    assert [(item.kind, item.key) for item in queued] == [("object", old.blob_key)]


@pytest.mark.parametrize("end", ["fail", "cancel"])
async def test_ending_a_session_frees_its_reservation_and_queues_its_parts(
    meta: MetadataStore, end: str
) -> None:
    session = new_session(new_project(), size=None)
    await meta.create_session(session, GIB, NOW)
    await meta.commit_part(session.token_digest, 0, PartRef(1, 8, key="1"), None, 8, GIB, NOW)
    if end == "fail":
        error = {"code": 400, "message": "Unsupported MIME type", "status": "INVALID_ARGUMENT"}
        assert await meta.fail_session(session.token_digest, error, NOW)
        assert not await meta.fail_session(session.token_digest, error, NOW)
    else:
        assert await meta.cancel_session(session.token_digest, NOW)
        assert not await meta.cancel_session(session.token_digest, NOW)

    stored = await meta.get_session(session.token_digest)
    assert stored is not None
    assert stored.status == (SessionStatus.FAILED if end == "fail" else SessionStatus.CANCELLED)
    assert (await meta.get_usage(session.project)).reserved_bytes == 0
    [item] = await meta.claim_gc(NOW, 60, 100)
    assert (item.kind, item.key) == ("upload", session.upload_key)
    assert item.state == {"blob_state": {"upload_id": "u-1"}, "parts": [{"n": 1, "size": 8, "key": "1"}]}


# Files ---------------------------------------------------------------------------------------------------
async def test_get_file_hides_expired_and_foreign_files(meta: MetadataStore) -> None:
    project = new_project()
    record = await stored_file(meta, project, ttl=timedelta(hours=1))
    assert await meta.get_file(project, record.id, NOW) is not None
    assert await meta.get_file(project, record.id, NOW + timedelta(hours=1)) is None
    assert await meta.get_file(new_project(), record.id, NOW) is None


async def test_list_files_pages_newest_first(meta: MetadataStore) -> None:
    project = new_project()
    made = [await stored_file(meta, project, now=NOW + timedelta(seconds=i)) for i in range(5)]
    await stored_file(meta, new_project())  # another project's file is never listed
    later = NOW + timedelta(minutes=1)

    first = await meta.list_files(project, later, 3, None)
    last = first[-1]
    second = await meta.list_files(project, later, 3, (int(last.create_time.timestamp() * 1e6), last.id))
    assert [f.id for f in first + second] == [f.id for f in reversed(made)]


async def test_delete_file_frees_quota_and_queues_the_object_once(meta: MetadataStore) -> None:
    project = new_project()
    record = await stored_file(meta, project, size=10)
    deleted = await meta.delete_file(project, record.id, NOW)
    assert deleted == record
    assert await meta.delete_file(project, record.id, NOW) is None
    assert await meta.get_file(project, record.id, NOW) is None
    assert (await meta.get_usage(project)).used_bytes == 0
    assert [(i.kind, i.key) for i in await meta.claim_gc(NOW, 60, 100)] == [("object", record.blob_key)]


async def test_get_file_sees_every_change_made_by_another_replica_at_once(
    meta: MetadataStore, open_meta: Callable[[], Any]
) -> None:
    """A file read again and again (SQLite answers it from what it read last while the database is
    unchanged) shows another store's probe result, deletion and a new file of the same name at once."""
    other: MetadataStore = await open_meta()
    project = new_project()
    record = await stored_file(meta, project)
    for _ in range(3):
        assert await meta.get_file(project, record.id, NOW) == record
    await other.save_probe(project, record.id, FileState.FAILED, None, {"code": 3, "message": "bad"}, NOW)
    failed = await meta.get_file(project, record.id, NOW)
    assert (
        failed is not None
        and failed.state == FileState.FAILED
        and failed.error == {"code": 3, "message": "bad"}
    )
    assert await other.delete_file(project, record.id, NOW) is not None
    assert await meta.get_file(project, record.id, NOW) is None
    again = new_session(project, size=7, file_id=record.id)
    await other.create_session(again, GIB, NOW)
    await other.commit_part(again.token_digest, 0, PartRef(1, 7), None, 0, GIB, NOW)
    replaced = await other.finish_session(again.token_digest, file_for(again, 7), NOW)
    assert await meta.get_file(project, record.id, NOW) == replaced


async def test_get_file_read_again_still_hides_it_once_expired(meta: MetadataStore) -> None:
    project = new_project()
    record = await stored_file(meta, project, ttl=timedelta(hours=1))
    assert await meta.get_file(project, record.id, NOW) == record
    assert await meta.get_file(project, record.id, NOW + timedelta(minutes=59)) == record
    assert await meta.get_file(project, record.id, NOW + timedelta(hours=1)) is None
    assert await meta.get_file(project, record.id, NOW) == record  # (the emulator's clock can go back)


async def test_get_file_on_sqlite_sees_a_row_changed_by_any_other_connection(
    meta: MetadataStore, backend: Backend
) -> None:
    """Not only this store's writer: a row changed by another program (here a plain sqlite3 connection)."""
    if not backend.database_url.startswith("sqlite"):
        pytest.skip("SQLite's data_version")
    project = new_project()
    record = await stored_file(meta, project)
    assert await meta.get_file(project, record.id, NOW) == record
    outside = sqlite3.connect(backend.database_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        outside.execute(
            "UPDATE files SET display_name = 'renamed' WHERE project = ? AND id = ?", (project, record.id)
        )
    finally:
        outside.close()
    seen = await meta.get_file(project, record.id, NOW)
    assert seen is not None and seen.display_name == "renamed"


# Quotas across replicas -------------------------------------------------------------------------------------
async def test_concurrent_reservations_across_replicas_never_overshoot_the_quota(
    meta: MetadataStore, open_meta: Callable[[], Any]
) -> None:
    other: MetadataStore = await open_meta()
    project = new_project()
    size, quota = 100, 700  # room for exactly seven of twenty

    async def reserve(store: MetadataStore) -> bool:
        try:
            await store.create_session(new_session(project, size=size), quota, NOW)
        except QuotaRefused:
            return False
        return True

    results = await asyncio.gather(*(reserve(store) for store in [meta, other] * 10))
    assert sum(results) == quota // size
    assert (await meta.get_usage(project)).reserved_bytes == quota


async def test_concurrent_chunk_reservations_across_replicas_are_exact(
    meta: MetadataStore, open_meta: Callable[[], Any]
) -> None:
    other: MetadataStore = await open_meta()
    project = new_project()
    sessions = [new_session(project, size=None) for _ in range(20)]
    for session in sessions:
        await meta.create_session(session, 1000, NOW)

    async def commit(store: MetadataStore, session: UploadSession) -> bool:
        try:
            return await store.commit_part(session.token_digest, 0, PartRef(1, 150), None, 150, 1000, NOW)
        except QuotaRefused:
            return False

    results = await asyncio.gather(*(commit([meta, other][i % 2], s) for i, s in enumerate(sessions)))
    assert sum(results) == 6
    assert (await meta.get_usage(project)).reserved_bytes == 900


# Background work, claimed exactly once ------------------------------------------------------------------------
async def test_claim_probe_gives_each_file_to_one_replica(
    meta: MetadataStore, open_meta: Callable[[], Any]
) -> None:
    other: MetadataStore = await open_meta()
    project = new_project()
    made = {(await stored_file(meta, project)).id for _ in range(6)}

    async def drain(store: MetadataStore) -> list[str]:
        taken = []
        while (record := await store.claim_probe(NOW, 600)) is not None:
            taken.append(record.id)
        return taken

    first, second = await asyncio.gather(drain(meta), drain(other))
    assert sorted(first + second) == sorted(made)
    assert not set(first) & set(second)


async def test_claim_probe_offers_a_file_again_when_its_lease_runs_out(meta: MetadataStore) -> None:
    record = await stored_file(meta, new_project())
    claimed = await meta.claim_probe(NOW, 60)
    assert claimed is not None and claimed.id == record.id
    assert await meta.claim_probe(NOW + timedelta(seconds=30), 60) is None
    again = await meta.claim_probe(NOW + timedelta(seconds=61), 60)
    assert again is not None and again.id == record.id


async def test_save_probe_records_the_facts_and_ends_the_claims(meta: MetadataStore) -> None:
    record = await stored_file(meta, new_project())
    await meta.claim_probe(NOW, 60)
    await meta.save_probe(record.project, record.id, FileState.ACTIVE, {"pages": 3}, None, NOW)
    stored = await meta.get_file(record.project, record.id, NOW)
    assert stored is not None and stored.facts == {"pages": 3} and stored.state == FileState.ACTIVE
    assert await meta.claim_probe(NOW + timedelta(hours=1), 60) is None


async def test_sweep_by_two_replicas_deletes_each_expired_file_once(
    meta: MetadataStore, open_meta: Callable[[], Any]
) -> None:
    other: MetadataStore = await open_meta()
    projects = [new_project() for _ in range(3)]
    expired = [await stored_file(meta, projects[i % 3], ttl=timedelta(hours=1)) for i in range(12)]
    kept = await stored_file(meta, projects[0], ttl=timedelta(days=3))
    later = NOW + timedelta(hours=2)

    async def sweep(store: MetadataStore) -> list[str]:
        swept: list[str] = []
        while batch := await store.sweep_expired_files(later, 2):
            swept.extend(f.id for f in batch)
        return swept

    first, second = await asyncio.gather(sweep(meta), sweep(other))
    assert sorted(first + second) == sorted(f.id for f in expired)
    assert await meta.get_file(kept.project, kept.id, later) is not None
    assert [(await meta.get_usage(p)).used_bytes for p in projects] == [10, 0, 0]
    queued = await meta.claim_gc(later, 60, 100)
    assert sorted(i.key for i in queued) == sorted(f.blob_key for f in expired)


async def test_sweep_expired_sessions_ends_abandoned_uploads(meta: MetadataStore) -> None:
    project = new_project()
    abandoned = new_session(project, size=50)
    await meta.create_session(abandoned, GIB, NOW)
    later = abandoned.expire_time + timedelta(seconds=1)
    assert await meta.sweep_expired_sessions(later, 100) == 1
    assert await meta.get_session(abandoned.token_digest) is None
    assert (await meta.get_usage(project)).reserved_bytes == 0
    assert [i.key for i in await meta.claim_gc(later, 60, 100)] == [abandoned.upload_key]


async def test_claim_gc_gives_each_item_to_one_replica_until_finished(
    meta: MetadataStore, open_meta: Callable[[], Any]
) -> None:
    other: MetadataStore = await open_meta()
    project = new_project()
    for _ in range(8):
        record = await stored_file(meta, project)
        await meta.delete_file(project, record.id, NOW)

    first, second = await asyncio.gather(meta.claim_gc(NOW, 60, 5), other.claim_gc(NOW, 60, 5))
    ids = [i.id for i in first + second]
    assert len(ids) == len(set(ids)) == 8
    assert await meta.claim_gc(NOW, 60, 100) == []

    await meta.finish_gc([i.id for i in first])
    # The other replica "died": its items come back when the lease runs out, and only those.
    retried = await meta.claim_gc(NOW + timedelta(seconds=61), 60, 100)
    assert sorted(i.id for i in retried) == sorted(i.id for i in second)


# Keys -----------------------------------------------------------------------------------------------------
async def test_keys_are_created_looked_up_listed_and_revoked(meta: MetadataStore) -> None:
    project = new_project()
    key_hash = uuid.uuid4().hex + uuid.uuid4().hex
    await meta.create_key(key_hash, project, "gf-abc1234", NOW)
    assert await meta.lookup_key(key_hash) == project
    assert [(k.prefix, k.project, k.revoke_time) for k in await meta.list_keys()] == [
        ("gf-abc1234", project, None)
    ]

    assert await meta.revoke_key("gf-abc1234", NOW) == 1
    assert await meta.revoke_key("gf-abc1234", NOW) == 0
    assert await meta.lookup_key(key_hash) is None
    [listed] = await meta.list_keys()
    assert listed.revoke_time == NOW


# Schema ---------------------------------------------------------------------------------------------------
async def test_migrate_again_is_a_no_op(meta: MetadataStore) -> None:
    record = await stored_file(meta, new_project())
    await meta.migrate()
    assert await meta.get_file(record.project, record.id, NOW) == record


async def test_a_new_sqlite_database_being_written_by_another_process_still_opens(backend: Backend) -> None:
    """Switching a new database to WAL while another connection holds its write lock is refused at once
    by SQLite ("database is locked", no waiting): what replicas starting together on a fresh data
    directory meet. The store waits for its turn instead."""
    if not backend.database_url.startswith("sqlite"):
        pytest.skip("SQLite's journal mode")
    url = backend.empty_database()
    writer = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE elsewhere (x INTEGER)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO elsewhere VALUES (1)")
    release = threading.Timer(0.5, lambda: writer.execute("COMMIT"))
    release.start()
    store = open_metadata_store(url)
    try:
        await store.migrate()
        record = await stored_file(store, new_project())
        assert await store.get_file(record.project, record.id, NOW) == record
    finally:
        release.join()
        writer.close()
        await store.close()


async def test_concurrent_migrations_of_an_empty_database_all_succeed(backend: Backend) -> None:
    # Replicas started together all migrate at start-up; they take turns instead of failing.
    url = backend.empty_database()
    stores = [open_metadata_store(url) for _ in range(3)]
    try:
        await asyncio.gather(*(store.migrate() for store in stores))
        record = await stored_file(stores[0], new_project())
        assert await stores[2].get_file(record.project, record.id, NOW) == record
    finally:
        for store in stores:
            await store.close()


# Projects: a project's own quota, the list of projects, work in progress ----------------------------------
async def test_set_quota_replaces_the_default_in_every_reservation(meta: MetadataStore) -> None:
    project = new_project()
    await meta.set_quota(project, 500)
    await meta.create_session(new_session(project, size=400), GIB, NOW)
    refused = new_session(project, size=101)
    with pytest.raises(QuotaRefused) as caught:
        await meta.create_session(refused, GIB, NOW)
    assert caught.value.quota == 500
    undeclared = new_session(project, size=None)
    await meta.create_session(undeclared, GIB, NOW)
    with pytest.raises(QuotaRefused):
        await meta.commit_part(undeclared.token_digest, 0, PartRef(1, 101), None, 101, GIB, NOW)
    assert (await meta.get_usage(project)).quota_bytes == 500


async def test_set_quota_none_gives_the_default_back(meta: MetadataStore) -> None:
    project = new_project()
    await meta.set_quota(project, 10)
    await meta.set_quota(project, None)
    await meta.create_session(new_session(project, size=400), 1000, NOW)
    assert (await meta.get_usage(project)).quota_bytes is None


async def test_a_larger_own_quota_lets_a_project_past_the_default(meta: MetadataStore) -> None:
    project = new_project()
    await meta.set_quota(project, 5000)
    await meta.create_session(new_session(project, size=3000), 1000, NOW)
    assert (await meta.get_usage(project)).reserved_bytes == 3000


async def test_list_projects_counts_unexpired_files_bytes_and_own_quotas(meta: MetadataStore) -> None:
    busy, quiet, idle = new_project(), new_project(), new_project()
    await stored_file(meta, busy, 10)
    await stored_file(meta, busy, 20)
    await stored_file(meta, quiet, 5, ttl=timedelta(hours=1))
    await meta.set_quota(idle, 123)
    later = NOW + timedelta(hours=2)  # quiet's file has expired (not swept yet)
    rows = {row.project: row for row in await meta.list_projects(later)}
    assert (rows[busy].files, rows[busy].used_bytes, rows[busy].quota_bytes) == (2, 30, None)
    assert rows[quiet].files == 0
    assert (rows[idle].files, rows[idle].used_bytes, rows[idle].quota_bytes) == (0, 0, 123)


async def test_activity_counts_active_sessions_and_files_waiting_for_a_probe(meta: MetadataStore) -> None:
    before = await meta.activity(NOW)
    project = new_project()
    await meta.create_session(new_session(project, size=10), GIB, NOW)
    cancelled = new_session(project, size=10)
    await meta.create_session(cancelled, GIB, NOW)
    await meta.cancel_session(cancelled.token_digest, NOW)
    await stored_file(meta, project, 10)
    after = await meta.activity(NOW)
    assert after.sessions_active - before.sessions_active == 1
    assert after.probes_due - before.probes_due == 1
