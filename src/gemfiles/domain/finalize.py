"""Finalizing an upload, and what a chunk is told when a finalize got there first.

One finalize per session at a time in this process: a client that re-sends its last chunk while the first
attempt is still finalizing must not join the parts twice at once. The second one sees the session final
and replays the reply; across processes the metadata store's compare-and-set decides.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta

from gemfiles.domain.clock import Clock
from gemfiles.domain.faults import FaultPlan
from gemfiles.domain.hashing import ResumableSha256
from gemfiles.domain.mime import OCTET_STREAM, is_supported, is_untyped, needs_processing
from gemfiles.domain.models import FileRecord, FileSource, FileState, SessionStatus, UploadSession
from gemfiles.domain.ports import BlobStore, MetadataStore, NameTaken, SessionGone, TypeSniffer
from gemfiles.domain.refusals import name_taken
from gemfiles.domain.streams import same_bytes
from gemfiles.domain.upload_machine import (
    Answer,
    CompareFinal,
    Refuse,
    UploadError,
    UploadReply,
    after_final,
    bad_offset,
    file_gone,
    session_gone,
    settled,
)
from gemfiles.errors import FailedPrecondition, InvalidArgument, Unavailable

log = logging.getLogger("gemfiles.uploads")

# A chunk that finds its upload's parts joined waits this long for the finalizing request to record the file.
JOINED_WAITS = 10
JOINED_WAIT_SECONDS = 0.2
# An upload without a type is typed from this many of its first bytes (magic numbers sit at the start).
SNIFF_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Overtaken:
    """Another request moved the session on while a chunk was arriving: answer against ``latest``."""

    latest: UploadSession


class _Finalizing:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class FinalizeCoordinator:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        clock: Clock,
        file_ttl: timedelta,
        *,
        resumable_hash: bool,
        sniffer: TypeSniffer | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        self.meta = meta
        self.sniffer = sniffer
        self.faults = faults if faults is not None else FaultPlan()
        self.blobs = blobs
        self.clock = clock
        self.file_ttl = file_ttl
        self.resumable_hash = resumable_hash
        self._finalizing: dict[str, _Finalizing] = {}

    async def finalize(self, session: UploadSession) -> UploadReply:
        entry = self._finalizing.setdefault(session.token_digest, _Finalizing())
        entry.users += 1
        try:
            async with entry.lock:
                latest = await self.reload(session)
                if latest.status != SessionStatus.ACTIVE:
                    return await self.reply_for(latest)
                if latest.received != session.received:
                    raise bad_offset(latest, session.received)
                return await self._finalize_now(latest)
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._finalizing[session.token_digest]

    async def _finalize_now(self, session: UploadSession) -> UploadReply:
        now = self.clock.now()
        if is_untyped(session.mime_type):
            session = await self._typed_by_content(session)
        if not is_supported(session.mime_type) and not is_untyped(session.mime_type):
            # Google accepts the bytes and refuses the type at the finalizing request (WIRE.md 5.8).
            error = InvalidArgument(f"Unsupported MIME type: {session.mime_type}")
            if await self.meta.fail_session(session.token_digest, error.body()["error"], now):
                raise UploadError(error, "final")
            return await self.reply_for(await self.reload(session))
        try:
            blob_key = await self.blobs.complete_upload(session.upload_key, session.blob_state, session.parts)
        except OSError as exc:
            # The store failed (a full disk, S3 unreachable); completing is idempotent, so finalize may be
            # sent again as it is.
            log.warning("the blob store did not complete upload %s: %s", session.file_id, exc)
            unavailable = Unavailable("The upload could not be completed. Send the finalize command again.")
            raise UploadError(unavailable, "active", session.received) from None
        record = self._record(session, blob_key, await self._sha256_hex(session, blob_key))
        try:
            record = await self.meta.finish_session(session.token_digest, record, now)
        except NameTaken as exc:
            raise UploadError(name_taken(exc), "final") from None
        except SessionGone:
            return await self.reply_for(await self.reload(session))
        return UploadReply("final", session.received, record)

    async def _typed_by_content(self, session: UploadSession) -> UploadSession:
        """An upload without a type takes the supported one its first bytes show (the ``TypeSniffer``), else
        ``application/octet-stream``: it is stored either way, as Google stores such uploads."""
        mime_type = None
        if self.sniffer is not None and session.received:
            try:
                key = await self.blobs.complete_upload(session.upload_key, session.blob_state, session.parts)
                head = bytearray()
                async for block in self.blobs.open(key, 0, min(SNIFF_BYTES, session.received)):
                    head += block
            except OSError:
                return session  # completing again below reports the store's failure
            mime_type = self.sniffer.mime_type(bytes(head))
        if mime_type is None or not is_supported(mime_type):
            mime_type = OCTET_STREAM
        return replace(session, mime_type=mime_type)

    def _record(self, session: UploadSession, blob_key: str, sha256_hex: str) -> FileRecord:
        now = self.clock.now()
        processing = needs_processing(session.mime_type)
        fault = self.faults.take(
            session.project, "file.processing", display_name=session.display_name, mime_type=session.mime_type
        )
        if fault is not None:
            # hold_processing / fail_processing: PROCESSING whatever the type; the media worker acts on it.
            self.faults.mark_file(session.project, session.file_id, fault, now)
            processing = True
        return FileRecord(
            project=session.project,
            id=session.file_id,
            display_name=session.display_name,
            mime_type=session.mime_type,
            size_bytes=session.received,
            sha256_hex=sha256_hex,
            create_time=now,
            update_time=now,
            expire_time=now + self.file_ttl,
            blob_key=blob_key,
            state=FileState.PROCESSING if processing else FileState.ACTIVE,
            source=FileSource.UPLOADED,
        )

    async def _sha256_hex(self, session: UploadSession, blob_key: str) -> str:
        if session.hash_state is not None and self.resumable_hash:
            return ResumableSha256(session.hash_state).hexdigest()
        if session.received == 0:
            return hashlib.sha256(b"").hexdigest()
        # No running state (libcrypto could not be loaded): the bytes are read back once.
        digest = hashlib.sha256()
        async for block in self.blobs.open(blob_key):
            await asyncio.to_thread(digest.update, block)
        return digest.hexdigest()

    # Replies after final -------------------------------------------------------------------------------
    async def reply_for(self, session: UploadSession) -> UploadReply:
        decision = settled(session)
        if isinstance(decision, Refuse):
            raise decision.error
        if isinstance(decision, Answer):
            return decision.reply
        record = await self.meta.get_file(session.project, session.file_id, self.clock.now())
        if record is None:
            raise file_gone()
        return UploadReply("final", None, record)

    async def retry_after_final(
        self, session: UploadSession, offset: int, body: AsyncIterator[bytes], length: int | None
    ) -> UploadReply:
        reply = await self.reply_for(session)
        if reply.file is None:
            return reply
        decision = after_final(session, offset, length)
        if isinstance(decision, Refuse):
            raise decision.error
        if isinstance(decision, CompareFinal):
            stored = self.blobs.open(reply.file.blob_key, decision.start, decision.end)
            if not await same_bytes(body, stored):
                raise UploadError(
                    FailedPrecondition("The upload is already finalized; no more bytes can be added."),
                    "final",
                )
        return reply

    # Races with a finalize -----------------------------------------------------------------------------
    async def settled_session(self, session: UploadSession) -> UploadSession:
        """The session once any finalize of it running in this process is done."""
        entry = self._finalizing.get(session.token_digest)
        if entry is not None:
            async with entry.lock:
                pass
        return await self.reload(session)

    async def store_failed(self, session: UploadSession, start: int, exc: OSError) -> Overtaken:
        """Why the blob store refused a chunk, as the client should hear it.

        A finalize that completed meanwhile has moved the upload's parts away: the chunk is answered as a
        retry against the final session (Overtaken). A finalize still running in another process, or one
        interrupted after joining the parts (a crash before the file was recorded), leaves the session
        active with its parts joined: no byte can be added any more, and the client is told to finalize.
        Anything else is the store failing (a full disk, S3 unreachable): 503, and the chunk can be sent
        again.
        """
        latest = await self.settled_session(session)
        if latest.status != SessionStatus.ACTIVE or latest.received != start:
            return Overtaken(latest)
        try:
            joined = await self.blobs.is_completed(session.upload_key, session.blob_state)
        except Exception:
            joined = False
        if not joined:
            log.warning("the blob store did not take a chunk of upload %s: %s", session.file_id, exc)
            raise UploadError(Unavailable("The chunk could not be stored. Send it again."), "active", start)
        for _ in range(JOINED_WAITS):
            await asyncio.sleep(JOINED_WAIT_SECONDS)  # another process may be about to record the file
            latest = await self.reload(session)
            if latest.status != SessionStatus.ACTIVE or latest.received != start:
                return Overtaken(latest)
        error = FailedPrecondition(
            "The upload is being finalized and can take no more bytes: send "
            "X-Goog-Upload-Command: finalize to finish it."
        )
        raise UploadError(error, "active", start)

    async def reload(self, session: UploadSession) -> UploadSession:
        latest = await self.meta.get_session(session.token_digest)
        if latest is None:
            raise session_gone()
        return latest
