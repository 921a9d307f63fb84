"""Small files' bytes kept in the SQLite database, beside the blob store that holds everything else.

An upload that arrives whole and is no larger than ``GEMFILES_INLINE_MAX_BYTES`` (64 KiB by default, on the
embedded SQLite store) is not written as a file of its own: the domain hands its bytes to the transaction
that records the file (``MetadataStore.create_file`` / ``finish_whole`` with ``inline``), which puts them in
the ``inline_blobs`` table. Bytes and metadata become durable in one group commit of the database (one
fsync of its WAL shared by every upload of the group), where a file costs an inode, a write, an fsync, a
rename and an fsync of its folder before the commit even starts. SQLite reads blobs of this size at least
as fast as the file system does (sqlite.org/intern-v-extern-blob.html), and they need no thread hand-off.

This store wraps the blob store: an inline key (``inline/<upload key>``, ``domain.ports.inline_key``) is
read from and deleted in the database, every other key and every upload goes to the wrapped store. The
deletion is the collection of the file's blob key, queued in the transaction that dropped the file, as
for any object. Its URL names both (``inline+<wrapped store's URL>#<SQLite file>``), so a probe child
opens the same pair and reads a small file through a read-only connection of its own.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, BinaryIO

from gemfiles.domain.models import PartRef
from gemfiles.domain.ports import BlobStore, MetadataStore, PartNumbers, StoredBlob, is_inline

SCHEME = "inline+"
_PAGE = 500


def split_url(url: str) -> tuple[str, str]:
    """``inline+<blob URL>#<SQLite file>``: the wrapped store's URL and the database's path."""
    inner_url, _, database = url.removeprefix(SCHEME).rpartition("#")
    if not url.startswith(SCHEME) or not inner_url or not database:
        raise ValueError(f"not an inline blob URL: {url!r}")
    return inner_url, database


class InlineBlobStore:
    def __init__(self, inner: BlobStore, database: Path | str, rows: MetadataStore | None = None) -> None:
        """``database``: the SQLite file holding ``inline_blobs``; ``rows``: the metadata store over it,
        which deletes and lists inline bytes (a probe child, which only reads, has none)."""
        self.inner = inner
        self.database = str(database)
        self.rows = rows
        self._local = threading.local()

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.inner.url}#{self.database}"

    async def close(self) -> None:
        await self.inner.close()

    async def ping(self) -> None:
        await self.inner.ping()

    # Uploads: the wrapped store's ---------------------------------------------------------------------
    async def begin_upload(self, upload_key: str) -> dict[str, Any]:
        return await self.inner.begin_upload(upload_key)

    async def put_part(
        self,
        upload_key: str,
        state: dict[str, Any],
        numbers: PartNumbers,
        blocks: AsyncIterator[bytes],
        length_hint: int | None,
        observe: Callable[[bytes], None] | None = None,
    ) -> PartRef:
        return await self.inner.put_part(upload_key, state, numbers, blocks, length_hint, observe)

    async def put_object(
        self, upload_key: str, blocks: AsyncIterator[bytes], observe: Callable[[bytes], None] | None = None
    ) -> tuple[str, int]:
        return await self.inner.put_object(upload_key, blocks, observe)

    async def same_part(
        self, upload_key: str, state: dict[str, Any], part: PartRef, body: AsyncIterator[bytes]
    ) -> bool:
        return await self.inner.same_part(upload_key, state, part, body)

    def read_part(self, upload_key: str, state: dict[str, Any], part: PartRef) -> AsyncIterator[bytes]:
        return self.inner.read_part(upload_key, state, part)

    async def complete_upload(self, upload_key: str, state: dict[str, Any], parts: list[PartRef]) -> str:
        return await self.inner.complete_upload(upload_key, state, parts)

    async def is_completed(self, upload_key: str, state: dict[str, Any]) -> bool:
        return await self.inner.is_completed(upload_key, state)

    async def abort_upload(self, upload_key: str, state: dict[str, Any], parts: list[PartRef]) -> None:
        await self.inner.abort_upload(upload_key, state, parts)

    # Objects: inline keys in the database ---------------------------------------------------------------
    def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        if is_inline(key):
            return self._open_inline(key, start, end)
        return self.inner.open(key, start, end)

    async def _open_inline(self, key: str, start: int, end: int | None) -> AsyncIterator[bytes]:
        if self.rows is not None:
            data = await self.rows.read_inline(key)
        else:
            data = await asyncio.to_thread(self._read, key)
        if data is None:
            raise FileNotFoundError(f"no stored bytes for {key}")
        piece = data[start:end]
        if piece:
            yield piece

    def reader(self, key: str) -> BinaryIO:
        if not is_inline(key):
            return self.inner.reader(key)
        data = self._read(key)
        if data is None:
            raise FileNotFoundError(f"no stored bytes for {key}")
        return io.BytesIO(data)

    def _read(self, key: str) -> bytes | None:
        """Blocking: the bytes through this thread's read-only connection to the database."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"{Path(self.database).resolve().as_uri()}?mode=ro", uri=True)
            self._local.conn = conn
        row = conn.execute("SELECT data FROM inline_blobs WHERE key = ?", (key,)).fetchone()
        return bytes(row[0]) if row is not None else None

    async def delete(self, key: str) -> None:
        if not is_inline(key):
            await self.inner.delete(key)
            return
        assert self.rows is not None, "a reading copy of the store deletes nothing"
        await self.rows.delete_inline(key)

    async def inventory(self) -> AsyncIterator[StoredBlob]:
        async for blob in self.inner.inventory():
            yield blob
        if self.rows is None:
            return
        after = ""
        while True:
            page = await self.rows.inline_blobs(after, _PAGE)
            for blob in page:
                yield blob
            if len(page) < _PAGE:
                return
            after = page[-1].key

    async def remove(self, blob: StoredBlob) -> None:
        if is_inline(blob.key):
            await self.delete(blob.key)
        else:
            await self.inner.remove(blob)
