"""Batch jobs on every backend (SQLite + local disk, PostgreSQL + S3): the store and the runner together.

The model is a stand-in line runner (it records which keys it answered): what is under test is that the
store and the runner answer every line exactly once, across holds, restarts and a second replica.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from gemfiles.domain import batch_runner
from gemfiles.domain.batch_runner import BatchRunner, RunnerLimits
from gemfiles.domain.batch_service import BatchService
from gemfiles.domain.batches import BatchHold, BatchJob, BatchState, Hold
from gemfiles.domain.clock import ManualClock
from gemfiles.domain.files import FileService
from gemfiles.domain.models import FileRecord, FileSource
from gemfiles.domain.ports import BatchStore, BlobStore, MetadataStore
from gemfiles.domain.workers import Maintenance
from gemfiles.errors import FileNotAccessible, NotFound
from gemfiles.storage.batches import open_batch_store
from tests.contract.conftest import Backend
from tests.support import PartNumber


class NoProbes:
    """A Prober for the collector, which never probes."""

    async def probe(self, record: FileRecord) -> Any:
        raise AssertionError("collecting blobs probes nothing")

    async def facts(self, record: FileRecord) -> dict[str, Any]:
        raise AssertionError("collecting blobs probes nothing")

    async def inline(self, mime_type: str, data: bytes) -> dict[str, Any]:
        raise AssertionError("collecting blobs probes nothing")


@pytest.fixture(autouse=True)
def _sql_only(backend: Backend) -> None:
    if backend.name == "memory":
        pytest.skip("batch jobs live in a SQL metadata store (no in-memory twin)")


NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class EchoLines:
    """Answers ``{"response": {"echo": <text>}}``; a request with ``"fail"`` gets an error."""

    def __init__(self) -> None:
        self.answered: Counter[str] = Counter()

    async def __call__(self, project: str, model: str, request: dict[str, Any]) -> dict[str, Any]:
        text = request["contents"][0]["parts"][0]["text"]
        self.answered[text] += 1
        if text.startswith("fail"):
            return {"error": {"code": 400, "message": "refused", "status": "INVALID_ARGUMENT"}}
        return {"response": {"echo": text, "model": model}}


def jsonl(count: int, extra: bytes = b"") -> bytes:
    lines = [
        orjson.dumps({"key": f"k{i}", "request": {"contents": [{"parts": [{"text": f"t{i}"}]}]}})
        for i in range(count)
    ]
    return b"\n".join(lines) + b"\n" + extra


async def put_input(meta: MetadataStore, blobs: BlobStore, project: str, data: bytes) -> FileRecord:
    """An uploaded JSONL file, stored as the upload path stores one."""
    upload_key = uuid.uuid4().hex

    async def blocks() -> Any:
        yield data

    state = await blobs.begin_upload(upload_key)
    part = await blobs.put_part(upload_key, state, PartNumber(1), blocks(), len(data))
    key = await blobs.complete_upload(upload_key, state, [part])
    record = FileRecord(
        project=project,
        id=uuid.uuid4().hex[:12],
        mime_type="application/jsonl",
        size_bytes=len(data),
        sha256_hex="0" * 64,
        create_time=NOW,
        update_time=NOW,
        expire_time=NOW + timedelta(hours=48),
        blob_key=key,
        facts={},
    )
    from gemfiles.storage.schema import files
    from gemfiles.storage.sql import SqlMetadataStore
    from gemfiles.storage.sql_rows import file_values

    assert isinstance(meta, SqlMetadataStore)
    await meta._transact(lambda conn: conn.execute(files.insert().values(**file_values(record))))
    return record


def parts(meta: MetadataStore, blobs: BlobStore) -> tuple[BatchStore, BatchService, ManualClock]:
    store = open_batch_store(meta)
    assert store is not None
    clock = ManualClock(NOW)
    return store, BatchService(store, FileService(meta, blobs, clock), blobs, clock), clock


async def run_until_idle(runner: BatchRunner) -> None:
    for _ in range(20):
        if not await runner.run_once():
            return
    raise AssertionError("the runner never ran out of work")


async def read_output(blobs: BlobStore, meta: MetadataStore, job: BatchJob) -> list[dict[str, Any]]:
    assert job.output_file is not None
    record = await meta.get_file(job.project, job.output_file.removeprefix("files/"), NOW)
    assert record is not None
    data = b"".join([block async for block in blobs.open(record.blob_key)])
    return [orjson.loads(line) for line in data.splitlines()]


async def test_run_answers_every_line_and_stores_a_generated_file_counted_in_usage(
    meta: MetadataStore, blobs: BlobStore
) -> None:
    store, service, clock = parts(meta, blobs)
    project = f"p-{uuid.uuid4().hex[:8]}"
    source = await put_input(meta, blobs, project, jsonl(30, b'{"key": "bad", "request": 5}\nnot json\n'))
    job = await service.create_from_file(project, "gemini-x", source.name, "nightly")
    assert (job.state, job.model, job.input_file) == (BatchState.PENDING, "models/gemini-x", source.name)
    lines = EchoLines()
    before = await meta.get_usage(project)
    await run_until_idle(BatchRunner(store, blobs, clock, lines, RunnerLimits(concurrency=4)))

    done = await service.get(project, job.name)
    assert done.state == BatchState.SUCCEEDED
    assert (done.request_count, done.succeeded, done.failed) == (32, 30, 2)
    out = await read_output(blobs, meta, done)
    assert [line.get("key") for line in out] == [f"k{i}" for i in range(30)] + ["bad", None]
    assert out[3]["response"] == {"echo": "t3", "model": "gemini-x"}
    assert out[30]["error"]["status"] == out[31]["error"]["status"] == "INVALID_ARGUMENT"
    assert set(lines.answered.values()) == {1}
    record = await meta.get_file(project, done.output_file.removeprefix("files/"), NOW)  # type: ignore[union-attr]
    assert record is not None and record.source == FileSource.GENERATED
    usage = await meta.get_usage(project)
    assert usage.used_bytes == before.used_bytes + record.size_bytes


async def test_a_held_job_resumes_on_another_replica_answering_each_line_once(
    meta: MetadataStore, blobs: BlobStore, open_meta: Callable[[], Any]
) -> None:
    store, service, clock = parts(meta, blobs)
    project = f"p-{uuid.uuid4().hex[:8]}"
    source = await put_input(meta, blobs, project, jsonl(450))
    await service.set_hold(project, Hold(BatchHold.RUNNING, 250))
    job = await service.create_from_file(project, "m", source.name, None)
    lines = EchoLines()
    await BatchRunner(store, blobs, clock, lines, RunnerLimits(concurrency=7)).run_once()

    held = await service.get(project, job.name)
    assert held.state == BatchState.RUNNING
    assert (held.done_lines, held.succeeded, held.request_count) == (250, 250, 450)

    await service.set_hold(project, None)
    clock.advance(timedelta(seconds=1))
    other_meta = await open_meta()  # a second replica on the same database
    other_store, _, _ = parts(other_meta, blobs)
    await run_until_idle(BatchRunner(other_store, blobs, clock, lines, RunnerLimits(concurrency=3)))

    done = await service.get(project, job.name)
    assert done.state == BatchState.SUCCEEDED and done.succeeded == 450
    assert [line["key"] for line in await read_output(blobs, meta, done)] == [f"k{i}" for i in range(450)]
    assert lines.answered == Counter({f"t{i}": 1 for i in range(450)})


class FailingSaves:
    """The real batch store, whose next ``fail`` saves of progress raise as a dropped connection would."""

    def __init__(self, store: BatchStore, fail: int) -> None:
        self.store = store
        self.fail = fail

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def save_batch_progress(self, *args: Any, **kwargs: Any) -> bool:
        if self.fail:
            self.fail -= 1
            raise ConnectionResetError("the connection to the store was lost")
        return await self.store.save_batch_progress(*args, **kwargs)


class SlowEcho(EchoLines):
    async def __call__(self, project: str, model: str, request: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return await super().__call__(project, model, request)


async def test_a_failed_save_of_answers_is_retried_and_loses_no_answer(
    meta: MetadataStore, blobs: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heartbeat's save fails once: its answers are saved with the next one, never skipped by the
    watermark (a replica run once finished a job of 5 requests with 1 answer)."""
    monkeypatch.setattr(batch_runner, "FLUSH_SECONDS", 0.02)
    store, service, clock = parts(meta, blobs)
    project = f"p-{uuid.uuid4().hex[:8]}"
    requests = [{"request": {"contents": [{"parts": [{"text": f"t{i}"}]}]}} for i in range(40)]
    job = await service.create_inline(project, "m", requests, None)
    lines = SlowEcho()
    flaky = FailingSaves(store, fail=2)
    await run_until_idle(BatchRunner(flaky, blobs, clock, lines, RunnerLimits(concurrency=2)))  # type: ignore[arg-type]

    assert flaky.fail == 0
    done = await service.get(project, job.name)
    assert (done.state, done.succeeded, done.failed) == (BatchState.SUCCEEDED, 40, 0)
    bodies = [result.body async for result in service.results(done)]
    assert [body["response"]["echo"] for body in bodies] == [f"t{i}" for i in range(40)]


