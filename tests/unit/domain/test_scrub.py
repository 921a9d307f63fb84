"""The scrub of orphan bytes (domain/scrub.py) on the in-memory twin: what it removes, what it never touches.

The scrub's clock is the wall clock moved forward, so bytes written a moment ago look as old as the test needs.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from gemfiles.domain.clock import OffsetClock, SystemClock
from gemfiles.domain.ports import NoTelemetry
from gemfiles.domain.scrub import REPORTED_KEYS, Scrubber
from gemfiles.domain.upload_machine import ChunkCommand
from gemfiles.domain.uploads import Limits, UploadService
from gemfiles.domain.workers import Maintenance
from gemfiles.storage.memory import MemoryBlobStore, MemoryMetadataStore, forget
from gemfiles.storage.parts import object_key

GRACE = timedelta(hours=1)


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


class Numbers:
    def __init__(self) -> None:
        self.next = 1

    async def allocate(self) -> int:
        self.next += 1
        return self.next


class Counted(NoTelemetry):
    def __init__(self) -> None:
        self.scrubs: list[tuple[int, int, int]] = []

    def scrubbed(self, objects: int, uploads: int, size: int) -> None:
        self.scrubs.append((objects, uploads, size))


class Stores:
    def __init__(self) -> None:
        self.name = f"scrub-{uuid.uuid4().hex[:8]}"
        self.meta = MemoryMetadataStore(self.name)
        self.blobs = MemoryBlobStore(self.name)
        self.uploads = UploadService(
            self.meta, self.blobs, SystemClock(), Limits(2**30, 2**40, timedelta(days=2), timedelta(days=7))
        )
        self.later = OffsetClock()  # the scrub's wall clock, moved on by the tests
        self.telemetry = Counted()
        self.scrubber = Scrubber(self.meta, self.blobs, self.later, GRACE, self.telemetry)

    async def whole(self, data: bytes) -> str:
        reply = await self.uploads.upload_whole(
            "p", name=None, display_name=None, mime_type="text/plain", declared_size=None, body=body(data)
        )
        assert reply.file is not None
        return reply.file.blob_key

    async def orphan_object(self, data: bytes) -> str:
        """An object whose file row never committed (a crash after the bytes of a one-request upload)."""
        key, _ = await self.blobs.put_object(uuid.uuid4().hex + "0" * 8, body(data))
        return key

    async def orphan_upload(self, data: bytes) -> str:
        """Parts of an upload no session names."""
        upload_key = uuid.uuid4().hex + "1" * 8
        state = await self.blobs.begin_upload(upload_key)
        await self.blobs.put_part(upload_key, state, Numbers(), body(data), len(data))
        return upload_key


@pytest.fixture
def stores() -> Any:
    made = Stores()
    yield made
    forget(made.name)


async def test_scrub_removes_an_object_no_file_names_once_past_the_grace(stores: Stores) -> None:
    kept = await stores.whole(b"kept")
    orphan = await stores.orphan_object(b"x" * 100)
    stores.later.advance(GRACE + timedelta(seconds=1))

    report = await stores.scrubber.scrub()

    assert (report.objects, report.uploads, report.bytes, report.keys) == (1, 0, 100, [orphan])
    assert stores.blobs.leftovers() == [f"objects/{kept}"]
    assert stores.telemetry.scrubs == [(1, 0, 100)]


async def test_scrub_keeps_unnamed_bytes_younger_than_the_grace(stores: Stores) -> None:
    orphan = await stores.orphan_object(b"in flight")
    stores.later.advance(GRACE - timedelta(minutes=1))

    report = await stores.scrubber.scrub()

    assert (report.removed, report.waiting) == (0, 1)
    assert stores.blobs.leftovers() == [f"objects/{orphan}"]


async def test_scrub_with_no_grace_removes_fresh_orphans(stores: Stores) -> None:
    await stores.orphan_object(b"fresh")

    report = await stores.scrubber.scrub(timedelta(0))

    assert report.objects == 1 and stores.blobs.leftovers() == []


async def test_scrub_removes_an_upload_no_session_names(stores: Stores) -> None:
    upload_key = await stores.orphan_upload(b"y" * 1000)
    stores.later.advance(GRACE * 2)

    report = await stores.scrubber.scrub()

    assert (report.objects, report.uploads, report.bytes) == (0, 1, 1000)
    assert report.keys == [f"uploads/{upload_key}"] and stores.blobs.leftovers() == []


async def test_scrub_keeps_the_parts_and_the_object_of_an_active_session(stores: Stores) -> None:
    _token, session = await stores.uploads.start(
        "p", name=None, display_name=None, mime_type="text/plain", declared_size=None
    )
    await stores.uploads.chunk(session, ChunkCommand(0, 4, upload=True, finalize=False), body(b"abcd"))
    stores.later.advance(GRACE * 2)
    assert (await stores.scrubber.scrub()).removed == 0
    latest = await stores.meta.get_session(session.token_digest)
    assert latest is not None
    # A finalize joined the parts and the process died before the file row: the session still names both.
    await stores.blobs.complete_upload(session.upload_key, latest.blob_state, latest.parts)

    assert (await stores.scrubber.scrub()).removed == 0
    assert stores.blobs.leftovers() == [f"objects/{object_key(session.upload_key)}"]


async def test_scrub_removes_the_object_a_crash_left_once_its_session_is_cancelled(stores: Stores) -> None:
    _token, session = await stores.uploads.start(
        "p", name=None, display_name=None, mime_type="text/plain", declared_size=4
    )
    await stores.uploads.chunk(session, ChunkCommand(0, 4, upload=True, finalize=False), body(b"abcd"))
    latest = await stores.meta.get_session(session.token_digest)
    assert latest is not None
    await stores.blobs.complete_upload(session.upload_key, latest.blob_state, latest.parts)
    await stores.meta.cancel_session(session.token_digest, SystemClock().now())
    maintenance = Maintenance(stores.meta, stores.blobs, SystemClock(), prober=None)  # type: ignore[arg-type]
    await maintenance.collect()  # aborts the upload's parts, never the object: the gap the scrub closes
    assert stores.blobs.leftovers() == [f"objects/{object_key(session.upload_key)}"]
    stores.later.advance(GRACE * 2)

    report = await stores.scrubber.scrub()

    assert (report.objects, report.bytes) == (1, 4) and stores.blobs.leftovers() == []


async def test_scrub_keeps_files_and_leaves_queued_bytes_to_the_collector(stores: Stores) -> None:
    kept = await stores.whole(b"a file")
    deleted = await stores.whole(b"deleted")
    record = next(s.record for s in stores.meta._db.files.values() if s.record.blob_key == deleted)
    await stores.meta.delete_file("p", record.id, SystemClock().now())  # queued for the collector
    stores.later.advance(GRACE * 2)

    report = await stores.scrubber.scrub()

    assert report.removed == 0
    assert stores.blobs.leftovers() == sorted([f"objects/{kept}", f"objects/{deleted}"])


async def test_scrub_keeps_an_attempt_object_of_an_active_session(stores: Stores) -> None:
    """A whole-file chunk's object (the session's key and an attempt suffix) before its transaction."""
    _token, session = await stores.uploads.start(
        "p", name=None, display_name=None, mime_type="text/plain", declared_size=2
    )
    await stores.blobs.put_object(session.upload_key + "0a1b2c3d", body(b"hi"))
    stores.later.advance(GRACE * 2)

    assert (await stores.scrubber.scrub()).removed == 0
    assert len(stores.blobs.leftovers()) == 1


class NamedMeanwhile(MemoryMetadataStore):
    """The twin, with a file committed naming the orphan between the scrub's two questions."""

    commit: Any = None

    async def blob_keys_in_use(self, object_keys: list[str], upload_keys: list[str]) -> set[str]:
        in_use = await super().blob_keys_in_use(object_keys, upload_keys)
        if self.commit is not None:
            commit, self.commit = self.commit, None
            await commit()
        return in_use


