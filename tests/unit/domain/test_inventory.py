"""The console's views on the in-memory twin: a project's files, uploads in progress, previews via the port."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest

from gemfiles.domain.clock import OffsetClock
from gemfiles.domain.files import FileService
from gemfiles.domain.inventory import Inventory
from gemfiles.domain.models import FileRecord
from gemfiles.domain.ports import Preview
from gemfiles.domain.upload_machine import ChunkCommand
from gemfiles.domain.uploads import Limits, UploadService
from gemfiles.errors import FileNotAccessible, InvalidArgument, NotFound
from gemfiles.storage.memory import MemoryBlobStore, MemoryMetadataStore, forget


class PicturesOfImages:
    """A Previewer (the port) that pictures images only, and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def can_preview(self, mime_type: str) -> bool:
        return mime_type.startswith("image/")

    async def preview(self, record: FileRecord) -> Preview | None:
        self.asked.append(record.id)
        return Preview("image/png", b"png of " + record.id.encode()) if record.size_bytes > 1 else None


@pytest.fixture
def parts() -> Iterator[tuple[Inventory, UploadService, PicturesOfImages]]:
    name = f"inventory-{uuid.uuid4().hex[:12]}"
    meta, blobs, clock = MemoryMetadataStore(name), MemoryBlobStore(name), OffsetClock()
    previewer = PicturesOfImages()
    limits = Limits(50_000, 1_000_000, timedelta(hours=48), timedelta(days=7))
    uploads = UploadService(meta, blobs, clock, limits)
    yield Inventory(meta, FileService(meta, blobs, clock), clock, previewer), uploads, previewer
    forget(name)


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def stored(uploads: UploadService, project: str, data: bytes, mime_type: str) -> str:
    _token, session = await uploads.start(
        project, name=None, display_name="d", mime_type=mime_type, declared_size=len(data)
    )
    await uploads.chunk(session, ChunkCommand(0, len(data), upload=True, finalize=True), one(data))
    return session.file_id


async def test_files_of_a_project_are_listed_newest_first(
    parts: tuple[Inventory, UploadService, PicturesOfImages],
) -> None:
    inventory, uploads, _ = parts
    first = await stored(uploads, "team", b"a" * 10, "text/plain")
    second = await stored(uploads, "team", b"b" * 10, "image/png")
    await stored(uploads, "other", b"c", "text/plain")
    page = await inventory.files("team", None, None)
    assert [record.id for record in page.files] == [second, first]
    with pytest.raises(InvalidArgument):
        await inventory.files("../etc", None, None)


async def test_uploads_in_progress_are_those_not_finished(
    parts: tuple[Inventory, UploadService, PicturesOfImages],
) -> None:
    inventory, uploads, _ = parts
    _token, session = await uploads.start(
        "team", name=None, display_name="half", mime_type="text/plain", declared_size=100
    )
    await uploads.chunk(session, ChunkCommand(0, 40, upload=True, finalize=False), one(b"x" * 40))
    await stored(uploads, "team", b"done", "text/plain")
    [shown] = await inventory.uploads()
    assert (shown.display_name, shown.received, shown.declared_size) == ("half", 40, 100)
    assert await inventory.batches() == []  # no batch store: nothing to show, no error


async def test_preview_asks_the_previewer_only_for_files_it_can_picture(
    parts: tuple[Inventory, UploadService, PicturesOfImages],
) -> None:
    inventory, uploads, previewer = parts
    image = await stored(uploads, "team", b"\x89PNG....", "image/png")
    text = await stored(uploads, "team", b"words", "text/plain")
    blank = await stored(uploads, "team", b"x", "image/png")
    assert (await inventory.preview("team", image)).data == b"png of " + image.encode()
    with pytest.raises(NotFound):
        await inventory.preview("team", text)
    with pytest.raises(NotFound):
        await inventory.preview("team", blank)
    with pytest.raises(FileNotAccessible):
        await inventory.preview("other", image)
    assert previewer.asked == [image, blank]
