"""The probe worker's rules (Maintenance.probe_one), on the real SQLite store with a scripted prober."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gemfiles.domain.clock import ManualClock
from gemfiles.domain.models import FileRecord, FileState, SessionStatus, UploadSession
from gemfiles.domain.ports import Prober, ProbeResult
from gemfiles.domain.workers import Maintenance
from gemfiles.storage.localdisk import LocalBlobStore
from gemfiles.storage.sql import SqlMetadataStore


class ScriptedProber:
    """A Prober that answers what the test says (or raises it), and records what it was asked."""

    def __init__(self, answer: ProbeResult | Exception) -> None:
        self.answer = answer
        self.probed: list[str] = []

    async def probe(self, record: FileRecord) -> ProbeResult:
        self.probed.append(record.id)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def facts(self, record: FileRecord) -> dict[str, Any]:
        return record.facts or {}

    async def inline(self, mime_type: str, data: bytes) -> dict[str, Any]:
        return {}


@pytest.fixture
async def meta(tmp_path: Path) -> AsyncIterator[SqlMetadataStore]:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    await store.migrate()
    yield store
    await store.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def stored_file(meta: SqlMetadataStore, clock: ManualClock, file_id: str, mime_type: str) -> FileRecord:
    """A file committed the way an upload commits one (not probed yet: ``facts`` is None)."""
    now = clock.now()
    state = FileState.PROCESSING if mime_type.startswith(("video/", "audio/")) else FileState.ACTIVE
    session = UploadSession(
        token_digest=f"{file_id:0<64}",
        project="p1",
        file_id=file_id,
        mime_type=mime_type,
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
        mime_type=mime_type,
        size_bytes=10,
        sha256_hex="0" * 64,
        create_time=now,
        update_time=now,
        expire_time=now + timedelta(hours=48),
        blob_key=f"objects/{file_id}",
        state=state,
    )
    return await meta.finish_session(session.token_digest, record, now)


def maintenance(meta: SqlMetadataStore, clock: ManualClock, tmp_path: Path, prober: Prober) -> Maintenance:
    return Maintenance(meta, LocalBlobStore(tmp_path / "blobs"), clock, prober)


async def reread(meta: SqlMetadataStore, clock: ManualClock, file_id: str) -> FileRecord:
    record = await meta.get_file("p1", file_id, clock.now())
    assert record is not None
    return record


async def test_probe_one_stores_the_state_and_facts_of_a_processing_file(
    meta: SqlMetadataStore, clock: ManualClock, tmp_path: Path
) -> None:
    await stored_file(meta, clock, "vid1", "video/mp4")
    prober = ScriptedProber(ProbeResult(FileState.ACTIVE, {"duration_seconds": 2.0}, None))

    assert await maintenance(meta, clock, tmp_path, prober).probe_one() is True

    record = await reread(meta, clock, "vid1")
    assert (record.state, record.facts, record.error) == (FileState.ACTIVE, {"duration_seconds": 2.0}, None)


async def test_probe_one_fails_a_processing_file_whose_probe_crashes(
    meta: SqlMetadataStore, clock: ManualClock, tmp_path: Path
) -> None:
    await stored_file(meta, clock, "vid2", "video/mp4")

    assert await maintenance(meta, clock, tmp_path, ScriptedProber(OSError("disk gone"))).probe_one()

    record = await reread(meta, clock, "vid2")
    assert record.state == FileState.FAILED
    assert record.error == {"code": 13, "message": "Processing failed: OSError"}


async def test_probe_one_keeps_a_file_that_was_usable_at_once_usable(
    meta: SqlMetadataStore, clock: ManualClock, tmp_path: Path
) -> None:
    await stored_file(meta, clock, "doc1", "application/pdf")
    prober = ScriptedProber(
        ProbeResult(FileState.FAILED, {"probe_error": "bad xref"}, {"code": 3, "message": "x"})
    )

    assert await maintenance(meta, clock, tmp_path, prober).probe_one()

    record = await reread(meta, clock, "doc1")
    assert (record.state, record.facts, record.error) == (FileState.ACTIVE, {"probe_error": "bad xref"}, None)


async def test_probe_one_probes_each_file_once_and_then_reports_no_work(
    meta: SqlMetadataStore, clock: ManualClock, tmp_path: Path
) -> None:
    await stored_file(meta, clock, "txt1", "text/plain")
    prober = ScriptedProber(ProbeResult(FileState.ACTIVE, {"line_count": 1}, None))
    worker = maintenance(meta, clock, tmp_path, prober)

    assert await worker.probe_one() is True
    assert await worker.probe_one() is False
    assert prober.probed == ["txt1"]
