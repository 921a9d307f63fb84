"""The chunk pipeline: a chunk's body coalesced into blocks, kept within the room left, hashed, stored as a
part and committed with a compare-and-set on the session's received offset.

Every chunk is written to its own part, so a chunk re-sent after a lost reply, two racing attempts at the
same offset, or a process killed mid-chunk can never corrupt the file: the part committed first is the one
that counts. The running SHA-256 state is saved with every commit, so any process can take the next chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import NoReturn

from gemfiles.domain.clock import Clock
from gemfiles.domain.finalize import FinalizeCoordinator, Overtaken
from gemfiles.domain.hashing import ResumableSha256
from gemfiles.domain.models import PartRef, UploadSession
from gemfiles.domain.ports import (
    BlobStore,
    MetadataStore,
    NoTelemetry,
    PartUnreadable,
    QuotaRefused,
    Telemetry,
)
from gemfiles.domain.refusals import quota_exceeded
from gemfiles.domain.upload_machine import Append, UploadError, bad_offset, ended_early, overflow

BLOCK_BYTES = 1024 * 1024


class SessionPartNumbers:
    """Part numbers for one chunk: the session's next one, or one allocated by the metadata store."""

    def __init__(self, meta: MetadataStore, session: UploadSession) -> None:
        self._meta = meta
        self._session = session

    @property
    def next(self) -> int:
        return self._session.next_part

    async def allocate(self) -> int:
        return await self._meta.allocate_part(self._session.token_digest)


class ChunkPipeline:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        clock: Clock,
        finalizer: FinalizeCoordinator,
        *,
        max_file_bytes: int,
        quota_bytes: int,
        resumable_hash: bool,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.meta = meta
        self.blobs = blobs
        self.clock = clock
        self.finalizer = finalizer
        self.max_file_bytes = max_file_bytes
        self.quota_bytes = quota_bytes
        self.resumable_hash = resumable_hash
        self.telemetry = telemetry or NoTelemetry()

    async def append(
        self, session: UploadSession, plan: Append, body: AsyncIterator[bytes]
    ) -> UploadSession | Overtaken:
        """Stores and commits one chunk; the session after it, or Overtaken if another request won."""
        hasher = ResumableSha256(session.hash_state) if self.resumable_hash else None

        def too_big() -> NoReturn:
            raise overflow(session, self.max_file_bytes)

        blocks = coalesce(body, plan.room, too_big)
        observe = hasher.update if hasher is not None else None
        try:
            part = await self.blobs.put_part(
                session.upload_key,
                session.blob_state,
                SessionPartNumbers(self.meta, session),
                blocks,
                plan.length,
                observe,
            )
        except OSError as exc:
            failure = exc
        else:
            self.telemetry.upload_bytes(part.size)
            return await self._commit(session, plan, part, hasher)
        return await self.finalizer.store_failed(session, plan.start, failure)

    async def _commit(
        self, session: UploadSession, plan: Append, part: PartRef, hasher: ResumableSha256 | None
    ) -> UploadSession:
        if part.size == 0:
            return session
        if plan.length is not None and part.size != plan.length:
            raise ended_early(part.size, plan.length, plan.start)
        extra = part.size if session.declared_size is None else 0
        try:
            committed = await self.meta.commit_part(
                session.token_digest,
                plan.start,
                part,
                hasher.state() if hasher else None,
                extra,
                self.quota_bytes,
                self.clock.now(),
            )
        except QuotaRefused as exc:
            # Undeclared sizes reserve as bytes arrive: the refused chunk is not committed, the session lives.
            raise UploadError(quota_exceeded(exc), "active", plan.start) from None
        latest = await self.finalizer.reload(session)
        if committed or await self._lost_to_the_same_bytes(session, latest, part, hasher):
            return latest
        raise bad_offset(latest, plan.start)

    async def _lost_to_the_same_bytes(
        self, session: UploadSession, latest: UploadSession, part: PartRef, hasher: ResumableSha256 | None
    ) -> bool:
        """Another attempt at this offset won the race: whether it stored the same bytes as this one."""
        index = len(session.parts)
        winner = latest.parts[index] if len(latest.parts) > index else None
        if winner is None or winner.size != part.size or latest.received != session.received + part.size:
            return False
        if hasher is not None and latest.hash_state is not None:
            # Same start state + same bytes = same running digest. No part is read back: the winner may
            # already have finalized, which removes the losing part and moves the winner's.
            return latest.hash_state == hasher.state()
        ours = self.blobs.read_part(session.upload_key, session.blob_state, part)
        try:
            return await self.blobs.same_part(session.upload_key, latest.blob_state, winner, ours)
        except (OSError, PartUnreadable):
            return False


async def coalesce(
    body: AsyncIterator[bytes], room: int, too_big: Callable[[], NoReturn]
) -> AsyncIterator[bytes]:
    """Coalesces network reads into ~1 MiB blocks and refuses bytes past ``room``.

    The blob store hashes and writes block k in a worker thread while the event loop receives block k+1,
    so memory holds a few blocks at most.
    """
    buffered: list[bytes] = []
    size = 0
    total = 0
    async for data in body:
        if not data:
            continue
        total += len(data)
        if total > room:
            too_big()
        buffered.append(data)
        size += len(data)
        if size >= BLOCK_BYTES:
            yield buffered[0] if len(buffered) == 1 else b"".join(buffered)
            buffered, size = [], 0
    if buffered:
        yield b"".join(buffered)