async def test_a_store_failure_leaves_the_job_running_for_the_next_lease_not_failed(
    meta: MetadataStore, blobs: BlobStore
) -> None:
    store, service, clock = parts(meta, blobs)
    project = f"p-{uuid.uuid4().hex[:8]}"
    source = await put_input(meta, blobs, project, jsonl(450))
    job = await service.create_from_file(project, "m", source.name, None)
    lines = EchoLines()
    flaky = FailingSaves(store, fail=1)  # the first save, at 200 answers
    with pytest.raises(batch_runner.ProgressNotSaved):
        await BatchRunner(flaky, blobs, clock, lines, RunnerLimits(concurrency=4)).run_once()  # type: ignore[arg-type]
    assert (await service.get(project, job.name)).state == BatchState.RUNNING

    clock.advance(timedelta(seconds=16))  # the lease ran out
    await run_until_idle(BatchRunner(store, blobs, clock, lines, RunnerLimits(concurrency=4)))
    done = await service.get(project, job.name)
    assert (done.state, done.succeeded) == (BatchState.SUCCEEDED, 450)
    assert [line["key"] for line in await read_output(blobs, meta, done)] == [f"k{i}" for i in range(450)]


async def test_a_job_held_pending_is_not_claimed_until_released(
    meta: MetadataStore, blobs: BlobStore
) -> None:
    store, service, clock = parts(meta, blobs)
    project = f"p-{uuid.uuid4().hex[:8]}"
    await service.set_hold(project, Hold(BatchHold.PENDING))
    job = await service.create_inline(
        project, "m", [{"request": {"contents": [{"parts": [{"text": "a"}]}]}}], None
    )
    assert await store.claim_batch(clock.now(), 15) is None
    assert (await service.get(project, job.name)).state == BatchState.PENDING
    await service.set_hold(project, None)
    claimed = await store.claim_batch(clock.now(), 15)
    assert claimed is not None and claimed.id == job.id
    assert await store.claim_batch(clock.now(), 15) is None  # leased: nobody else takes it


