"""What the domain reports through its Telemetry port: model calls (latency, errors by backend), probes,
sweeps and stored upload bytes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest

from gemfiles.backends.inspect import InspectBackend
from gemfiles.domain.clock import OffsetClock
from gemfiles.domain.contents import ContentResolver
from gemfiles.domain.files import FileService
from gemfiles.domain.generation import GenerationService
from gemfiles.domain.models import FileRecord, FileState
from gemfiles.domain.ports import ProbeResult, Telemetry
from gemfiles.domain.routing import ModelRouter
from gemfiles.domain.upload_machine import ChunkCommand
from gemfiles.domain.uploads import Limits, UploadService
from gemfiles.domain.workers import Maintenance
from gemfiles.errors import Unavailable
from gemfiles.storage.memory import MemoryBlobStore, MemoryMetadataStore, forget
from tests.unit.test_generation import Scripted, ask


class Recorded:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def upload_bytes(self, count: int) -> None:
        self.events.append(("upload_bytes", count))

    def probe_done(self, kind: str, seconds: float, ok: bool) -> None:
        self.events.append(("probe_done", kind, ok))

    def swept(self, files: int, sessions: int, blobs: int) -> None:
        self.events.append(("swept", files, sessions, blobs))

    def scrubbed(self, objects: int, uploads: int, size: int) -> None:
        self.events.append(("scrubbed", objects, uploads, size))

    def model_call(self, backend: str, method: str, seconds: float, error: str | None) -> None:
        assert seconds >= 0
        self.events.append(("model_call", backend, method, error))


class FailingProber:
    async def probe(self, record: FileRecord) -> ProbeResult:
        return ProbeResult(FileState.FAILED, {"probe_error": "not a video"}, {"code": 3, "message": "bad"})

    async def facts(self, record: FileRecord) -> dict[str, Any]:
        return {}

    async def inline(self, mime_type: str, data: bytes) -> dict[str, Any]:
        return {}


@pytest.fixture
def stores() -> Iterator[tuple[MemoryMetadataStore, MemoryBlobStore]]:
    name = f"telemetry-{uuid.uuid4().hex[:8]}"
    yield MemoryMetadataStore(name), MemoryBlobStore(name)
    forget(name)


def test_recorded_is_a_telemetry() -> None:
    assert isinstance(Recorded(), Telemetry)


async def test_model_calls_are_reported_by_backend_method_and_error(
    stores: tuple[MemoryMetadataStore, MemoryBlobStore],
) -> None:
    meta, blobs = stores
    seen = Recorded()
    router = ModelRouter(
        [("down", "down"), ("*", "inspect")],
        {"down": Scripted(["x"], Unavailable("down"), fail_after=1), "inspect": InspectBackend()},
    )
    generation = GenerationService(
        router, ContentResolver(FileService(meta, blobs, OffsetClock())), telemetry=seen
    )
    await generation.generate("p", ask("gemini-2.5-flash"))
    await generation.count_tokens("p", ask("gemini-2.5-flash"))
    events = await generation.stream("p", ask("down"))
    with pytest.raises(Unavailable):
        async for _ in events:
            pass
    assert seen.events == [
        ("model_call", "inspect", "generate", None),
        ("model_call", "inspect", "count_tokens", None),
        ("model_call", "down", "stream", "Unavailable"),
    ]


async def test_uploads_report_stored_bytes_and_probes_and_sweeps_report_what_they_did(
    stores: tuple[MemoryMetadataStore, MemoryBlobStore],
) -> None:
    meta, blobs = stores
    seen = Recorded()
    clock = OffsetClock()
    limits = Limits(10_000, 100_000, timedelta(hours=1), timedelta(days=1))
    uploads = UploadService(meta, blobs, clock, limits, telemetry=seen)

    async def body() -> AsyncIterator[bytes]:
        yield b"v" * 700

    _token, session = await uploads.start(
        "p", name=None, display_name="clip", mime_type="video/mp4", declared_size=700
    )
    await uploads.chunk(session, ChunkCommand(0, 700, upload=True, finalize=True), body())
    maintenance = Maintenance(meta, blobs, clock, FailingProber(), seen)
    assert await maintenance.probe_one()
    clock.advance(timedelta(hours=2))
    await maintenance.sweep()
    assert seen.events == [
        ("upload_bytes", 700),
        ("probe_done", "video", False),
        ("swept", 1, 0, 1),
    ]


async def test_a_one_request_upload_reports_its_stored_bytes(
    stores: tuple[MemoryMetadataStore, MemoryBlobStore],
) -> None:
    meta, blobs = stores
    seen = Recorded()
    limits = Limits(10_000, 100_000, timedelta(hours=1), timedelta(days=1))
    uploads = UploadService(meta, blobs, OffsetClock(), limits, telemetry=seen)

    async def body() -> AsyncIterator[bytes]:
        yield b"t" * 300

    reply = await uploads.upload_whole(
        "p", name=None, display_name=None, mime_type="text/plain", declared_size=None, body=body()
    )
    assert reply.file is not None and reply.file.size_bytes == 300
    assert seen.events == [("upload_bytes", 300)]
