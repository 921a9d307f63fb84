"""An upload that arrives whole in one request (raw and multipart): the bytes stored, then one transaction.

A resumable session exists so that an upload can outlive a request. A raw or multipart upload cannot: its
body is the whole file. So it needs no session row, no part commit and no finish, only the bytes written
and fsynced as one object (``BlobStore.put_object``) and then one metadata transaction that takes the size
against the quota and records the file (``MetadataStore.create_file``). The reply follows that commit, so
bytes and metadata are durable when the client hears of the file, as on the resumable path.

The SDKs' resumable path sends a small file as ``start`` then one ``upload, finalize`` with the whole body.
That chunk is handled the same way (``finish_session_whole``): one object, then one transaction that is the
chunk's commit and the session's finish at once (``MetadataStore.finish_whole``, a compare-and-set on the
session being active at offset 0). Each attempt writes its own object (the session's key and a random
suffix), so two racing attempts never write the same file; the one whose transaction loses deletes its
object and is answered as a retry against the session as the winner left it.

A crash between the bytes and the transaction leaves an object no file names; the bytes of a refused
upload (a taken name, the quota) are deleted at once.

A body no larger than ``inline_limit`` (where the metadata store keeps small files' bytes, the embedded
SQLite store: storage/inline.py) is not written as an object at all: it goes into that same transaction
(``inline``), under an inline key. Bytes and record then commit together or not at all, and a refusal
leaves nothing to delete.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, NoReturn

from gemfiles.domain.chunks import coalesce
from gemfiles.domain.clock import Clock
from gemfiles.domain.ids import random_hex
from gemfiles.domain.mime import is_supported, needs_processing
from gemfiles.domain.models import FileRecord, FileSource, FileState, SessionStatus, UploadSession
from gemfiles.domain.ports import (
    BlobStore,
    MetadataStore,
    NameTaken,
    NoTelemetry,
    QuotaRefused,
    Telemetry,
    inline_key,
)
from gemfiles.domain.refusals import name_taken, quota_exceeded
from gemfiles.domain.upload_machine import (
    Append,
    ChunkCommand,
    UploadError,
    UploadReply,
    bad_offset,
    ended_early,
    overflow,
    session_gone,
)
from gemfiles.errors import Unavailable

log = logging.getLogger("gemfiles.uploads")


class WholeUploads:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        clock: Clock,
        *,
        max_file_bytes: int,
        quota_bytes: int,
        file_ttl: timedelta,
        telemetry: Telemetry | None = None,
        inline_limit: int = 0,
    ) -> None:
        self.meta = meta
        self.inline_limit = inline_limit
        self.blobs = blobs
        self.clock = clock
        self.max_file_bytes = max_file_bytes
        self.quota_bytes = quota_bytes
        self.file_ttl = file_ttl
        self.telemetry = telemetry or NoTelemetry()

    async def upload(
        self, project: str, file_id: str, display_name: str | None, mime_type: str, body: AsyncIterator[bytes]
    ) -> UploadReply:
        now = self.clock.now()
        # A session that is never stored: the key of the bytes, and the shape the refusals are made from.
        draft = UploadSession(
            token_digest=random_hex(32),  # the shape of a digest; no token exists
            project=project,
            file_id=file_id,
            mime_type=mime_type,
            display_name=display_name,
            declared_size=None,
            reserved_bytes=0,
            received=0,
            status=SessionStatus.ACTIVE,
            create_time=now,
            expire_time=now,
        )

        def too_big() -> NoReturn:
            raise overflow(draft, self.max_file_bytes)

        digest = hashlib.sha256()
        blocks = coalesce(body, self.max_file_bytes, too_big)
        blob_key, size, inline = await self._put(draft, draft.upload_key, blocks, digest, 0)
        self.telemetry.upload_bytes(size)
        record = self._record(draft, blob_key, size, digest.hexdigest(), self.clock.now())
        try:
            created = await self.meta.create_file(record, self.quota_bytes, now, inline)
            return UploadReply("final", size, created)
        except BaseException as exc:
            await self._discard(blob_key, inline)
            if isinstance(exc, NameTaken):
                raise name_taken(exc) from None
            if isinstance(exc, QuotaRefused):
                raise UploadError(quota_exceeded(exc), "active", 0) from None
            raise

    @staticmethod
    def fits(session: UploadSession, plan: Append, command: ChunkCommand) -> bool:
        """Whether a chunk is a whole file: the first bytes of the session, finalizing, of a known length
        that is the declared size (anything else goes through ``chunks`` and ``finalize``)."""
        return (
            command.finalize
            and session.received == 0
            and not session.parts
            and plan.start == 0
            and bool(plan.length)
            and session.declared_size in (None, plan.length)
            and is_supported(session.mime_type)
        )

    async def finish_session_whole(
        self, session: UploadSession, plan: Append, body: AsyncIterator[bytes]
    ) -> UploadReply:
        def too_big() -> NoReturn:
            raise overflow(session, self.max_file_bytes)

        digest = hashlib.sha256()
        attempt = session.upload_key + random_hex(4)
        blocks = coalesce(body, plan.room, too_big)
        blob_key, size, inline = await self._put(session, attempt, blocks, digest, plan.start)
        self.telemetry.upload_bytes(size)
        record = self._record(session, blob_key, size, digest.hexdigest(), self.clock.now())
        try:
            if size != plan.length:
                raise ended_early(size, plan.length or 0, plan.start)
            done = await self.meta.finish_whole(
                session.token_digest, record, self.quota_bytes, self.clock.now(), inline
            )
        except NameTaken as exc:
            raise UploadError(name_taken(exc), "final") from None  # the store queued the object's removal
        except BaseException as exc:
            await self._discard(blob_key, inline)
            if isinstance(exc, QuotaRefused):
                raise UploadError(quota_exceeded(exc), "active", plan.start) from None
            raise
        if done is None:
            await self._discard(blob_key, inline)
            return await self._lost(session, record)
        # The session's own upload (an empty directory, an S3 multipart upload) holds nothing: dropped.
        await self.blobs.abort_upload(session.upload_key, session.blob_state, [])
        return UploadReply("final", size, done)

    async def _put(
        self, session: UploadSession, key: str, blocks: AsyncIterator[bytes], digest: Any, start: int
    ) -> tuple[str, int, bytes | None]:
        """The bytes written as one object, or held for the transaction when the whole body fits
        ``inline_limit`` (then returned as the third value); a store that fails (a full disk, S3
        unreachable) is a 503 and the upload can be sent again, as on the chunked path."""
        if self.inline_limit:
            head, whole = await _take_up_to(blocks, self.inline_limit)
            if whole:
                data = b"".join(head)
                digest.update(data)
                return inline_key(key), len(data), data
            blocks = _chain(head, blocks)
        try:
            return (*await self.blobs.put_object(key, blocks, digest.update), None)
        except OSError as exc:
            log.warning("the blob store did not take upload %s: %s", session.file_id, exc)
            unavailable = Unavailable("The chunk could not be stored. Send it again.")
            raise UploadError(unavailable, "active", start) from None

    async def _discard(self, blob_key: str, inline: bytes | None) -> None:
        """The bytes of an upload whose transaction did not record it; inline bytes went nowhere."""
        if inline is None:
            await self.blobs.delete(blob_key)

    async def _lost(self, session: UploadSession, ours: FileRecord) -> UploadReply:
        """Another attempt at this chunk committed first: the same bytes get its reply, others a refusal."""
        latest = await self.meta.get_session(session.token_digest)
        if latest is None:
            raise session_gone()
        if latest.status == SessionStatus.FINAL:
            won = await self.meta.get_file(latest.project, latest.file_id, self.clock.now())
            if won is not None and (won.size_bytes, won.sha256_hex) == (ours.size_bytes, ours.sha256_hex):
                return UploadReply("final", None, won)
        raise bad_offset(latest, 0)

    def _record(
        self, draft: UploadSession, blob_key: str, size: int, sha256_hex: str, now: datetime
    ) -> FileRecord:
        return FileRecord(
            project=draft.project,
            id=draft.file_id,
            display_name=draft.display_name,
            mime_type=draft.mime_type,
            size_bytes=size,
            sha256_hex=sha256_hex,
            create_time=now,
            update_time=now,
            expire_time=now + self.file_ttl,
            blob_key=blob_key,
            state=FileState.PROCESSING if needs_processing(draft.mime_type) else FileState.ACTIVE,
            source=FileSource.UPLOADED,
        )


async def _take_up_to(blocks: AsyncIterator[bytes], limit: int) -> tuple[list[bytes], bool]:
    """The first blocks of a body, until more than ``limit`` bytes came (False) or the body ended (True)."""
    taken: list[bytes] = []
    size = 0
    async for block in blocks:
        taken.append(block)
        size += len(block)
        if size > limit:
            return taken, False
    return taken, True


async def _chain(head: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for block in head:
        yield block
    async for block in rest:
        yield block
