"""Reading and deleting files: what a project may see, and keyset pages over it."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator

from gemfiles.domain.clock import Clock, to_micros
from gemfiles.domain.ids import CUSTOM_ID
from gemfiles.domain.models import FileRecord, Page
from gemfiles.domain.ports import BlobStore, MetadataStore
from gemfiles.errors import FileNotAccessible, InvalidArgument

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
_TOKEN_VERSION = "g1"
_MIN_MICROS, _MAX_MICROS = -(2**63), 2**63 - 1


def encode_page_token(record: FileRecord) -> str:
    raw = json.dumps([_TOKEN_VERSION, to_micros(record.create_time), record.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        version, micros, file_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if (
            version != _TOKEN_VERSION
            or type(micros) is not int  # bool is an int subclass
            or not _MIN_MICROS <= micros <= _MAX_MICROS  # a store's BIGINT would overflow
            or not CUSTOM_ID.match(file_id)
        ):
            raise ValueError(token)
    except (ValueError, TypeError, UnicodeEncodeError, binascii.Error):
        raise InvalidArgument("Invalid page token.") from None
    return micros, file_id


class FileService:
    def __init__(self, meta: MetadataStore, blobs: BlobStore, clock: Clock) -> None:
        self.meta = meta
        self.blobs = blobs
        self.clock = clock

    async def get(self, project: str, file_id: str) -> FileRecord:
        record = (
            await self.meta.get_file(project, file_id, self.clock.now()) if CUSTOM_ID.match(file_id) else None
        )
        if record is None:
            raise FileNotAccessible(file_id)
        return record

    async def list(self, project: str, page_size: int | None, page_token: str | None) -> Page:
        if page_size is None or page_size == 0:
            page_size = DEFAULT_PAGE_SIZE
        if page_size < 0:
            raise InvalidArgument("pageSize must not be negative.")
        page_size = min(page_size, MAX_PAGE_SIZE)  # Google clamps rather than refuses
        after = decode_page_token(page_token) if page_token else None
        rows = await self.meta.list_files(project, self.clock.now(), page_size + 1, after)
        more = len(rows) > page_size
        rows = rows[:page_size]
        return Page(rows, encode_page_token(rows[-1]) if more and rows else None)

    async def delete(self, project: str, file_id: str) -> FileRecord:
        record = (
            await self.meta.delete_file(project, file_id, self.clock.now())
            if CUSTOM_ID.match(file_id)
            else None
        )
        if record is None:
            raise FileNotAccessible(file_id)
        return record

    async def delete_all(self, project: str) -> int:
        """Deletes every file of the project (an emulator reset); returns how many."""
        deleted = 0
        while True:
            rows = await self.meta.list_files(project, self.clock.now(), MAX_PAGE_SIZE, None)
            for record in rows:
                if await self.meta.delete_file(project, record.id, self.clock.now()) is not None:
                    deleted += 1
            if len(rows) < MAX_PAGE_SIZE:
                return deleted

    def read(self, record: FileRecord, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        return self.blobs.open(record.blob_key, start, end)
