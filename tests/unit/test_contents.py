"""Resolving file references: the rules, on the real SQLite store (files written as an upload writes them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from gemfiles.domain.calls import Draft, FileRef
from gemfiles.domain.clock import ManualClock
from gemfiles.domain.contents import ContentResolver, file_id_of
from gemfiles.domain.files import FileService
from gemfiles.domain.models import FileRecord, FileState, SessionStatus, UploadSession
from gemfiles.errors import FailedPrecondition, FileNotAccessible, InvalidArgument
from gemfiles.storage.localdisk import LocalBlobStore
from gemfiles.storage.sql import SqlMetadataStore


@pytest.mark.parametrize(
    ("uri", "file_id"),
    [
        ("https://generativelanguage.googleapis.com/v1beta/files/abc123", "abc123"),
        ("http://127.0.0.1:8080/v1/files/abc123", "abc123"),
        ("https://proxy.example/gemini/v1alpha/files/my-file-1", "my-file-1"),
        ("/v1beta/files/abc123", "abc123"),
        ("files/abc123", "abc123"),
        ("https://host/v1beta/files/abc123/", "abc123"),
    ],
)
def test_file_id_is_read_from_the_end_of_any_uri(uri: str, file_id: str) -> None:
    assert file_id_of(uri) == file_id


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "abc123",
        "files/",
        "files/-bad",
        "files/ABC",
        "gs://b/files/abc",
        "https://host/v1beta/files/abc:download",
    ],
)
def test_malformed_uri_is_invalid_argument(uri: str) -> None:
    with pytest.raises(InvalidArgument, match="Invalid file uri"):
        file_id_of(uri)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlMetadataStore]:
    meta = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    await meta.migrate()
    yield meta
    await meta.close()


async def stored_file(
    meta: SqlMetadataStore, clock: ManualClock, file_id: str, state: FileState
) -> FileRecord:
    """A file committed the way an upload commits one: a session, then finish_session."""
    now = clock.now()
    session = UploadSession(
        token_digest=f"{file_id:0<64}",
        project="p1",
        file_id=file_id,
        mime_type="video/mp4",
        display_name=None,
        declared_size=10,
        reserved_bytes=10,
        received=10,
        status=SessionStatus.ACTIVE,
        create_time=now,
        expire_time=now + timedelta(days=7),
    )
    await meta.create_session(session, 1 << 30, now)
    record = FileRecord(
        project="p1",
        id=file_id,
        mime_type="video/mp4",
        size_bytes=10,
        sha256_hex="0" * 64,
        create_time=now,
        update_time=now,
        expire_time=now + timedelta(hours=48),
        blob_key=f"objects/{file_id}",
        state=state,
        facts={"duration_seconds": 3.0} if state == FileState.ACTIVE else None,
    )
    return await meta.finish_session(session.token_digest, record, now)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def resolver(store: SqlMetadataStore, clock: ManualClock, tmp_path: Path) -> ContentResolver:
    blobs = LocalBlobStore(tmp_path / "blobs")
    return ContentResolver(FileService(store, blobs, clock))


async def test_processing_file_is_not_active(
    store: SqlMetadataStore, clock: ManualClock, resolver: ContentResolver
) -> None:
    await stored_file(store, clock, "vid1", FileState.PROCESSING)
    with pytest.raises(FailedPrecondition) as caught:
        await resolver.resolve("p1", [Draft("user", ["Describe", FileRef("files/vid1")])])
    assert caught.value.message == "The File vid1 is not in an ACTIVE state and usage is not allowed."
    assert caught.value.code == 400 and caught.value.status == "FAILED_PRECONDITION"


async def test_failed_file_is_not_active(
    store: SqlMetadataStore, clock: ManualClock, resolver: ContentResolver
) -> None:
    await stored_file(store, clock, "vid2", FileState.FAILED)
    with pytest.raises(FailedPrecondition, match="The File vid2 is not in an ACTIVE state"):
        await resolver.resolve("p1", [Draft("user", [FileRef("https://h/v1beta/files/vid2")])])


async def test_active_file_resolves_with_its_stored_facts(
    store: SqlMetadataStore, clock: ManualClock, resolver: ContentResolver
) -> None:
    await stored_file(store, clock, "vid3", FileState.ACTIVE)
    messages = await resolver.resolve(
        "p1", [Draft("user", ["Describe", FileRef("https://h/v1beta/files/vid3")])]
    )
    parts = messages[0].parts
    assert [p.kind for p in parts] == ["text", "file"]
    assert parts[1].file is not None and parts[1].file.record.facts == {"duration_seconds": 3.0}


async def test_foreign_and_expired_files_are_not_accessible(
    store: SqlMetadataStore, clock: ManualClock, resolver: ContentResolver
) -> None:
    await stored_file(store, clock, "vid4", FileState.ACTIVE)
    with pytest.raises(FileNotAccessible, match="the File vid4 or it may not exist"):
        await resolver.resolve("p2", [Draft("user", [FileRef("files/vid4")])])
    clock.advance(timedelta(hours=49))
    with pytest.raises(FileNotAccessible):
        await resolver.resolve("p1", [Draft("user", [FileRef("files/vid4")])])
