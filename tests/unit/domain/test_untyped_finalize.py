"""An upload that named no type, finalized on the in-memory stores: typed by the ``TypeSniffer`` port from its
first bytes, else stored as application/octet-stream (never refused)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest

from gemfiles.domain.clock import OffsetClock
from gemfiles.domain.finalize import SNIFF_BYTES
from gemfiles.domain.models import FileState
from gemfiles.domain.upload_machine import ChunkCommand
from gemfiles.domain.uploads import Limits, UploadService
from gemfiles.media.sniff import MagicSniffer
from gemfiles.storage.memory import MemoryBlobStore, MemoryMetadataStore, forget

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class RecordingSniffer:
    """The TypeSniffer port answering a set type, keeping the heads it was shown."""

    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.heads: list[bytes] = []

    def mime_type(self, head: bytes) -> str | None:
        self.heads.append(head)
        return self.answer


@pytest.fixture
def name() -> Iterator[str]:
    name = f"unit-{uuid.uuid4().hex[:12]}"
    yield name
    forget(name)


def service(name: str, sniffer: object) -> UploadService:
    limits = Limits(
        max_file_bytes=50_000,
        project_quota_bytes=100_000,
        file_ttl=timedelta(hours=48),
        session_ttl=timedelta(days=7),
    )
    return UploadService(
        MemoryMetadataStore(name),
        MemoryBlobStore(name),
        OffsetClock(),
        limits,
        sniffer=sniffer,  # type: ignore[arg-type]
    )


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def upload(uploads: UploadService, data: bytes, mime_type: str) -> tuple[str, FileState]:
    _token, session = await uploads.start(
        "p", name=None, display_name=None, mime_type=mime_type, declared_size=len(data)
    )
    reply = await uploads.chunk(session, ChunkCommand(0, len(data), upload=True, finalize=True), body(data))
    assert reply.status == "final" and reply.file is not None
    return reply.file.mime_type, reply.file.state


async def test_finalize_types_an_octet_stream_upload_by_its_first_bytes(name: str) -> None:
    sniffer = RecordingSniffer("image/png")
    data = PNG + b"x" * (SNIFF_BYTES * 2)
    assert await upload(service(name, sniffer), data, "application/octet-stream") == (
        "image/png",
        FileState.ACTIVE,
    )
    assert sniffer.heads == [data[:SNIFF_BYTES]]


async def test_finalize_stores_bytes_of_no_known_type_as_octet_stream(name: str) -> None:
    mime_type, _state = await upload(
        service(name, RecordingSniffer(None)), b"\x00\x01 opaque", "application/octet-stream"
    )
    assert mime_type == "application/octet-stream"


async def test_finalize_keeps_octet_stream_when_the_sniffer_names_an_unsupported_type(name: str) -> None:
    uploads = service(name, RecordingSniffer("application/x-executable"))
    assert (await upload(uploads, b"\x7fELF....", "application/octet-stream"))[
        0
    ] == "application/octet-stream"


async def test_finalize_never_sniffs_an_upload_that_named_its_type(name: str) -> None:
    sniffer = RecordingSniffer("image/png")
    assert (await upload(service(name, sniffer), PNG, "text/plain"))[0] == "text/plain"
    assert sniffer.heads == []


def test_magic_sniffer_names_supported_types_and_nothing_else() -> None:
    sniffer = MagicSniffer()
    assert sniffer.mime_type(PNG) == "image/png"
    assert sniffer.mime_type(b"%PDF-1.7\n" + b"x" * 32) == "application/pdf"
    assert sniffer.mime_type(b"\x7fELF\x02\x01\x01" + b"\x00" * 60) is None  # known to filetype, unsupported
    assert sniffer.mime_type(b"just some words") is None
