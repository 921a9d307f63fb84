"""Resolving file references: the rules, on the real SQLite store (files written as an upload writes them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gemfiles.domain.calls import Draft, FileRef, InlineData
from gemfiles.domain.clock import ManualClock
from gemfiles.domain.contents import ContentResolver, file_id_of
from gemfiles.domain.files import FileService
from gemfiles.domain.models import FileRecord, FileState, SessionStatus, UploadSession
from gemfiles.domain.ports import ProbeResult
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
    meta: SqlMetadataStore, clock: ManualClock, file_id: str, state: FileState, *, probed: bool = True
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
        facts={"duration_seconds": 3.0} if state == FileState.ACTIVE and probed else None,
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


class ScriptedProber:
    """A Prober (domain.ports) that answers set facts and records what it was asked; ``fail`` makes it raise."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.asked: list[str] = []

    async def probe(self, record: FileRecord) -> ProbeResult:
        raise AssertionError("resolution never probes for the worker")

    async def facts(self, record: FileRecord) -> dict[str, Any]:
        self.asked.append(record.id)
        if self.fail:
            raise OSError("unreadable")
        return {"duration_seconds": 7.0}

    async def inline(self, mime_type: str, data: bytes) -> dict[str, Any]:
        self.asked.append(mime_type)
        return {"bytes_seen": len(data)}


async def test_unprobed_file_and_inline_data_get_facts_from_the_prober(
    store: SqlMetadataStore, clock: ManualClock, tmp_path: Path
) -> None:
    prober = ScriptedProber()
    resolver = ContentResolver(FileService(store, LocalBlobStore(tmp_path / "blobs"), clock), prober)
    await stored_file(store, clock, "new1", FileState.ACTIVE, probed=False)
    await stored_file(store, clock, "old1", FileState.ACTIVE)
    inline = InlineData("image/png", b"1234")
    [message] = await resolver.resolve(
        "p1", [Draft("user", [FileRef("files/new1"), FileRef("files/old1"), inline])]
    )
    facts = [p.file.record.facts if p.file else p.inline.facts if p.inline else None for p in message.parts]
    assert facts == [{"duration_seconds": 7.0}, {"duration_seconds": 3.0}, {"bytes_seen": 4}]
    assert prober.asked == ["new1", "image/png"]  # stored facts are not recomputed


async def test_facts_the_prober_cannot_compute_leave_the_file_usable(
    store: SqlMetadataStore, clock: ManualClock, tmp_path: Path
) -> None:
    resolver = ContentResolver(
        FileService(store, LocalBlobStore(tmp_path / "blobs"), clock), ScriptedProber(fail=True)
    )
    await stored_file(store, clock, "new2", FileState.ACTIVE, probed=False)
    [message] = await resolver.resolve("p1", [Draft("user", [FileRef("files/new2")])])
    assert message.parts[0].file is not None and message.parts[0].file.record.facts == {}