async def test_inline_answers_stay_with_the_job_in_order_with_their_metadata(
    meta: MetadataStore, blobs: BlobStore
) -> None:
    store, service, clock = parts(meta, blobs)
    project = f"p-{uuid.uuid4().hex[:8]}"
    requests = [
        {"request": {"contents": [{"parts": [{"text": text}]}]}, "metadata": {"key": text}}
        for text in ("one", "fail-two", "three")
    ]
    job = await service.create_inline(project, "m", requests, "inline")
    assert job.request_count == 3
    await run_until_idle(BatchRunner(store, blobs, clock, EchoLines()))
    done = await service.get(project, job.name)
    assert (done.state, done.output_file, done.succeeded, done.failed) == (BatchState.SUCCEEDED, None, 2, 1)
    bodies = [result.body async for result in service.results(done)]
    assert [body["metadata"]["key"] for body in bodies] == ["one", "fail-two", "three"]
    assert "error" in bodies[1] and bodies[2]["response"]["echo"] == "three"


async def test_cancel_and_delete_end_a_job_and_hide_it(meta: MetadataStore, blobs: BlobStore) -> None:
    store, service, clock = parts(meta, blobs)
    project = f"p-{uuid.uuid4().hex[:8]}"
    await service.set_hold(project, Hold(BatchHold.PENDING))
    job = await service.create_inline(project, "m", [{"request": {"contents": []}}], None)
    cancelled = await service.cancel(project, job.name)
    assert cancelled.state == BatchState.CANCELLED and cancelled.end_time is not None
    assert await store.claim_batch(clock.now(), 15) is None
    with pytest.raises(NotFound):
        await service.get(f"other-{project}", job.name)  # another project's job looks missing
    await service.delete(project, job.name)
    with pytest.raises(NotFound):
        await service.get(project, job.name)
    with pytest.raises(NotFound):
        await service.delete(project, job.name)


