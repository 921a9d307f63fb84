"""UploadService on the in-memory twin of the stores: whole upload conversations, in milliseconds."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest

from gemfiles.domain.clock import OffsetClock
from gemfiles.domain.models import SessionStatus, UploadSession
from gemfiles.domain.ports import PartNumbers
from gemfiles.domain.upload_machine import ChunkCommand, UploadError, UploadReply
from gemfiles.domain.uploads import Limits, UploadService
from gemfiles.errors import AlreadyExists, QuotaExceeded
from gemfiles.storage.memory import MemoryBlobStore, MemoryMetadataStore, forget

QUOTA = 10_000


@pytest.fixture
def name() -> Iterator[str]:
    name = f"unit-{uuid.uuid4().hex[:12]}"
    yield name
    forget(name)


@pytest.fixture
def meta(name: str) -> MemoryMetadataStore:
    return MemoryMetadataStore(name)


@pytest.fixture
def blobs(name: str) -> MemoryBlobStore:
    return MemoryBlobStore(name)


def service_on(
    meta: MemoryMetadataStore, blobs: MemoryBlobStore, *, resumable_hash: bool = True
) -> UploadService:
    limits = Limits(
        max_file_bytes=5_000,
        project_quota_bytes=QUOTA,
        file_ttl=timedelta(hours=48),
        session_ttl=timedelta(days=7),
    )
    return UploadService(meta, blobs, OffsetClock(), limits, resumable_hash=resumable_hash)


@pytest.fixture(params=[True, False], ids=["running-sha256", "sha256-at-finalize"])
def uploads(
    request: pytest.FixtureRequest, meta: MemoryMetadataStore, blobs: MemoryBlobStore
) -> UploadService:
    return service_on(meta, blobs, resumable_hash=request.param)


async def body(data: bytes, *, gate: asyncio.Event | None = None) -> AsyncIterator[bytes]:
    if gate is not None:
        await gate.wait()
    for start in range(0, len(data), 7):
        yield data[start : start + 7]


async def start(uploads: UploadService, size: int | None, **options: object) -> UploadSession:
    settings: dict[str, object] = {"name": None, "display_name": None, "mime_type": "text/plain"}
    settings.update(options)
    _token, session = await uploads.start("p", declared_size=size, **settings)  # type: ignore[arg-type]
    return session


async def send(
    uploads: UploadService,
    session: UploadSession,
    offset: int,
    data: bytes,
    *,
    finalize: bool = False,
    gate: asyncio.Event | None = None,
) -> UploadReply:
    command = ChunkCommand(offset, len(data), upload=True, finalize=finalize)
    return await uploads.chunk(session, command, body(data, gate=gate))


async def fresh(uploads: UploadService, session: UploadSession) -> UploadSession:
    return await uploads.finalizer.reload(session)


async def read(blobs: MemoryBlobStore, key: str) -> bytes:
    return b"".join([block async for block in blobs.open(key)])


async def refused(call: object) -> UploadError:
    with pytest.raises(UploadError) as caught:
        await call  # type: ignore[misc]
    return caught.value


# The happy path --------------------------------------------------------------------------------------------
async def test_chunks_then_finalize_make_a_file_of_those_bytes(
    uploads: UploadService, blobs: MemoryBlobStore
) -> None:
    session = await start(uploads, 30)
    assert await send(uploads, session, 0, b"a" * 20) == UploadReply("active", 20)
    final = await send(uploads, await fresh(uploads, session), 20, b"b" * 10, finalize=True)
    assert final.status == "final" and final.file is not None
    assert final.file.size_bytes == 30
    assert final.file.sha256_hex == hashlib.sha256(b"a" * 20 + b"b" * 10).hexdigest()
    assert await read(blobs, final.file.blob_key) == b"a" * 20 + b"b" * 10


async def test_an_empty_upload_finalizes_to_an_empty_file(uploads: UploadService) -> None:
    session = await start(uploads, 0)
    reply = await send(uploads, session, 0, b"", finalize=True)
    assert reply.file is not None and reply.file.sha256_hex == hashlib.sha256(b"").hexdigest()


async def test_query_answers_the_size_received(uploads: UploadService) -> None:
    session = await start(uploads, 30)
    await send(uploads, session, 0, b"x" * 12)
    assert await uploads.query(await fresh(uploads, session)) == UploadReply("active", 12)


# Retries and races -----------------------------------------------------------------------------------------
async def test_a_resent_chunk_with_the_same_bytes_is_answered_as_before(uploads: UploadService) -> None:
    session = await start(uploads, 30)
    await send(uploads, session, 0, b"first-chunk")
    latest = await fresh(uploads, session)
    assert await send(uploads, latest, 0, b"first-chunk") == UploadReply("active", 11)
    assert (await fresh(uploads, session)).received == 11


async def test_a_resent_chunk_with_other_bytes_is_a_bad_offset(uploads: UploadService) -> None:
    session = await start(uploads, 30)
    await send(uploads, session, 0, b"first-chunk")
    error = await refused(send(uploads, await fresh(uploads, session), 0, b"other-bytes"))
    assert (error.error.code, error.status, error.received) == (400, "active", 11)


async def test_a_chunk_overtaken_by_an_identical_attempt_succeeds_too(uploads: UploadService) -> None:
    session = await start(uploads, 30)
    gate = asyncio.Event()
    slow = asyncio.ensure_future(send(uploads, session, 0, b"same bytes", gate=gate))
    await asyncio.sleep(0)
    assert await send(uploads, session, 0, b"same bytes") == UploadReply("active", 10)
    gate.set()
    assert await slow == UploadReply("active", 10)
    latest = await fresh(uploads, session)
    assert latest.received == 10 and len(latest.parts) == 1


async def test_a_chunk_overtaken_by_other_bytes_is_a_bad_offset(uploads: UploadService) -> None:
    session = await start(uploads, 30)
    gate = asyncio.Event()
    slow = asyncio.ensure_future(send(uploads, session, 0, b"loser bytes", gate=gate))
    await asyncio.sleep(0)
    await send(uploads, session, 0, b"winner byte")
    gate.set()
    error = await refused(slow)
    assert (error.error.code, error.status, error.received) == (400, "active", 11)


async def test_a_last_chunk_overtaken_by_its_finalizing_retry_answers_final(uploads: UploadService) -> None:
    session = await start(uploads, 10)
    await send(uploads, session, 0, b"01234")
    session = await fresh(uploads, session)
    gate = asyncio.Event()
    slow = asyncio.ensure_future(send(uploads, session, 5, b"56789", finalize=True, gate=gate))
    await asyncio.sleep(0)
    retry = await send(uploads, session, 5, b"56789", finalize=True)
    gate.set()
    assert retry.file is not None
    if not uploads.chunks.resumable_hash:
        # Without a running digest to compare, the losing attempt would have to read the winner's part,
        # which the finalize has moved: it is refused, and the retry that won holds the file.
        error = await refused(slow)
        assert (error.error.status, error.status) == ("FAILED_PRECONDITION", "final")
        return
    first = await slow
    assert first.file is not None
    assert (first.status, first.file.id) == ("final", retry.file.id)


async def test_a_whole_file_chunk_overtaken_by_its_finalizing_retry_answers_final(
    uploads: UploadService,
) -> None:
    # The first chunk that is the whole file takes the one-transaction path; its digest is the file's.
    session = await start(uploads, 10)
    gate = asyncio.Event()
    slow = asyncio.ensure_future(send(uploads, session, 0, b"0123456789", finalize=True, gate=gate))
    await asyncio.sleep(0)
    retry = await send(uploads, session, 0, b"0123456789", finalize=True)
    gate.set()
    assert retry.file is not None
    first = await slow
    assert first.file is not None
    assert (first.status, first.file.id) == ("final", retry.file.id)


async def test_a_whole_file_chunk_overtaken_by_other_bytes_is_refused(uploads: UploadService) -> None:
    session = await start(uploads, 10)
    gate = asyncio.Event()
    slow = asyncio.ensure_future(send(uploads, session, 0, b"loser byte", finalize=True, gate=gate))
    await asyncio.sleep(0)
    retry = await send(uploads, session, 0, b"winner byt", finalize=True)
    gate.set()
    assert retry.file is not None
    error = await refused(slow)
    assert (error.error.code, error.status) == (400, "final")


async def test_a_chunk_sent_after_another_request_finalized_is_answered_against_the_final_session(
    uploads: UploadService,
) -> None:
    session = await start(uploads, 10)
    await send(uploads, session, 0, b"01234")
    stale = await fresh(uploads, session)
    done = await send(uploads, stale, 5, b"56789", finalize=True)
    # The same last chunk again, from a request that read the session before the finalize.
    again = await send(uploads, stale, 5, b"56789", finalize=True)
    assert again.status == "final" and again.file is not None and done.file is not None
    assert again.file.id == done.file.id
    error = await refused(send(uploads, stale, 5, b"xxxxx", finalize=True))
    assert (error.error.status, error.status) == ("FAILED_PRECONDITION", "final")


async def test_finalize_twice_replays_the_same_file(uploads: UploadService) -> None:
    session = await start(uploads, 4)
    first = await send(uploads, session, 0, b"abcd", finalize=True)
    finalize = ChunkCommand(None, 0, upload=False, finalize=True)
    second = await uploads.chunk(await fresh(uploads, session), finalize, body(b""))
    assert first.file is not None and second.file is not None
    assert (second.status, second.file.id, second.file.sha256_hex) == (
        "final",
        first.file.id,
        first.file.sha256_hex,
    )


async def test_two_finalizes_at_once_make_one_file(uploads: UploadService) -> None:
    session = await start(uploads, 4)
    await send(uploads, session, 0, b"abcd")
    latest = await fresh(uploads, session)
    finalize = ChunkCommand(None, 0, upload=False, finalize=True)
    replies = await asyncio.gather(*(uploads.chunk(latest, finalize, body(b"")) for _ in range(3)))
    assert {r.file.id for r in replies if r.file is not None} == {session.file_id}
    assert all(r.status == "final" for r in replies)


# Cancel ----------------------------------------------------------------------------------------------------
async def test_cancel_then_any_command_is_refused_cancelled(uploads: UploadService) -> None:
    session = await start(uploads, 10)
    assert await uploads.cancel(session) == UploadReply("cancelled")
    latest = await fresh(uploads, session)
    for call in (uploads.cancel(latest), uploads.query(latest), send(uploads, latest, 0, b"x")):
        error = await refused(call)
        assert (error.error.status, error.status) == ("FAILED_PRECONDITION", "cancelled")


async def test_cancel_after_final_is_refused_final(uploads: UploadService) -> None:
    session = await start(uploads, 1)
    await send(uploads, session, 0, b"x", finalize=True)
    error = await refused(uploads.cancel(await fresh(uploads, session)))
    assert (error.error.code, error.status) == (400, "final")


async def test_cancel_of_a_stale_active_session_finalized_meanwhile_is_refused_final(
    uploads: UploadService,
) -> None:
    session = await start(uploads, 1)
    stale = await fresh(uploads, session)
    await send(uploads, session, 0, b"x", finalize=True)
    error = await refused(uploads.cancel(stale))
    assert "cannot be cancelled" in error.error.message and error.status == "final"


# Sizes and quota -------------------------------------------------------------------------------------------
async def test_finalize_short_of_the_declared_size_is_refused_and_the_session_lives(
    uploads: UploadService,
) -> None:
    session = await start(uploads, 10)
    error = await refused(send(uploads, session, 0, b"12345", finalize=True))
    assert (error.error.code, error.status, error.received) == (400, "active", 5)
    assert (await fresh(uploads, session)).status == SessionStatus.ACTIVE


async def test_a_chunk_that_ends_early_is_refused_and_nothing_is_committed(uploads: UploadService) -> None:
    session = await start(uploads, 10)
    command = ChunkCommand(0, 8, upload=True, finalize=False)
    error = await refused(uploads.chunk(session, command, body(b"1234")))
    assert (error.error.code, error.status, error.received) == (400, "active", 0)
    assert "ended after 4 of its 8 bytes" in error.error.message
    assert (await fresh(uploads, session)).received == 0


async def test_a_chunk_of_unknown_length_past_the_declared_size_is_refused(uploads: UploadService) -> None:
    session = await start(uploads, 10)
    command = ChunkCommand(0, None, upload=True, finalize=False)
    error = await refused(uploads.chunk(session, command, body(b"x" * 11)))
    assert (error.error.code, error.status, error.received) == (400, "active", 0)


async def test_start_over_the_quota_is_refused_with_quota_failure_details(uploads: UploadService) -> None:
    await start(uploads, 4_000)
    await start(uploads, 4_000)
    with pytest.raises(QuotaExceeded) as caught:
        await start(uploads, 4_000)
    error = caught.value
    assert (error.code, error.status) == (429, "RESOURCE_EXHAUSTED")
    assert error.details[0]["@type"] == "type.googleapis.com/google.rpc.QuotaFailure"
    assert error.details[0]["violations"][0]["subject"] == "project:p"
    assert error.details[1]["reason"] == "QUOTA_EXCEEDED"
    assert "quota of 10000 bytes" in error.message


async def test_a_chunk_of_undeclared_size_over_the_quota_is_refused_429_and_the_session_lives(
    uploads: UploadService,
) -> None:
    await start(uploads, 4_000)
    await start(uploads, 4_000)
    session = await start(uploads, None)
    command = ChunkCommand(0, None, upload=True, finalize=False)
    error = await refused(uploads.chunk(session, command, body(b"y" * 2_001)))
    assert (error.error.code, error.status, error.received) == (429, "active", 0)
    assert isinstance(error.error, QuotaExceeded)
    assert await send(uploads, await fresh(uploads, session), 0, b"y" * 2_000) == UploadReply("active", 2_000)


# Names and types -------------------------------------------------------------------------------------------
async def test_start_with_the_name_of_a_live_file_is_refused_already_exists(uploads: UploadService) -> None:
    session = await start(uploads, 1, name="files/mine")
    await send(uploads, session, 0, b"x", finalize=True)
    with pytest.raises(AlreadyExists, match="files/mine already exists"):
        await start(uploads, 1, name="files/mine")


async def test_the_second_of_two_sessions_for_one_name_fails_at_finalize(uploads: UploadService) -> None:
    first = await start(uploads, 1, name="files/race")
    second = await start(uploads, 1, name="files/race")
    await send(uploads, first, 0, b"x", finalize=True)
    error = await refused(send(uploads, second, 0, b"y", finalize=True))
    assert (error.error.code, error.error.status, error.status) == (409, "ALREADY_EXISTS", "final")
    replay = await refused(uploads.query(await fresh(uploads, second)))
    assert (replay.error.code, replay.status) == (409, "final")


async def test_an_unsupported_type_is_refused_at_finalize_and_replayed(uploads: UploadService) -> None:
    session = await start(uploads, 3, mime_type="bad/mime_type")
    assert await send(uploads, session, 0, b"abc") == UploadReply("active", 3)
    finalize = ChunkCommand(None, 0, upload=False, finalize=True)
    error = await refused(uploads.chunk(await fresh(uploads, session), finalize, body(b"")))
    assert (error.error.code, error.error.message, error.status) == (
        400,
        "Unsupported MIME type: bad/mime_type",
        "final",
    )
    again = await refused(uploads.chunk(await fresh(uploads, session), finalize, body(b"")))
    assert again.error.message == error.error.message


# The store failing -----------------------------------------------------------------------------------------
class RefusingBlobStore(MemoryBlobStore):
    """The twin with its disk full: every part is refused (fault injection, not a stand-in)."""

    async def put_part(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise OSError(28, "No space left on device")


async def test_a_chunk_the_store_refuses_is_503_and_can_be_sent_again(
    meta: MemoryMetadataStore, name: str
) -> None:
    uploads = service_on(meta, RefusingBlobStore(name))
    session = await start(uploads, 3)
    error = await refused(send(uploads, session, 0, b"abc"))
    assert (error.error.code, error.error.status, error.status, error.received) == (
        503,
        "UNAVAILABLE",
        "active",
        0,
    )


async def test_a_part_number_held_by_another_attempt_is_allocated_anew(
    uploads: UploadService, blobs: MemoryBlobStore
) -> None:
    session = await start(uploads, 6)

    class Next:
        next = session.next_part

        async def allocate(self) -> int:
            return 99

    numbers: PartNumbers = Next()
    # A part a crashed attempt left under the session's next number.
    await blobs.put_part(session.upload_key, session.blob_state, numbers, body(b"crash!"), 6)
    assert await send(uploads, session, 0, b"abcdef", finalize=True) == UploadReply(
        "final", 6, (await uploads.query(await fresh(uploads, session))).file
    )
