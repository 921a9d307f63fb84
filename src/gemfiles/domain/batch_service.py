"""Creating, reading, cancelling and deleting batch jobs (running them is ``batch_runner``'s)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from gemfiles.domain.batches import (
    BatchJob,
    BatchPage,
    BatchState,
    Hold,
    LineResult,
    OnePart,
    batch_id_of,
    decode_page_token,
    encode_page_token,
    inline_lines,
    new_batch_id,
)
from gemfiles.domain.clock import Clock
from gemfiles.domain.files import FileService
from gemfiles.domain.ids import parse_file_name, random_hex
from gemfiles.domain.ports import BatchStore, BlobStore
from gemfiles.errors import FailedPrecondition, NotFound

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


class BatchService:
    """Creating, reading, cancelling and deleting jobs; running them is ``BatchRunner``'s."""

    def __init__(self, store: BatchStore, files: FileService, blobs: BlobStore, clock: Clock) -> None:
        self.store = store
        self.files = files
        self.blobs = blobs
        self.clock = clock

    def _job(self, project: str, model: str, display_name: str | None, input_key: str) -> BatchJob:
        now = self.clock.now()
        return BatchJob(
            project=project,
            id=new_batch_id(),
            model=model if model.startswith(("models/", "tunedModels/")) else f"models/{model}",
            display_name=display_name,
            state=BatchState.PENDING,
            create_time=now,
            update_time=now,
            input_key=input_key,
        )

    async def create_from_file(
        self, project: str, model: str, file_name: str, display_name: str | None
    ) -> BatchJob:
        record = await self.files.get(project, parse_file_name(file_name))  # 403 if not the caller's
        job = self._job(project, model, display_name, record.blob_key)
        job.input_file = record.name
        await self.store.create_batch(job)
        return job

    async def create_inline(
        self, project: str, model: str, requests: list[Any], display_name: str | None
    ) -> BatchJob:
        lines = inline_lines(requests)
        upload_key = random_hex(20)
        state = await self.blobs.begin_upload(upload_key)

        async def blocks() -> AsyncIterator[bytes]:
            for line in lines:
                yield line

        part = await self.blobs.put_part(upload_key, state, OnePart(), blocks(), sum(map(len, lines)))
        key = await self.blobs.complete_upload(upload_key, state, [part])
        job = self._job(project, model, display_name, key)
        job.request_count = len(lines)
        await self.store.create_batch(job)
        return job

    async def get(self, project: str, name: str) -> BatchJob:
        job = await self.store.get_batch(project, batch_id_of(name))
        if job is None:
            # Another project's job looks the same as a missing one.
            raise NotFound(f"Batch {name!r} was not found.")
        return job

    async def list(self, project: str, page_size: int | None, page_token: str | None) -> BatchPage:
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after = decode_page_token(page_token) if page_token else None
        jobs = await self.store.list_batches(project, size + 1, after)
        more = len(jobs) > size
        jobs = jobs[:size]
        return BatchPage(jobs, encode_page_token(jobs[-1]) if more and jobs else None)

    async def cancel(self, project: str, name: str) -> BatchJob:
        job = await self.get(project, name)
        if job.state.done:
            raise FailedPrecondition(
                f"Batch {job.name} is already {job.state.value} and cannot be cancelled."
            )
        cancelled = await self.store.cancel_batch(project, job.id, self.clock.now())
        return cancelled or await self.get(project, name)

    async def delete(self, project: str, name: str) -> None:
        if await self.store.delete_batch(project, batch_id_of(name), self.clock.now()) is None:
            raise NotFound(f"Batch {name!r} was not found.")

    async def results(self, job: BatchJob) -> AsyncIterator[LineResult]:
        """The answers kept so far, in input order (inline jobs show them in the job itself)."""
        after = -1
        while True:
            page = await self.store.batch_results(job.id, after, 500)
            for result in page:
                yield result
            if len(page) < 500:
                return
            after = page[-1].index

    async def set_hold(self, project: str, hold: Hold | None) -> None:
        await self.store.set_batch_hold(project, hold)
