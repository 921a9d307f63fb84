"""Upload sessions, independent of HTTP: the facade the upload URL talks to.

The rules live in three places: ``upload_machine`` decides what a command does to a session (no I/O),
``chunks`` stores and commits a chunk's bytes, ``finalize`` joins the parts into a file and answers the
requests that arrive after it. This module carries the machine's decisions out.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from gemfiles.domain.chunks import ChunkPipeline
from gemfiles.domain.clock import Clock
from gemfiles.domain.faults import DropConnection, Fault, FaultPlan, FaultPoint
from gemfiles.domain.finalize import FinalizeCoordinator, Overtaken
from gemfiles.domain.hashing import ResumableSha256
from gemfiles.domain.ids import IdFactory, new_file_id, new_upload_token, parse_file_name, token_digest
from gemfiles.domain.mime import is_supported
from gemfiles.domain.models import PartRef, SessionStatus, UploadSession
from gemfiles.domain.ports import BlobStore, MetadataStore, NameTaken, QuotaRefused, Telemetry, TypeSniffer
from gemfiles.domain.refusals import name_taken, quota_exceeded
from gemfiles.domain.upload_machine import (
    Answer,
    Append,
    ChunkCommand,
    CompareResent,
    Finalize,
    Refuse,
    RetryFinal,
    UploadError,
    UploadReply,
    after_commit,
    bad_offset,
    cancel_lost,
    decide_cancel,
    decide_chunk,
    open_session,
)
from gemfiles.domain.whole import WholeUploads
from gemfiles.errors import InvalidArgument

MAX_DISPLAY_NAME = 512


@dataclass(frozen=True, slots=True)
class Limits:
    max_file_bytes: int
    project_quota_bytes: int
    file_ttl: timedelta
    session_ttl: timedelta
    # Whole uploads up to this size keep their bytes with their record (domain/whole.py); 0: never.
    inline_bytes: int = 0


def sha256_base64(hex_digest: str) -> str:
    """Google's ``sha256Hash``: standard base64 of the lowercase *hex* text of the digest."""
    return base64.b64encode(hex_digest.encode("ascii")).decode("ascii")


