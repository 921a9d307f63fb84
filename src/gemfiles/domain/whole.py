"""An upload that arrives whole in one request (raw and multipart): the bytes stored, then one transaction.

A resumable session exists so that an upload can outlive a request. A raw or multipart upload cannot: its
body is the whole file. So it needs no session row, no part commit and no finish, only the bytes written
and fsynced as one object (``BlobStore.put_object``) and then one metadata transaction that takes the size
against the quota and records the file (``MetadataStore.create_file``). The reply follows that commit, so
bytes and metadata are durable when the client hears of the file, as on the resumable path.

A crash between the bytes and the transaction leaves an object no file names; the bytes of a refused
upload (a taken name, the quota) are deleted at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import NoReturn

from gemfiles.domain.chunks import coalesce
from gemfiles.domain.clock import Clock
from gemfiles.domain.ids import new_upload_token, token_digest
from gemfiles.domain.mime import needs_processing
from gemfiles.domain.models import FileRecord, FileSource, FileState, SessionStatus, UploadSession
from gemfiles.domain.ports import BlobStore, MetadataStore, NameTaken, QuotaRefused
from gemfiles.domain.refusals import name_taken, quota_exceeded
from gemfiles.domain.upload_machine import UploadError, UploadReply, overflow


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
    ) -> None:
        self.meta = meta
        self.blobs = blobs
        self.clock = clock
        self.max_file_bytes = max_file_bytes
        self.quota_bytes = quota_bytes
        self.file_ttl = file_ttl

    async def upload(
        self, project: str, file_id: str, display_name: str | None, mime_type: str, body: AsyncIterator[bytes]
    ) -> UploadReply:
        now = self.clock.now()
        # A session that is never stored: the key of the bytes, and the shape the refusals are made from.
        draft = UploadSession(
            token_digest=token_digest(new_upload_token()),
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
        blob_key, size = await self.blobs.put_object(draft.upload_key, blocks, digest.update)
        record = self._record(draft, blob_key, size, digest.hexdigest(), self.clock.now())
        try:
            return UploadReply("final", size, await self.meta.create_file(record, self.quota_bytes, now))
        except BaseException as exc:
            await self.blobs.delete(blob_key)
            if isinstance(exc, NameTaken):
                raise name_taken(exc) from None
            if isinstance(exc, QuotaRefused):
                raise UploadError(quota_exceeded(exc), "active", 0) from None
            raise

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
