"""Running batch jobs in the background: claim, answer every line once, write the output, finish.

Memory stays flat in the size of a job: the input is read line by line from the blob store, at most
``concurrency`` lines are in flight, answers go to the store every few hundred lines (with the input
offset they reach, so a restarted runner resumes there), and the output file is written from the store
page by page. A job survives a restart or a replica dying: its lease runs out and another runner takes
it on from the last watermark; a line answered twice keeps its first answer (the store's key is the
job and line index), so every key is answered exactly once in the output.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson

from gemfiles.domain.batches import BatchHold, BatchJob, BatchState, LineResult, LineRunner, OnePart
from gemfiles.domain.clock import Clock
from gemfiles.domain.ids import new_file_id, random_hex
from gemfiles.domain.jsonl import Line, count_lines, read_lines
from gemfiles.domain.models import FileRecord, FileSource, FileState
from gemfiles.domain.ports import BatchStore, BlobStore

log = logging.getLogger("gemfiles.batches")

FLUSH_LINES = 200  # answers kept per store transaction
FLUSH_SECONDS = 1.0  # and at least this often while lines are answered
HOLD_RETRY_SECONDS = 0.5  # a held job is looked at again this often
OUTPUT_BLOCK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RunnerLimits:
    concurrency: int = 8  # lines in flight per job
    lease_seconds: float = 15.0  # renewed every FLUSH_SECONDS; a dead runner's job is taken after this
    max_line_bytes: int = 100 * 1024 * 1024
    file_ttl: timedelta = timedelta(hours=48)
    poll_seconds: float = 0.25


def _error(code: int, message: str, status: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def parse_line(line: Line, max_bytes: int) -> tuple[str | None, dict[str, Any] | None, dict[str, Any]]:
    """(key, request, extra) of an input line; request None with ``extra`` the error when it is unusable."""
    if line.oversized:
        return None, None, _error(400, f"The request line exceeds {max_bytes} bytes.", "INVALID_ARGUMENT")
    try:
        value = orjson.loads(line.data)
    except orjson.JSONDecodeError as exc:
        return (
            None,
            None,
            _error(400, f"Invalid JSON in input line {line.index + 1}: {exc}", "INVALID_ARGUMENT"),
        )
    if not isinstance(value, dict):
        return (
            None,
            None,
            _error(400, f"Input line {line.index + 1} is not a JSON object.", "INVALID_ARGUMENT"),
        )
    key = value.get("key")
    key = str(key) if isinstance(key, str | int) and not isinstance(key, bool) else None
    request = value.get("request")
    extra = {"metadata": value["metadata"]} if isinstance(value.get("metadata"), dict) else {}
    if not isinstance(request, dict):
        return (
            key,
            None,
            extra | _error(400, f"Input line {line.index + 1} has no 'request' object.", "INVALID_ARGUMENT"),
        )
    return key, request, extra


class ProgressNotSaved(Exception):
    """The store refused or failed to save a job's answers. The job stays RUNNING under its lease; once
    the lease runs out a runner takes it on from the last saved watermark (never FAILED for it)."""


class _Watermark:
    """The first line index not yet answered, and its input offset, as answers arrive out of order."""

    def __init__(self, index: int, offset: int) -> None:
        self.index = index
        self.offset = offset
        self.ends: dict[int, int] = {}  # answered lines past the watermark: index -> end offset

    def answered(self, index: int, end: int) -> None:
        self.ends[index] = end
        while self.index in self.ends:
            self.offset = self.ends.pop(self.index)
            self.index += 1


class _Progress:
    """Answers not saved yet and the watermark, saved together; notices when the job stops RUNNING."""

    def __init__(self, runner: BatchRunner, job: BatchJob) -> None:
        self.runner = runner
        self.job = job
        self.mark = _Watermark(job.done_lines, job.done_offset)
        self.pending: list[LineResult] = []
        self.stopped = False
        self._lock = asyncio.Lock()

    def answered(self, line: Line, result: LineResult) -> None:
        self.pending.append(result)
        self.mark.answered(line.index, line.end)

    async def flush(self) -> None:
        """Saves the answers with the watermark they cover; raises ProgressNotSaved when the store failed,
        keeping them to be saved with the next flush (a watermark past an unsaved answer would lose it)."""
        async with self._lock:
            batch, self.pending = self.pending, []
            # The watermark is read with the answers it covers, before any await.
            try:
                saved = await self.runner.store.save_batch_progress(
                    self.job.id,
                    batch,
                    self.mark.index,
                    self.mark.offset,
                    self.runner.clock.now(),
                    self.runner.limits.lease_seconds,
                )
            except BaseException as exc:
                # Cancelled or failed, the save may or may not have committed: the answers go back to be
                # saved again (a line already kept keeps its first answer, counted once).
                self.pending[:0] = batch
                if isinstance(exc, Exception):
                    raise ProgressNotSaved(self.job.name) from exc
                raise
            self.stopped = self.stopped or not saved

    async def heartbeat(self) -> None:
        """Saves (and renews the lease) at least every FLUSH_SECONDS, however slow the model; a failed save
        is tried again at the next beat (the answers stay pending)."""
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                # Shielded: stopping the beat never cuts a save in half; the last flush waits for it.
                await asyncio.shield(self.flush())
            except ProgressNotSaved as exc:
                log.warning("batch %s: saving progress failed; retrying", exc.args[0], exc_info=exc.__cause__)


class BatchRunner:
    def __init__(
        self,
        store: BatchStore,
        blobs: BlobStore,
        clock: Clock,
        lines: LineRunner,
        limits: RunnerLimits | None = None,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.clock = clock
        self.lines = lines
        self.limits = limits or RunnerLimits()

    async def run_forever(self) -> None:
        while True:
            try:
                worked = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("batch runner failed; retrying")
                worked = False
            if not worked:
                await asyncio.sleep(self.limits.poll_seconds)

    async def run_once(self) -> bool:
        """Claims one job and takes it as far as it may go; False when there was none."""
        job = await self.store.claim_batch(self.clock.now(), self.limits.lease_seconds)
        if job is None:
            return False
        try:
            await self.run(job)
        except asyncio.CancelledError:
            # Stopping: the job goes back at once, for this process when it restarts or for another.
            with contextlib.suppress(Exception):
                await asyncio.shield(self.store.release_batch(job.id, self.clock.now()))
            raise
        return True

    async def run(self, job: BatchJob) -> None:
        hold = await self.store.get_batch_hold(job.project)
        if job.state == BatchState.PENDING:
            if hold is not None and hold.hold == BatchHold.PENDING:
                await self._release(job)
                return
            try:
                job.request_count = await count_lines(self.blobs.open(job.input_key))
            except Exception as exc:
                await self._fail(job, exc)
                return
            if not await self.store.start_batch(job.id, job.request_count, self.clock.now()):
                return
            job.state = BatchState.RUNNING
        budget = None
        if hold is not None and hold.hold == BatchHold.RUNNING:
            budget = hold.after_lines
        try:
            finished = await self._answer(job, budget)
        except ProgressNotSaved:
            raise  # the store, not the job: taken on again from its saved watermark when the lease ends
        except Exception as exc:
            await self._fail(job, exc)
            return
        if finished is None:
            return  # cancelled or deleted meanwhile
        if not finished:
            await self._release(job)
            return
        await self._finish(job)

    async def _release(self, job: BatchJob) -> None:
        await self.store.release_batch(job.id, self.clock.now() + timedelta(seconds=HOLD_RETRY_SECONDS))

    async def _fail(self, job: BatchJob, exc: Exception) -> None:
        log.warning("batch %s failed: %s", job.name, exc, exc_info=exc)
        error = {
            "code": 400,
            "message": "The batch input could not be read.",
            "status": "FAILED_PRECONDITION",
        }
        if job.input_file:
            error["message"] = f"The input file {job.input_file} could not be read (deleted or expired?)."
        await self.store.finish_batch(job.id, BatchState.FAILED, self.clock.now(), error=error)

    async def _answer(self, job: BatchJob, budget: int | None) -> bool | None:
        """Answers the lines past the watermark: True when all are answered, False when held, None when
        the job stopped being RUNNING (cancelled, deleted)."""
        skip = await self.store.answered_lines(job.id, job.done_lines)
        progress = _Progress(self, job)
        slots = asyncio.Semaphore(self.limits.concurrency)
        tasks: set[asyncio.Task[None]] = set()

        async def answer(line: Line) -> None:
            try:
                result = await self._line(job, line)
            finally:
                slots.release()
            progress.answered(line, result)

        beat = asyncio.create_task(progress.heartbeat())
        held = False
        try:
            blocks = self.blobs.open(job.input_key, job.done_offset)
            lines = read_lines(
                blocks,
                max_bytes=self.limits.max_line_bytes,
                first_index=job.done_lines,
                first_offset=job.done_offset,
            )
            async for line in lines:
                if progress.stopped:
                    break
                if line.index in skip:  # answered before a restart, past the saved watermark
                    progress.mark.answered(line.index, line.end)
                    continue
                if budget is not None and line.index >= budget:
                    held = True
                    break
                await slots.acquire()
                task = asyncio.create_task(answer(line))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                if len(progress.pending) >= FLUSH_LINES:
                    await progress.flush()
            await asyncio.gather(*tasks)
        finally:
            beat.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(beat, *tasks, return_exceptions=True)
        await progress.flush()
        return None if progress.stopped else not held

    async def _line(self, job: BatchJob, line: Line) -> LineResult:
        key, request, extra = parse_line(line, self.limits.max_line_bytes)
        if request is None:
            return LineResult(line.index, key, extra)
        try:
            body = await self.lines(job.project, job.model.removeprefix("models/"), request)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("batch %s line %d failed", job.name, line.index)
            body = _error(500, "Internal error encountered.", "INTERNAL")
        return LineResult(line.index, key, extra | body)

    async def _finish(self, job: BatchJob) -> None:
        now = self.clock.now()
        if job.inline:
            await self.store.finish_batch(job.id, BatchState.SUCCEEDED, now)
            return
        record = await self._write_output(job)
        if not await self.store.finish_batch(job.id, BatchState.SUCCEEDED, self.clock.now(), output=record):
            await self.blobs.delete(record.blob_key)  # cancelled, deleted or finished by another runner

    async def _write_output(self, job: BatchJob) -> FileRecord:
        upload_key = random_hex(20)
        state = await self.blobs.begin_upload(upload_key)
        digest = hashlib.sha256()
        size = 0

        async def blocks() -> AsyncIterator[bytes]:
            nonlocal size
            buffer = bytearray()
            after = -1
            while True:
                page = await self.store.batch_results(job.id, after, 500)
                for result in page:
                    buffer += result.jsonl()
                    if len(buffer) >= OUTPUT_BLOCK:
                        digest.update(buffer)
                        size += len(buffer)
                        yield bytes(buffer)
                        buffer.clear()
                if len(page) < 500:
                    break
                after = page[-1].index
            if buffer:
                digest.update(buffer)
                size += len(buffer)
                yield bytes(buffer)

        part = await self.blobs.put_part(upload_key, state, OnePart(), blocks(), None)
        key = await self.blobs.complete_upload(upload_key, state, [part])
        now = self.clock.now()
        return FileRecord(
            project=job.project,
            id=new_file_id(),
            mime_type="application/jsonl",
            size_bytes=size,
            sha256_hex=digest.hexdigest(),
            create_time=now,
            update_time=now,
            expire_time=now + self.limits.file_ttl,
            blob_key=key,
            state=FileState.ACTIVE,
            source=FileSource.GENERATED,
            display_name=f"{job.name}-output",
            facts={},
        )
