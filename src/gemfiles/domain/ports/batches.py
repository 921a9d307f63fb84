"""The batch jobs' port (the Batch API, ``domain/batches.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from gemfiles.domain.batches import BatchJob, BatchState, Hold, LineResult
from gemfiles.domain.models import FileRecord


@runtime_checkable
class BatchStore(Protocol):
    """Batch jobs and their answers. A job is run by one runner at a time (a lease, renewed as it goes);
    each answer is kept once per line index, whoever wrote it first."""

    async def create_batch(self, job: BatchJob) -> None: ...
    async def get_batch(self, project: str, batch_id: str) -> BatchJob | None: ...
    async def list_batches(self, project: str, limit: int, after: tuple[int, str] | None) -> list[BatchJob]:
        """Newest first, keyset-paginated after (create_micros, id)."""

    async def recent_batches(self, limit: int) -> list[BatchJob]:
        """The newest jobs of every project, newest first (the console)."""

    async def claim_batch(self, now: datetime, lease_seconds: float) -> BatchJob | None:
        """A PENDING or RUNNING job whose lease has run out (not one its project holds PENDING), leased."""

    async def start_batch(self, batch_id: str, request_count: int, now: datetime) -> bool:
        """PENDING -> RUNNING with its number of requests; False if the job is not PENDING any more."""

    async def save_batch_progress(
        self,
        batch_id: str,
        results: list[LineResult],
        done_lines: int,
        done_offset: int,
        now: datetime,
        lease_seconds: float,
    ) -> bool:
        """Keeps answers (a line already answered keeps its first answer and is counted once), moves the
        watermark forward and renews the lease. False if the job is no longer RUNNING."""

    async def answered_lines(self, batch_id: str, from_index: int) -> set[int]: ...
    async def batch_results(self, batch_id: str, after_index: int, limit: int) -> list[LineResult]: ...

    async def finish_batch(
        self,
        batch_id: str,
        state: BatchState,
        now: datetime,
        output: FileRecord | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        """Ends a PENDING or RUNNING job. ``output``, the generated file, is stored and counted in the project's usage
        in the same transaction (its kept answers are then dropped). False if it had ended already."""

    async def release_batch(self, batch_id: str, retry_at: datetime) -> None:
        """Gives up the lease: the job may be claimed again from ``retry_at``."""

    async def cancel_batch(self, project: str, batch_id: str, now: datetime) -> BatchJob | None: ...
    async def delete_batch(self, project: str, batch_id: str, now: datetime) -> BatchJob | None:
        """Deletes the job and its kept answers; an inline job's input bytes are queued for collection."""

    async def get_batch_hold(self, project: str) -> Hold | None: ...
    async def set_batch_hold(self, project: str, hold: Hold | None) -> None: ...