@pytest.mark.parametrize("dry_run", [False, True], ids=["scrub", "dry-run"])
async def test_scrub_asks_again_before_removing_and_keeps_what_was_named_meanwhile(
    stores: Stores, dry_run: bool
) -> None:
    orphan = await stores.orphan_object(b"late row")
    meta = NamedMeanwhile(stores.name)
    late = await stores.whole(b"x")
    record = next(s.record for s in meta._db.files.values() if s.record.blob_key == late)

    async def commit() -> None:
        stored = next(s for s in meta._db.files.values() if s.record.id == record.id)
        stored.record = type(record)(**{**_fields(record), "blob_key": orphan})

    meta.commit = commit
    stores.later.advance(GRACE * 2)

    report = await Scrubber(meta, stores.blobs, stores.later, GRACE).scrub(dry_run=dry_run)

    assert f"objects/{orphan}" in stores.blobs.leftovers()
    assert orphan not in report.keys and report.removed == 0  # a dry run asks both questions too


def _fields(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


async def test_two_scrubs_at_once_remove_each_orphan_once_without_error(stores: Stores) -> None:
    for _ in range(5):
        await stores.orphan_object(b"z" * 10)
        await stores.orphan_upload(b"w" * 10)
    stores.later.advance(GRACE * 2)
    other = Scrubber(
        MemoryMetadataStore(stores.name), MemoryBlobStore(stores.name), stores.later, GRACE, page=3
    )

    first, second = await asyncio.gather(stores.scrubber.scrub(), other.scrub())

    assert first.failed == second.failed == 0
    assert first.removed + second.removed >= 10
    assert stores.blobs.leftovers() == []


async def test_scrub_logs_what_it_removed_in_one_line(
    stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    orphan = await stores.orphan_object(b"q" * 7)
    stores.later.advance(GRACE * 2)

    with caplog.at_level(logging.INFO, logger="gemfiles.scrub"):
        await stores.scrubber.scrub()

    (line,) = [r for r in caplog.records if r.name == "gemfiles.scrub"]
    assert orphan in line.getMessage() and "7 bytes" in line.getMessage()
    fields = line.fields  # type: ignore[attr-defined]
    assert (fields["scrub_removed_objects"], fields["scrub_removed_bytes"]) == (1, 7)
    assert fields["scrub_keys"] == [orphan]


async def test_scrub_pages_its_questions_to_the_metadata(stores: Stores) -> None:
    asked: list[int] = []

    class Counting(MemoryMetadataStore):
        async def blob_keys_in_use(self, object_keys: list[str], upload_keys: list[str]) -> set[str]:
            asked.append(len(object_keys))
            return await super().blob_keys_in_use(object_keys, upload_keys)

    for _ in range(7):
        await stores.whole(b"f")

    await Scrubber(Counting(stores.name), stores.blobs, stores.later, GRACE, page=3).scrub()

    assert asked == [3, 3, 1]


async def test_dry_run_reports_what_a_scrub_would_remove_and_removes_nothing(stores: Stores) -> None:
    kept = await stores.whole(b"kept")
    orphan = await stores.orphan_object(b"x" * 100)
    other = await stores.orphan_object(b"z" * 5)
    upload_key = await stores.orphan_upload(b"y" * 30)
    stores.later.advance(GRACE + timedelta(seconds=1))
    before = stores.blobs.leftovers()

    report = await stores.scrubber.scrub(dry_run=True)

    assert report.dry_run and (report.objects, report.uploads) == (2, 1)
    assert (report.object_bytes, report.upload_bytes, report.bytes) == (105, 30, 135)
    assert sorted(report.keys) == sorted([orphan, other, f"uploads/{upload_key}"])
    assert stores.blobs.leftovers() == before and len(before) == 4
    assert stores.telemetry.scrubs == []  # nothing was removed: nothing counted

    real = await stores.scrubber.scrub()

    assert (real.objects, real.uploads, real.bytes, sorted(real.keys)) == (2, 1, 135, sorted(report.keys))
    assert stores.blobs.leftovers() == [f"objects/{kept}"]


async def test_dry_run_keeps_the_grace(stores: Stores) -> None:
    await stores.orphan_object(b"in flight")
    stores.later.advance(GRACE - timedelta(minutes=1))

    report = await stores.scrubber.scrub(dry_run=True)

    assert (report.removed, report.waiting, report.keys) == (0, 1, [])


async def test_scrub_lists_every_key_without_a_key_limit(stores: Stores) -> None:
    for _ in range(REPORTED_KEYS + 3):
        await stores.orphan_object(b"k")
    stores.later.advance(GRACE * 2)

    limited = await stores.scrubber.scrub(dry_run=True)
    everything = await stores.scrubber.scrub(key_limit=None)

    assert (limited.removed, len(limited.keys)) == (REPORTED_KEYS + 3, REPORTED_KEYS)
    assert (everything.removed, len(everything.keys)) == (REPORTED_KEYS + 3, REPORTED_KEYS + 3)
    assert stores.blobs.leftovers() == []
