"""Upload sessions: the X-Goog-Upload state machine (WIRE.md 5.4), independent of HTTP.

Every chunk is written to its own part and committed with a compare-and-set on the session's received
offset, so a chunk re-sent after a lost reply, two racing attempts at the same offset, or a process killed
mid-chunk can never corrupt the file: the part that was committed first is the one that counts. The
running SHA-256 state is saved with every commit, so any process can take the next chunk.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, NoReturn

from gemfiles.domain.clock import Clock
from gemfiles.domain.hashing import ResumableSha256
from gemfiles.domain.ids import IdFactory, new_file_id, new_upload_token, parse_file_name, token_digest
from gemfiles.domain.mime import is_supported, needs_processing
from gemfiles.domain.models import FileRecord, FileSource, FileState, PartRef, SessionStatus, UploadSession
from gemfiles.domain.ports import BlobStore, MetadataStore, PartUnreadable, SessionGone
from gemfiles.domain.sniff import OCTET_STREAM, SNIFF_BYTES, is_untyped, sniff_mime
from gemfiles.errors import (
    AlreadyExists,
    ApiError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)

log = logging.getLogger("gemfiles.uploads")

BLOCK_BYTES = 1024 * 1024
# A chunk that finds its upload's parts joined waits this long for the finalizing request to record the file.
JOINED_WAITS = 10
JOINED_WAIT_SECONDS = 0.2
MAX_DISPLAY_NAME = 512


@dataclass(frozen=True, slots=True)
class Limits:
    max_file_bytes: int
    project_quota_bytes: int
    file_ttl: timedelta
    session_ttl: timedelta


@dataclass(frozen=True, slots=True)
class UploadReply:
    """What the upload URL answers: ``X-Goog-Upload-Status``, ``Size-Received`` and maybe the File."""

    status: str
    received: int | None = None
    file: FileRecord | None = None


def upload_error(error: ApiError, status: str, received: int | None = None) -> ApiError:
    """Every reply of the upload URL carries X-Goog-Upload-Status, errors included (WIRE.md 12.5)."""
    error.upload = UploadReply(status, received)  # type: ignore[attr-defined]
    return error


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
    ) -> None:
        self.meta = meta
        self.blobs = blobs
        self.clock = clock
        self.limits = limits
        self.new_id = new_id
        self.new_token = new_token
        self.resumable_hash = ResumableSha256.available()
        self._finalizing: dict[str, _Finalizing] = {}

    # start ------------------------------------------------------------------------------------------
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
        if display_name is not None and len(display_name) > MAX_DISPLAY_NAME:
            raise InvalidArgument(f"displayName must be at most {MAX_DISPLAY_NAME} characters.")
        if not mime_type or len(mime_type) > 255:
            raise InvalidArgument("mimeType must be 1 to 255 characters.")
        if declared_size is not None:
            if declared_size < 0:
                raise InvalidArgument("The declared upload size must not be negative.")
            if declared_size > self.limits.max_file_bytes:
                raise InvalidArgument(
                    f"The file is {declared_size} bytes, over the maximum file size of "
                    f"{self.limits.max_file_bytes} bytes."
                )
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
        except BaseException:
            await self.blobs.abort_upload(session.upload_key, session.blob_state, [])
            raise
        return token, session

    # the upload URL ---------------------------------------------------------------------------------
    async def session_for(self, token: str, project: str | None) -> UploadSession:
        session = await self.meta.get_session(token_digest(token)) if token else None
        if session is None or (
            session.status == SessionStatus.ACTIVE and session.expire_time <= self.clock.now()
        ):
            raise upload_error(NotFound("The upload session does not exist or has expired."), "final")
        if project is not None and project != session.project:
            # The upload id is bound to the project that started it.
            raise upload_error(NotFound("The upload session does not exist or has expired."), "final")
        return session

    async def query(self, session: UploadSession) -> UploadReply:
        return await self._reply_for(session)

    async def cancel(self, session: UploadSession) -> UploadReply:
        if session.status == SessionStatus.ACTIVE:
            if await self.meta.cancel_session(session.token_digest, self.clock.now()):
                return UploadReply("cancelled")
            session = await self._reload(session)
        if session.status == SessionStatus.CANCELLED:
            raise _cancelled()
        raise upload_error(
            FailedPrecondition("The upload is already finalized and cannot be cancelled."), "final"
        )

    async def chunk(
        self,
        session: UploadSession,
        *,
        offset: int | None,
        finalize: bool,
        upload: bool,
        body: AsyncIterator[bytes],
        length: int | None,
    ) -> UploadReply:
        if session.status == SessionStatus.CANCELLED:
            raise _cancelled()
        if session.status == SessionStatus.FAILED:
            raise self._replayed_failure(session)
        if not upload:
            length = 0
        if upload and offset is None:
            raise upload_error(
                InvalidArgument("X-Goog-Upload-Offset is required with the upload command."),
                self._wire_status(session),
                session.received,
            )
        offset = session.received if offset is None else offset
        if session.status == SessionStatus.FINAL:
            return await self._retry_after_final(session, offset, body, length)
        if offset != session.received:
            last = session.parts[-1] if session.parts else None
            if last is not None and offset == session.received - last.size and length in (None, last.size):
                # The same chunk again (its reply was lost): answer as before if the bytes match.
                if await self._matches_part(session, last, body):
                    return await self._after_commit(session, finalize)
            raise self._bad_offset(session, offset)
        try:
            if length and upload:
                self._check_room(session, length)
                session = await self._append(session, body, length)
            elif upload and length is None:
                session = await self._append(session, body, None)
        except _Overtaken:
            # A concurrent request finished this offset first (typically the first attempt of a re-sent
            # last chunk, finalizing): answer as a retry against where the session now stands.
            latest = await self._settled(session)
            if latest.status == SessionStatus.FINAL:
                return await self._retry_after_final(latest, offset, body, length)
            raise self._bad_offset(latest, offset) from None
        return await self._after_commit(session, finalize)

    # internals --------------------------------------------------------------------------------------
    def _check_room(self, session: UploadSession, length: int) -> None:
        end = session.received + length
        if session.declared_size is not None and end > session.declared_size:
            raise upload_error(
                InvalidArgument(
                    f"The upload would hold {end} bytes, more than the {session.declared_size} declared in "
                    "X-Goog-Upload-Header-Content-Length."
                ),
                "active",
                session.received,
            )
        if end > self.limits.max_file_bytes:
            raise upload_error(
                InvalidArgument(
                    f"The file would exceed the maximum file size of {self.limits.max_file_bytes} bytes."
                ),
                "active",
                session.received,
            )

    async def _append(
        self, session: UploadSession, body: AsyncIterator[bytes], length: int | None
    ) -> UploadSession:
        start = session.received
        room = self.limits.max_file_bytes - start
        if session.declared_size is not None:
            room = min(room, session.declared_size - start)
        hasher = None
        if self.resumable_hash:
            hasher = ResumableSha256(session.hash_state)
        observe = hasher.update if hasher is not None and self.blobs.observes_blocks else None
        blocks = _blocks(body, room, lambda: self._check_room(session, room + 1), None if observe else hasher)
        try:
            part = await self._put_part(session, blocks, length, observe)
        except OSError as exc:
            await self._store_failed(session, start, exc)
        if part.size == 0:
            return session
        if length is not None and part.size != length:
            raise upload_error(
                InvalidArgument(f"The chunk ended after {part.size} of its {length} bytes."), "active", start
            )
        extra = part.size if session.declared_size is None else 0
        try:
            committed = await self.meta.commit_part(
                session.token_digest,
                start,
                part,
                hasher.state() if hasher else None,
                extra,
                self.limits.project_quota_bytes,
                self.clock.now(),
            )
        except ResourceExhausted as exc:
            # Undeclared sizes reserve as bytes arrive: the refused chunk is not committed, the session lives.
            raise upload_error(exc, "active", start) from None
        latest = await self._reload(session)
        if committed:
            return latest
        # Another attempt at this offset won the race. If it stored the same bytes, this one succeeded too.
        winner = latest.parts[len(session.parts)] if len(latest.parts) > len(session.parts) else None
        if winner is not None and winner.size == part.size and latest.received == start + part.size:
            if hasher is not None and latest.hash_state is not None:
                # Same start state + same bytes = same running digest. No part is read back: the winner may
                # already have finalized, which removes the losing part and moves the winner's.
                if latest.hash_state == hasher.state():
                    return latest
            else:
                ours = self.blobs.read_part(session.upload_key, session.blob_state, part)
                theirs = self.blobs.read_part(session.upload_key, latest.blob_state, winner)
                if await _same_bytes_or_gone(ours, theirs):
                    return latest
        raise self._bad_offset(latest, start)

    async def _store_failed(self, session: UploadSession, start: int, exc: OSError) -> NoReturn:
        """Why the blob store refused a chunk, as the client should hear it.

        A finalize that completed meanwhile has moved the upload's parts away: the chunk is answered as a
        retry against the final session. A finalize still running in another process, or one interrupted
        after joining the parts (a crash before the file was recorded), leaves the session active with its
        parts joined: no byte can be added any more, and the client is told to finalize. Anything else is
        the store failing (a full disk, S3 unreachable): 503, and the chunk can be sent again.
        """
        latest = await self._settled(session)
        if latest.status != SessionStatus.ACTIVE or latest.received != start:
            raise _Overtaken() from None
        try:
            joined = await self.blobs.is_completed(session.upload_key, session.blob_state)
        except Exception:
            joined = False
        if joined:
            for _ in range(JOINED_WAITS):
                await asyncio.sleep(JOINED_WAIT_SECONDS)  # another process may be about to record the file
                latest = await self._reload(session)
                if latest.status != SessionStatus.ACTIVE or latest.received != start:
                    raise _Overtaken() from None
            raise upload_error(
                FailedPrecondition(
                    "The upload is being finalized and can take no more bytes: send "
                    "X-Goog-Upload-Command: finalize to finish it."
                ),
                "active",
                start,
            ) from None
        log.warning("the blob store did not take a chunk of upload %s: %s", session.file_id, exc)
        raise upload_error(
            Unavailable("The chunk could not be stored. Send it again."), "active", start
        ) from None

    async def _put_part(
        self,
        session: UploadSession,
        blocks: AsyncIterator[bytes],
        length: int | None,
        observe: Callable[[bytes], None] | None,
    ) -> PartRef:
        extra = {"observe": observe} if observe is not None else {}
        if self.blobs.detects_part_reuse:
            try:
                return await self.blobs.put_part(
                    session.upload_key, session.blob_state, session.next_part, blocks, length, **extra
                )
            except FileExistsError:
                pass  # another attempt at this offset took the number (or a crash left its part): allocate
        number = await self.meta.allocate_part(session.token_digest)
        return await self.blobs.put_part(
            session.upload_key, session.blob_state, number, blocks, length, **extra
        )

    async def _matches_part(self, session: UploadSession, part: PartRef, body: AsyncIterator[bytes]) -> bool:
        """Whether ``body`` holds the bytes of a committed, not yet completed part."""
        stored = aiter(self.blobs.read_part(session.upload_key, session.blob_state, part))
        try:
            first = await anext(stored, b"")
        except PartUnreadable:
            return await _md5_matches(body, part.etag)
        except OSError:
            return False

        async def replay() -> AsyncIterator[bytes]:
            yield first
            async for block in stored:
                yield block

        return await _same_bytes_or_gone(body, replay())

    async def _after_commit(self, session: UploadSession, finalize: bool) -> UploadReply:
        if session.status != SessionStatus.ACTIVE:
            return await self._reply_for(session)
        if not finalize:
            return UploadReply("active", session.received)
        declared = session.declared_size
        if declared is not None and session.received != declared:
            raise upload_error(
                InvalidArgument(
                    f"The upload was finalized with {session.received} bytes, but "
                    f"X-Goog-Upload-Header-Content-Length declared {declared}."
                ),
                "active",
                session.received,
            )
        return await self._finalize(session)

    async def _finalize(self, session: UploadSession) -> UploadReply:
        # One finalize per session at a time in this process: a client that re-sends its last chunk while
        # the first attempt is still finalizing must not join the parts twice at once. The second one sees
        # the session final and replays the reply; across processes the store's compare-and-set decides.
        entry = self._finalizing.setdefault(session.token_digest, _Finalizing())
        entry.users += 1
        try:
            async with entry.lock:
                latest = await self._reload(session)
                if latest.status != SessionStatus.ACTIVE:
                    return await self._reply_for(latest)
                if latest.received != session.received:
                    raise self._bad_offset(latest, session.received)
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
                raise upload_error(error, "final")
            return await self._reply_for(await self._reload(session))
        try:
            blob_key = await self.blobs.complete_upload(session.upload_key, session.blob_state, session.parts)
        except OSError as exc:
            # The store failed (a full disk, S3 unreachable); completing is idempotent, so finalize may be
            # sent again as it is.
            log.warning("the blob store did not complete upload %s: %s", session.file_id, exc)
            raise upload_error(
                Unavailable("The upload could not be completed. Send the finalize command again."),
                "active",
                session.received,
            ) from None
        if session.hash_state is not None and self.resumable_hash:
            hex_digest = ResumableSha256(session.hash_state).hexdigest()
        elif session.received == 0:
            hex_digest = ResumableSha256().hexdigest() if self.resumable_hash else _empty_sha256()
        else:
            hex_digest = await _hash_object(self.blobs, blob_key)
        processing = needs_processing(session.mime_type)
        record = FileRecord(
            project=session.project,
            id=session.file_id,
            display_name=session.display_name,
            mime_type=session.mime_type,
            size_bytes=session.received,
            sha256_hex=hex_digest,
            create_time=now,
            update_time=now,
            expire_time=now + self.limits.file_ttl,
            blob_key=blob_key,
            state=FileState.PROCESSING if processing else FileState.ACTIVE,
            source=FileSource.UPLOADED,
        )
        try:
            record = await self.meta.finish_session(session.token_digest, record, now)
        except AlreadyExists as exc:
            raise upload_error(exc, "final") from None
        except SessionGone:
            return await self._reply_for(await self._reload(session))
        return UploadReply("final", session.received, record)

    async def _typed_by_content(self, session: UploadSession) -> UploadSession:
        """An upload without a type takes the one its first bytes show (domain/sniff.py)."""
        try:
            key = await self.blobs.complete_upload(session.upload_key, session.blob_state, session.parts)
            head = bytearray()
            async for block in self.blobs.open(key, 0, min(SNIFF_BYTES, session.received)):
                head += block
        except OSError:
            return session  # completing again below reports the store's failure
        return replace(session, mime_type=sniff_mime(bytes(head)) or OCTET_STREAM)

    async def _retry_after_final(
        self, session: UploadSession, offset: int, body: AsyncIterator[bytes], length: int | None
    ) -> UploadReply:
        reply = await self._reply_for(session)
        if reply.file is None:
            return reply
        end = offset + (length or 0)
        if length and end == session.received and offset >= 0:
            stored = self.blobs.open(reply.file.blob_key, offset, end)
            if await _same_bytes(body, stored):
                return reply
        elif not length and offset == session.received:
            return reply
        raise upload_error(
            FailedPrecondition("The upload is already finalized; no more bytes can be added."),
            "final",
        )

    async def _reply_for(self, session: UploadSession) -> UploadReply:
        if session.status == SessionStatus.ACTIVE:
            return UploadReply("active", session.received)
        if session.status == SessionStatus.CANCELLED:
            # Only the cancel itself answers 200; anything after it is refused (WIRE.md 5.4, 5.6).
            raise _cancelled()
        if session.status == SessionStatus.FAILED:
            raise self._replayed_failure(session)
        record = await self.meta.get_file(session.project, session.file_id, self.clock.now())
        if record is None:
            raise upload_error(NotFound("The file made by this upload no longer exists."), "final")
        return UploadReply("final", None, record)

    def _replayed_failure(self, session: UploadSession) -> ApiError:
        error = session.result_error or {}
        message = str(error.get("message", "The upload failed."))
        cls = AlreadyExists if error.get("status") == "ALREADY_EXISTS" else InvalidArgument
        return upload_error(cls(message), "final")

    def _bad_offset(self, session: UploadSession, offset: int) -> ApiError:
        if session.status != SessionStatus.ACTIVE:
            return upload_error(
                FailedPrecondition("The upload is no longer active."),
                self._wire_status(session),
                session.received,
            )
        return upload_error(
            InvalidArgument(
                f"Invalid X-Goog-Upload-Offset {offset}: the server has {session.received} bytes of this upload; "
                "send the next chunk at that offset."
            ),
            "active",
            session.received,
        )

    @staticmethod
    def _wire_status(session: UploadSession) -> str:
        return {SessionStatus.ACTIVE: "active", SessionStatus.CANCELLED: "cancelled"}.get(
            session.status, "final"
        )

    async def _settled(self, session: UploadSession) -> UploadSession:
        """The session once any finalize of it running in this process is done."""
        entry = self._finalizing.get(session.token_digest)
        if entry is not None:
            async with entry.lock:
                pass
        return await self._reload(session)

    async def _reload(self, session: UploadSession) -> UploadSession:
        latest = await self.meta.get_session(session.token_digest)
        if latest is None:
            raise upload_error(NotFound("The upload session does not exist or has expired."), "final")
        return latest


class _Overtaken(Exception):
    """Another request moved the session on while this chunk was arriving."""


class _Finalizing:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


def _cancelled() -> ApiError:
    return upload_error(FailedPrecondition("The upload was cancelled."), "cancelled")


async def _blocks(
    body: AsyncIterator[bytes],
    room: int,
    too_big: Any,
    hasher: ResumableSha256 | None,
) -> AsyncIterator[bytes]:
    """Coalesces network reads into ~1 MiB blocks, refuses bytes past ``room`` and hashes behind.

    The hash of block k runs in a worker thread while the blob store writes block k in another and the
    event loop receives block k+1: the three overlap, and memory holds a few blocks at most.
    """
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] | None = None
    buffered: list[bytes] = []
    size = 0
    total = 0

    async def emit(block: bytes) -> bytes:
        nonlocal pending
        if hasher is not None:
            if pending is not None:
                await pending
            pending = loop.run_in_executor(None, hasher.update, block)
        return block

    try:
        async for data in body:
            if not data:
                continue
            total += len(data)
            if total > room:
                too_big()
            buffered.append(data)
            size += len(data)
            if size >= BLOCK_BYTES:
                block = buffered[0] if len(buffered) == 1 else b"".join(buffered)
                buffered, size = [], 0
                yield await emit(block)
        if buffered:
            yield await emit(b"".join(buffered))
    finally:
        if pending is not None:
            await asyncio.gather(pending, return_exceptions=True)


async def _same_bytes(left: AsyncIterator[bytes], right: AsyncIterator[bytes]) -> bool:
    """Compares two byte streams of any chunking (stops at the first difference)."""
    left_it, right_it = aiter(left), aiter(right)
    left_buf = right_buf = memoryview(b"")
    while True:
        if not left_buf:
            left_buf = memoryview(await _next_nonempty(left_it))
        if not right_buf:
            right_buf = memoryview(await _next_nonempty(right_it))
        if not left_buf or not right_buf:
            return not left_buf and not right_buf
        common = min(len(left_buf), len(right_buf))
        if left_buf[:common] != right_buf[:common]:
            return False
        left_buf, right_buf = left_buf[common:], right_buf[common:]


async def _same_bytes_or_gone(left: AsyncIterator[bytes], right: AsyncIterator[bytes]) -> bool:
    """Like _same_bytes, but a part that a concurrent finalize has just moved away counts as different."""
    try:
        return await _same_bytes(left, right)
    except OSError:
        return False


async def _md5_matches(body: AsyncIterator[bytes], etag: str) -> bool:
    """An S3 part's ETag is the MD5 of its bytes (hex, quoted): the re-sent chunk must hash to it."""
    expected = etag.strip('"').lower()
    if not re.fullmatch(r"[0-9a-f]{32}", expected):
        return False
    digest = hashlib.md5(usedforsecurity=False)
    async for block in body:
        await asyncio.to_thread(digest.update, block)
    return digest.hexdigest() == expected


async def _next_nonempty(iterator: AsyncIterator[bytes]) -> bytes:
    async for block in iterator:
        if block:
            return block
    return b""


async def _hash_object(blobs: BlobStore, key: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    async for block in blobs.open(key):
        await asyncio.to_thread(digest.update, block)
    return digest.hexdigest()


def _empty_sha256() -> str:
    import hashlib

    return hashlib.sha256(b"").hexdigest()


__all__ = ["Limits", "PartRef", "UploadReply", "UploadService", "sha256_base64", "upload_error"]
