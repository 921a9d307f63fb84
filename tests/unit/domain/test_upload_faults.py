"""Planned faults at the upload service's and the media worker's fault points, on the in-memory stores."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest

from gemfiles.domain.clock import ManualClock
from gemfiles.domain.faults import DropConnection, FaultPlan, parse_faults
from gemfiles.domain.models import FileRecord, FileState
from gemfiles.domain.ports import ProbeResult
from gemfiles.domain.upload_machine import UploadError
from gemfiles.domain.uploads import Limits, UploadService
from gemfiles.domain.workers import Maintenance
from gemfiles.errors import ResourceExhausted
from gemfiles.storage.memory import MemoryBlobStore, MemoryMetadataStore, forget
from tests.unit.domain.test_maintenance import ScriptedProber
from tests.unit.domain.test_upload_service import fresh, send, start


@pytest.fixture
def stores() -> Iterator[tuple[MemoryMetadataStore, MemoryBlobStore]]:
    name = f"faults-{uuid.uuid4().hex[:12]}"
    yield MemoryMetadataStore(name), MemoryBlobStore(name)
    forget(name)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def faults() -> FaultPlan:
    return FaultPlan()


@pytest.fixture
def uploads(
    stores: tuple[MemoryMetadataStore, MemoryBlobStore], clock: ManualClock, faults: FaultPlan
) -> UploadService:
    limits = Limits(5_000, 10_000, timedelta(hours=48), timedelta(days=7))
    return UploadService(*stores, clock, limits, faults=faults)


def planned(faults: FaultPlan, *items: dict) -> None:
    faults.set_faults("p", parse_faults(list(items)))


async def test_start_refused_with_429_and_no_session_when_start_exhausted(
    uploads: UploadService, faults: FaultPlan, stores: tuple[MemoryMetadataStore, MemoryBlobStore]
) -> None:
    planned(faults, {"kind": "start_exhausted", "retry_after": 2})
    with pytest.raises(ResourceExhausted) as refused:
        await start(uploads, 10)
    assert refused.value.headers == {"Retry-After": "2"}
    assert (await stores[0].get_usage("p")).reserved_bytes == 0
    assert (await start(uploads, 10)).received == 0  # the next start goes through


async def test_chunk_unavailable_stores_nothing_and_keeps_the_session_active(
    uploads: UploadService, faults: FaultPlan
) -> None:
    planned(faults, {"kind": "chunk_unavailable", "nth": 2})
    session = await start(uploads, 30)
    await send(uploads, session, 0, b"a" * 10)
    with pytest.raises(UploadError) as refused:
        await send(uploads, await fresh(uploads, session), 10, b"b" * 10)
    assert (refused.value.error.code, refused.value.status, refused.value.received) == (503, "active", 10)
    assert (await fresh(uploads, session)).received == 10
    assert (await send(uploads, await fresh(uploads, session), 10, b"b" * 10)).received == 20


async def test_drop_after_store_commits_the_chunk_then_drops(
    uploads: UploadService, faults: FaultPlan
) -> None:
    planned(faults, {"kind": "drop_after_store"})
    session = await start(uploads, 20)
    with pytest.raises(DropConnection):
        await send(uploads, session, 0, b"a" * 10)
    assert (await uploads.query(await fresh(uploads, session))).received == 10
    final = await send(uploads, await fresh(uploads, session), 10, b"b" * 10, finalize=True)
    assert final.file is not None and final.file.size_bytes == 20


async def test_chunk_faults_count_per_upload(uploads: UploadService, faults: FaultPlan) -> None:
    planned(faults, {"kind": "chunk_unavailable", "nth": 1, "times": 1})
    first, second = await start(uploads, 10), await start(uploads, 10)
    with pytest.raises(UploadError):
        await send(uploads, first, 0, b"x" * 10)
    with pytest.raises(UploadError):
        await send(uploads, second, 0, b"x" * 10)
    assert faults.fired("p") == [2]


async def finished_file(uploads: UploadService, display_name: str, mime_type: str) -> FileRecord:
    session = await start(uploads, 4, display_name=display_name, mime_type=mime_type)
    reply = await send(uploads, session, 0, b"data", finalize=True)
    assert reply.file is not None
    return reply.file


def worker(
    stores: tuple[MemoryMetadataStore, MemoryBlobStore], clock: ManualClock, faults: FaultPlan
) -> Maintenance:
    prober = ScriptedProber(ProbeResult(FileState.ACTIVE, {"pages": 1}, None))
    return Maintenance(*stores, clock, prober, faults=faults)


async def test_hold_processing_keeps_a_file_processing_until_the_clock_passes(
    uploads: UploadService,
    faults: FaultPlan,
    stores: tuple[MemoryMetadataStore, MemoryBlobStore],
    clock: ManualClock,
) -> None:
    planned(faults, {"kind": "hold_processing", "seconds": 30, "mime_type": "application/pdf"})
    file = await finished_file(uploads, "a.pdf", "application/pdf")
    assert file.state == FileState.PROCESSING
    maintenance = worker(stores, clock, faults)
    assert await maintenance.probe_one() is True  # probed, and held
    assert await maintenance.probe_one() is False
    assert (await stores[0].get_file("p", file.id, clock.now())).state == FileState.PROCESSING  # type: ignore[union-attr]
    clock.advance(timedelta(seconds=30))
    assert await maintenance.probe_one() is True
    released = await stores[0].get_file("p", file.id, clock.now())
    assert released is not None and released.state == FileState.ACTIVE and released.facts == {"pages": 1}
    other = await finished_file(uploads, "b.txt", "text/plain")
    assert other.state == FileState.ACTIVE  # the filter: only PDFs are held


async def test_fail_processing_ends_the_file_failed_with_the_message(
    uploads: UploadService,
    faults: FaultPlan,
    stores: tuple[MemoryMetadataStore, MemoryBlobStore],
    clock: ManualClock,
) -> None:
    planned(faults, {"kind": "fail_processing", "message": "Unsupported codec."})
    file = await finished_file(uploads, "v.mp4", "video/mp4")
    assert await worker(stores, clock, faults).probe_one() is True
    failed = await stores[0].get_file("p", file.id, clock.now())
    assert failed is not None and failed.state == FileState.FAILED
    assert failed.error == {"code": 13, "message": "Unsupported codec."}
    assert faults.file_fault("p", file.id) is None


async def test_reset_releases_a_held_file(
    uploads: UploadService,
    faults: FaultPlan,
    stores: tuple[MemoryMetadataStore, MemoryBlobStore],
    clock: ManualClock,
) -> None:
    planned(faults, {"kind": "hold_processing", "seconds": 3600})
    file = await finished_file(uploads, "a.txt", "text/plain")
    maintenance = worker(stores, clock, faults)
    await maintenance.probe_one()
    faults.reset("p")
    assert await maintenance.probe_one() is True
    assert (await stores[0].get_file("p", file.id, clock.now())).state == FileState.ACTIVE  # type: ignore[union-attr]


async def one_request(uploads: UploadService, data: bytes, mime_type: str = "text/plain") -> FileRecord:
    async def body() -> AsyncIterator[bytes]:
        yield data

    reply = await uploads.upload_whole(
        "p", name=None, display_name="one", mime_type=mime_type, declared_size=None, body=body()
    )
    assert reply.file is not None
    return reply.file


async def test_one_request_upload_refused_with_429_when_start_exhausted(
    uploads: UploadService, faults: FaultPlan, stores: tuple[MemoryMetadataStore, MemoryBlobStore]
) -> None:
    planned(faults, {"kind": "start_exhausted"})
    with pytest.raises(ResourceExhausted):
        await one_request(uploads, b"hello")
    usage = await stores[0].get_usage("p")
    assert (usage.used_bytes, usage.reserved_bytes) == (0, 0)
    assert (await one_request(uploads, b"hello")).size_bytes == 5  # the next upload goes through


async def test_one_request_upload_chunk_unavailable_stores_no_file(
    uploads: UploadService,
    faults: FaultPlan,
    stores: tuple[MemoryMetadataStore, MemoryBlobStore],
    clock: ManualClock,
) -> None:
    planned(faults, {"kind": "chunk_unavailable"})
    with pytest.raises(UploadError) as refused:
        await one_request(uploads, b"hello")
    assert refused.value.error.code == 503
    assert await stores[0].list_files("p", clock.now(), 10, None) == []
    assert faults.fired("p") == [1]


async def test_one_request_upload_drop_after_store_keeps_the_file(
    uploads: UploadService,
    faults: FaultPlan,
    stores: tuple[MemoryMetadataStore, MemoryBlobStore],
    clock: ManualClock,
) -> None:
    planned(faults, {"kind": "drop_after_store"})
    with pytest.raises(DropConnection):
        await one_request(uploads, b"hello")
    [stored] = await stores[0].list_files("p", clock.now(), 10, None)
    assert stored.size_bytes == 5 and (await stores[0].get_usage("p")).used_bytes == 5


async def test_one_request_upload_and_whole_file_chunk_honour_hold_processing(
    uploads: UploadService, faults: FaultPlan
) -> None:
    planned(faults, {"kind": "hold_processing", "seconds": 30, "times": 2})
    assert (await one_request(uploads, b"hello")).state == FileState.PROCESSING
    session = await start(uploads, 4)
    reply = await send(uploads, session, 0, b"data", finalize=True)  # the whole file in one chunk
    assert reply.file is not None and reply.file.state == FileState.PROCESSING
    assert faults.fired("p") == [2]
