"""Seeding: the files of a directory become files of a project (``GEMFILES_SEED_DIR`` at start-up,
``gemfiles seed DIR --project NAME``).

Each file goes through the UploadService like any upload (streamed, quota checked, probed afterwards). Its
display name is its path relative to the directory (``a.pdf``, ``sub/b.png``); its MIME type comes from its
extension, else from its first bytes. Idempotent by SHA-256: a file the project already holds with the same
display name and SHA-256 is skipped; a file whose bytes changed is uploaded again and the project's older
files of that display name are deleted, so the project mirrors the directory.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from gemfiles.domain.clock import Clock, to_micros
from gemfiles.domain.mime import OCTET_STREAM
from gemfiles.domain.models import FileRecord
from gemfiles.domain.ports import MetadataStore
from gemfiles.domain.upload_machine import UploadError
from gemfiles.domain.uploads import ChunkCommand, UploadService
from gemfiles.errors import ApiError

log = logging.getLogger("gemfiles.seed")

READ_BYTES = 1024 * 1024


@dataclass
class SeedReport:
    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def seed_files(directory: Path) -> list[tuple[str, Path]]:
    """(display name, path) of every regular file under ``directory``, hidden ones left out, sorted."""
    found = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            found.append((relative.as_posix(), path))
    return found


def mime_type_of(path: Path) -> str:
    """From the extension; else untyped, and the upload's bytes decide at finalize (the ``TypeSniffer``)."""
    guessed, _ = mimetypes.guess_type(path.name, strict=False)
    return guessed or OCTET_STREAM


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(READ_BYTES):
            digest.update(block)
    return digest.hexdigest()


async def _blocks(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while block := await asyncio.to_thread(handle.read, READ_BYTES):
            yield block
    finally:
        handle.close()


class Seeder:
    def __init__(self, meta: MetadataStore, uploads: UploadService, clock: Clock) -> None:
        self.meta = meta
        self.uploads = uploads
        self.clock = clock

    async def seed(self, project: str, directory: Path) -> SeedReport:
        report = SeedReport()
        held = await self._files_by_name(project)
        for name, path in seed_files(directory):
            try:
                digest = await asyncio.to_thread(sha256_of, path)
                older = held.get(name, [])
                if any(record.sha256_hex == digest for record in older):
                    report.skipped.append(name)
                    continue
                await self._upload(project, name, path)
                for record in older:
                    await self.meta.delete_file(project, record.id, self.clock.now())
                (report.replaced if older else report.added).append(name)
            except (ApiError, UploadError, OSError) as exc:
                report.failed[name] = str(exc)
                log.warning("seeding %s into %s failed: %s", name, project, exc)
        return report

    async def _files_by_name(self, project: str) -> dict[str, list[FileRecord]]:
        held: dict[str, list[FileRecord]] = {}
        after: tuple[int, str] | None = None
        while True:
            page = await self.meta.list_files(project, self.clock.now(), 1000, after)
            for record in page:
                held.setdefault(record.display_name or "", []).append(record)
            if len(page) < 1000:
                return held
            last = page[-1]
            after = (to_micros(last.create_time), last.id)

    async def _upload(self, project: str, name: str, path: Path) -> FileRecord | None:
        mime_type = await asyncio.to_thread(mime_type_of, path)
        size = (await asyncio.to_thread(path.stat)).st_size
        _token, session = await self.uploads.start(
            project, name=None, display_name=name, mime_type=mime_type, declared_size=size
        )
        command = ChunkCommand(0, size, upload=True, finalize=True)
        try:
            reply = await self.uploads.chunk(session, command, _blocks(path))
        except BaseException:
            await self.uploads.abandon(session)
            raise
        return reply.file
