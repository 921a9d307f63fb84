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

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson

from gemfiles.domain import page_tokens
from gemfiles.domain.ids import random_id
from gemfiles.errors import InvalidArgument, NotFound


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


class OnePart:
    """The part-number source (``ports.PartNumbers``) of a blob written whole, in one part, by its only
    writer (a job's inline input, its output): part 1, never contended."""

    def __init__(self) -> None:
        self.next = 1

    async def allocate(self) -> int:
        return self.next


@dataclass(frozen=True, slots=True)
class BatchPage:
    jobs: list[BatchJob]
    next_token: str | None


def new_batch_id() -> str:
    return random_id(24)


def batch_id_of(name: str) -> str:
    """``batches/abc`` or ``abc`` -> ``abc``; anything else is not a batch of this server."""
    batch_id = name.removeprefix("batches/")
    if not batch_id or not batch_id.isascii() or not batch_id.isalnum() or len(batch_id) > 64:
        raise NotFound(f"Batch {name!r} was not found.")
    return batch_id


def encode_page_token(job: BatchJob) -> str:
    return page_tokens.encode("b1", job.create_time, job.id)


def decode_page_token(token: str) -> tuple[int, str]:
    return page_tokens.decode("b1", token, batch_id_of)


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
