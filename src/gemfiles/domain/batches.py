"""Batch jobs (the Batch API): a JSONL of requests in, one answer per request out, in the background.

A job's input is a JSONL blob: an uploaded file's bytes (``{"key", "request"}`` lines), or the inline
requests of the create call written as one (``{"request", "metadata"}`` lines). A runner (see
``batch_runner``) claims the job, answers its lines with bounded concurrency, keeps each answer in the
store as it goes and, at the end, writes the answers as a generated JSONL File (or, for inline requests,
leaves them to be shown inline). States::

    PENDING --run--> RUNNING --all lines answered--> SUCCEEDED
       |                |  \\--input unreadable--> FAILED
       \\----cancel-----+--> CANCELLED

A request that fails is an ``error`` in its output line; it never fails the job.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson

from gemfiles.domain.clock import Clock, to_micros
from gemfiles.domain.files import FileService
from gemfiles.domain.ids import parse_file_name
from gemfiles.domain.ports import BatchStore, BlobStore
from gemfiles.errors import FailedPrecondition, InvalidArgument, NotFound

_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


class BatchState(enum.StrEnum):
    PENDING = "BATCH_STATE_PENDING"
    RUNNING = "BATCH_STATE_RUNNING"
    SUCCEEDED = "BATCH_STATE_SUCCEEDED"
    FAILED = "BATCH_STATE_FAILED"
    CANCELLED = "BATCH_STATE_CANCELLED"

    @property
    def done(self) -> bool:
        return self in (BatchState.SUCCEEDED, BatchState.FAILED, BatchState.CANCELLED)


class BatchHold(enum.StrEnum):
    """An emulator control: a project's jobs stay PENDING, or RUNNING after ``after_lines`` answers."""

    PENDING = "pending"
    RUNNING = "running"


@dataclass(frozen=True, slots=True)
class Hold:
    hold: BatchHold
    after_lines: int = 0


@dataclass(slots=True)
class BatchJob:
    project: str
    id: str
    model: str  # "models/..." as the client named it
    display_name: str | None
    state: BatchState
    create_time: datetime
    update_time: datetime
    input_key: str  # the blob the runner reads
    input_file: str | None = None  # "files/{id}" for a file input; None for inline requests
    end_time: datetime | None = None
    request_count: int = 0  # known once the runner has read the input through
    succeeded: int = 0
    failed: int = 0
    done_lines: int = 0  # lines [0, done_lines) are answered and kept
    done_offset: int = 0  # the input offset of line ``done_lines``
    output_file: str | None = None  # "files/{id}" of the generated JSONL
    error: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return f"batches/{self.id}"

    @property
    def inline(self) -> bool:
        return self.input_file is None

    @property
    def pending_count(self) -> int:
        return max(0, self.request_count - self.succeeded - self.failed)


@dataclass(frozen=True, slots=True)
class LineResult:
    """The answer to one request line: ``body`` is ``{"response": ...}`` or ``{"error": ...}``, plus the
    request's ``metadata`` when it had one (inline requests)."""

    index: int
    key: str | None
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return "error" not in self.body

    def jsonl(self) -> bytes:
        line = ({"key": self.key} if self.key is not None else {}) | self.body
        return orjson.dumps(line) + b"\n"


class LineRunner(Protocol):
    """Answers one GenerateContentRequest (wire JSON) for a project: ``{"response": ...}`` or
    ``{"error": {"code", "message", "status"}}``; never raises for a bad request."""

    async def __call__(self, project: str, model: str, request: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class BatchPage:
    jobs: list[BatchJob]
    next_token: str | None


def new_batch_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


def batch_id_of(name: str) -> str:
    """``batches/abc`` or ``abc`` -> ``abc``; anything else is not a batch of this server."""
    batch_id = name.removeprefix("batches/")
    if not batch_id or not batch_id.isascii() or not batch_id.isalnum() or len(batch_id) > 64:
        raise NotFound(f"Batch {name!r} was not found.")
    return batch_id


def encode_page_token(job: BatchJob) -> str:
    raw = json.dumps(["b1", to_micros(job.create_time), job.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        version, micros, batch_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if version != "b1" or type(micros) is not int or not isinstance(batch_id, str):
            raise ValueError(token)
        batch_id_of(batch_id)
    except (ValueError, TypeError, UnicodeEncodeError, binascii.Error, NotFound):
        raise InvalidArgument("Invalid page token.") from None
    return micros, batch_id


def inline_lines(requests: list[Any]) -> list[bytes]:
    """Inline requests as input lines, checked the way the create call refuses them (400 at once)."""
    if not requests:
        raise InvalidArgument("* BatchGenerateContentRequest.batch.input_config.requests: requests is empty.")
    out = []
    for i, item in enumerate(requests):
        request = item.get("request") if isinstance(item, dict) else None
        if not isinstance(request, dict):
            raise InvalidArgument(
                f"Invalid value at 'batch.input_config.requests.requests[{i}].request': expected an object."
            )
        line: dict[str, Any] = {"request": request}
        if isinstance(item.get("metadata"), dict):
            line["metadata"] = item["metadata"]
        out.append(orjson.dumps(line) + b"\n")
    return out


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
        upload_key = secrets.token_hex(20)
        state = await self.blobs.begin_upload(upload_key)

        async def blocks() -> AsyncIterator[bytes]:
            for line in lines:
                yield line

        part = await self.blobs.put_part(upload_key, state, 1, blocks(), sum(map(len, lines)))
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