async def test_create_from_another_projects_file_is_refused(meta: MetadataStore, blobs: BlobStore) -> None:
    _, service, _ = parts(meta, blobs)
    source = await put_input(meta, blobs, "owner-project", jsonl(1))
    with pytest.raises(FileNotAccessible):
        await service.create_from_file("someone-else", "m", source.name, None)


async def test_list_pages_newest_first(meta: MetadataStore, blobs: BlobStore) -> None:
    _, service, clock = parts(meta, blobs)
    project = f"p-{uuid.uuid4().hex[:8]}"
    await service.set_hold(project, Hold(BatchHold.PENDING))
    names = []
    for _ in range(5):
        clock.advance(timedelta(seconds=1))
        job = await service.create_inline(project, "m", [{"request": {}}], None)
        names.append(job.name)
    first = await service.list(project, 3, None)
    second = await service.list(project, 3, first.next_token)
    assert [j.name for j in first.jobs + second.jobs] == names[::-1]
    assert second.next_token is None


async def test_deleting_an_inline_job_collects_its_input_bytes(
    meta: MetadataStore, blobs: BlobStore, backend: Backend
) -> None:
    store, service, clock = parts(meta, blobs)
    project = f"p-{uuid.uuid4().hex[:8]}"
    job = await service.create_inline(project, "m", [{"request": {"contents": []}}], None)
    await run_until_idle(BatchRunner(store, blobs, clock, EchoLines()))
    assert backend.leftovers() != []
    await service.delete(project, job.name)
    await Maintenance(meta, blobs, clock, NoProbes()).collect()
    assert backend.leftovers() == []


async def test_a_job_whose_input_is_gone_fails_saying_so(meta: MetadataStore, blobs: BlobStore) -> None:
    store, service, clock = parts(meta, blobs)
    project = f"p-{uuid.uuid4().hex[:8]}"
    source = await put_input(meta, blobs, project, jsonl(3))
    job = await service.create_from_file(project, "m", source.name, None)
    await blobs.delete(source.blob_key)
    await run_until_idle(BatchRunner(store, blobs, clock, EchoLines()))
    failed = await service.get(project, job.name)
    assert failed.state == BatchState.FAILED and failed.end_time is not None
    assert failed.error is not None and source.name in failed.error["message"]


async def test_recent_batches_lists_every_projects_jobs_newest_first(
    meta: MetadataStore, blobs: BlobStore
) -> None:
    store, service, clock = parts(meta, blobs)
    request = [{"request": {"contents": [{"parts": [{"text": "hi"}]}]}}]
    made = []
    for project in (f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"):
        made.append(await service.create_inline(project, "m", request, project))
        clock.advance(timedelta(seconds=1))
    recent = await store.recent_batches(2)
    assert [(job.project, job.id) for job in recent] == [(j.project, j.id) for j in reversed(made)][:2]
    assert [job.id for job in await store.recent_batches(10)][:3] == [j.id for j in reversed(made)]