class UploadService:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        clock: Clock,
        limits: Limits,
        *,
        new_id: IdFactory = new_file_id,
        new_token: IdFactory = new_upload_token,
        resumable_hash: bool | None = None,
        telemetry: Telemetry | None = None,
        sniffer: TypeSniffer | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        self.meta = meta
        # Planned faults (the emulator's, per project); an empty plan never fires.
        self.faults = faults if faults is not None else FaultPlan()
        self.blobs = blobs
        self.clock = clock
        self.limits = limits
        self.new_id = new_id
        self.new_token = new_token
        if resumable_hash is None:
            resumable_hash = ResumableSha256.available()
        self.finalizer = FinalizeCoordinator(
            meta,
            blobs,
            clock,
            limits.file_ttl,
            resumable_hash=resumable_hash,
            sniffer=sniffer,
            faults=self.faults,
        )
        self.chunks = ChunkPipeline(
            meta,
            blobs,
            clock,
            self.finalizer,
            max_file_bytes=limits.max_file_bytes,
            quota_bytes=limits.project_quota_bytes,
            resumable_hash=resumable_hash,
            telemetry=telemetry,
        )
        self.whole = WholeUploads(
            meta,
            blobs,
            clock,
            max_file_bytes=limits.max_file_bytes,
            quota_bytes=limits.project_quota_bytes,
            file_ttl=limits.file_ttl,
            telemetry=telemetry,
            inline_limit=limits.inline_bytes,
        )

    async def upload_whole(
        self,
        project: str,
        *,
        name: str | None,
        display_name: str | None,
        mime_type: str,
        declared_size: int | None,
        body: AsyncIterator[bytes],
    ) -> UploadReply:
        """A raw or multipart upload: the whole body, then the file recorded in one transaction.

        Uploads the one-request path cannot answer exactly as a session would (a declared size to hold
        the body to, a MIME type refused or sniffed only once the bytes are in, a project with planned
        faults, which count and fire at the session's points) go through a session.
        """
        if declared_size is not None or not is_supported(mime_type) or self.faults.faults(project):
            _token, session = await self.start(
                project,
                name=name,
                display_name=display_name,
                mime_type=mime_type,
                declared_size=declared_size,
            )
            try:
                return await self.chunk(session, ChunkCommand(0, None, upload=True, finalize=True), body)
            except BaseException:
                await self.abandon(session)
                raise
        file_id = parse_file_name(name) if name else self.new_id()
        self._check_start(display_name, mime_type, declared_size)
        return await self.whole.upload(project, file_id, display_name, mime_type, body)

    async def start(
        self,
        project: str,
        *,
        name: str | None,
        display_name: str | None,
        mime_type: str,
        declared_size: int | None,
    ) -> tuple[str, UploadSession]:
        file_id = parse_file_name(name) if name else self.new_id()
        self._check_start(display_name, mime_type, declared_size)
        fault = self.faults.take(project, "upload.start", display_name=display_name, mime_type=mime_type)
        if fault is not None:
            raise fault.error()  # 429 RESOURCE_EXHAUSTED, no session
        token = self.new_token()
        now = self.clock.now()
        session = UploadSession(
            token_digest=token_digest(token),
            project=project,
            file_id=file_id,
            mime_type=mime_type,
            display_name=display_name,
            declared_size=declared_size,
            reserved_bytes=declared_size or 0,
            received=0,
            status=SessionStatus.ACTIVE,
            create_time=now,
            expire_time=now + self.limits.session_ttl,
        )
        session.blob_state = await self.blobs.begin_upload(session.upload_key)
        try:
            await self.meta.create_session(session, self.limits.project_quota_bytes, now)
        except BaseException as exc:
            await self.blobs.abort_upload(session.upload_key, session.blob_state, [])
            if isinstance(exc, NameTaken):
                raise name_taken(exc) from None
            if isinstance(exc, QuotaRefused):
                raise quota_exceeded(exc) from None
            raise
        return token, session

    def _check_start(self, display_name: str | None, mime_type: str, declared_size: int | None) -> None:
        if display_name is not None and len(display_name) > MAX_DISPLAY_NAME:
            raise InvalidArgument(f"displayName must be at most {MAX_DISPLAY_NAME} characters.")
        if not mime_type or len(mime_type) > 255:
            raise InvalidArgument("mimeType must be 1 to 255 characters.")
        if declared_size is None:
            return
        if declared_size < 0:
            raise InvalidArgument("The declared upload size must not be negative.")
        if declared_size > self.limits.max_file_bytes:
            raise InvalidArgument(
                f"The file is {declared_size} bytes, over the maximum file size of "
                f"{self.limits.max_file_bytes} bytes."
            )

    # The upload URL: every method below raises UploadError only --------------------------------------
    async def session_for(self, token: str, project: str | None) -> UploadSession:
        session = await self.meta.get_session(token_digest(token)) if token else None
        opened = open_session(session, project, self.clock.now())
        if isinstance(opened, Refuse):
            raise opened.error
        return opened

    async def query(self, session: UploadSession) -> UploadReply:
        return await self.finalizer.reply_for(session)

    async def cancel(self, session: UploadSession) -> UploadReply:
        decision = decide_cancel(session)
        if isinstance(decision, Refuse):
            raise decision.error
        if await self.meta.cancel_session(session.token_digest, self.clock.now()):
            return UploadReply("cancelled")
        # Another request ended the session first.
        raise cancel_lost(await self.finalizer.reload(session))

    async def chunk(
        self, session: UploadSession, command: ChunkCommand, body: AsyncIterator[bytes]
    ) -> UploadReply:
        """One chunk request; the planned faults of its project fire around it.

        ``chunk_unavailable``: 503 before the bytes are stored (the body is drained, the session stays where
        it was). ``drop_after_store``: the chunk is committed (and finalized, if asked), then
        ``DropConnection`` is raised instead of the reply: the client must query and resume.
        """
        if session.status == SessionStatus.ACTIVE:
            fault = self._fault(session, "upload.chunk")
            if fault is not None:
                async for _ in body:
                    pass
                raise UploadError(fault.error(), "active", session.received)
        reply = await self._chunk(session, command, body)
        if self._fault(session, "upload.chunk_stored") is not None:
            raise DropConnection(f"drop_after_store after upload {session.file_id} took a chunk")
        return reply

    def _fault(self, session: UploadSession, point: FaultPoint) -> Fault | None:
        # Chunk points count per upload: nth is the n-th chunk request of each upload.
        return self.faults.take(
            session.project,
            point,
            key=session.token_digest,
            display_name=session.display_name,
            mime_type=session.mime_type,
        )

    async def _chunk(
        self, session: UploadSession, command: ChunkCommand, body: AsyncIterator[bytes]
    ) -> UploadReply:
        decision = decide_chunk(session, command, self.limits.max_file_bytes)
        if isinstance(decision, Refuse):
            raise decision.error
        if isinstance(decision, RetryFinal):
            return await self.finalizer.retry_after_final(session, decision.offset, body, decision.length)
        if isinstance(decision, CompareResent):
            return await self._resent(session, decision.part, command, body)
        if isinstance(decision, Append):
            # Planned faults fire at finalize too (file.processing): a project with any takes the usual path.
            if self.whole.fits(session, decision, command) and not self.faults.faults(session.project):
                return await self.whole.finish_session_whole(session, decision, body)
            appended = await self.chunks.append(session, decision, body)
            if isinstance(appended, Overtaken):
                return await self._overtaken(appended.latest, decision.start, command, body)
            session = appended
        return await self._after_commit(session, command.finalize)

    async def _resent(
        self, session: UploadSession, last: PartRef, command: ChunkCommand, body: AsyncIterator[bytes]
    ) -> UploadReply:
        if await self.blobs.same_part(session.upload_key, session.blob_state, last, body):
            return await self._after_commit(session, command.finalize)
        raise bad_offset(session, session.received - last.size)

    async def _overtaken(
        self, latest: UploadSession, offset: int, command: ChunkCommand, body: AsyncIterator[bytes]
    ) -> UploadReply:
        # A concurrent request finished this offset first (typically the first attempt of a re-sent last
        # chunk, finalizing): answer as a retry against where the session now stands.
        latest = await self.finalizer.settled_session(latest)
        if latest.status == SessionStatus.FINAL:
            return await self.finalizer.retry_after_final(latest, offset, body, command.length)
        raise bad_offset(latest, offset)

    async def _after_commit(self, session: UploadSession, finalize: bool) -> UploadReply:
        decision = after_commit(session, finalize)
        if isinstance(decision, Refuse):
            raise decision.error
        if isinstance(decision, Answer):
            return decision.reply
        if isinstance(decision, Finalize):
            return await self.finalizer.finalize(session)
        return await self.finalizer.reply_for(session)

    async def abandon(self, session: UploadSession) -> None:
        """Ends a one-shot upload whose request failed (its bytes are collected)."""
        await self.meta.cancel_session(session.token_digest, self.clock.now())


__all__ = ["ChunkCommand", "Limits", "UploadError", "UploadReply", "UploadService", "sha256_base64"]
