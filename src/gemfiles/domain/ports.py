"""The domain's ports: every adapter (storage, model backends, probers) implements one of these.

The domain owns them and depends on nothing outside itself; adapters are chosen by URL or name in the
composition root (``gemfiles.app``).

``MetadataStore``: files, upload sessions, quotas, keys and background-work queues. Every method that
changes more than one row is one transaction, so quotas stay exact and nothing half-done is ever visible.

``BlobStore``: the bytes. An upload is a sequence of parts, each written by one chunk request (or one
attempt at it); ``complete_upload`` turns the committed parts into one object, idempotently.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Protocol, runtime_checkable

from gemfiles.domain.calls import Finished, ModelRequest, OutputEvent, Usage
from gemfiles.domain.interactions import InteractionRecord
from gemfiles.domain.models import FileRecord, FileState, PartRef, ProjectUsage, UploadSession


class PartUnreadable(Exception):
    """A store cannot read back a part of an unfinished upload (S3 multipart); its ``etag`` is its MD5."""


class BlobStoreError(OSError):
    """The blob store could not do what was asked (unreachable, refused): nothing says the bytes were bad."""


class SessionGone(Exception):
    """The session was finished, cancelled or removed by another request in the meantime."""


@dataclass(frozen=True, slots=True)
class GcItem:
    """Bytes that no metadata points at any more: an object, or an upload's parts."""

    id: int
    kind: str  # "object" | "upload"
    key: str
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    key_hash: str
    project: str
    prefix: str
    create_time: datetime
    revoke_time: datetime | None


@runtime_checkable
class MetadataStore(Protocol):
    async def migrate(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...

    # Files -----------------------------------------------------------------------------------------
    async def get_file(self, project: str, file_id: str, now: datetime) -> FileRecord | None:
        """The unexpired file, or None (missing, expired and foreign look the same)."""

    async def list_files(
        self, project: str, now: datetime, limit: int, after: tuple[int, str] | None
    ) -> list[FileRecord]:
        """Unexpired files, newest first, keyset-paginated after (create_micros, id)."""

    async def delete_file(self, project: str, file_id: str, now: datetime) -> FileRecord | None:
        """Deletes an unexpired file, frees its quota and queues its bytes for collection."""

    # Upload sessions --------------------------------------------------------------------------------
    async def create_session(self, session: UploadSession, quota_bytes: int, now: datetime) -> None:
        """Reserves ``session.reserved_bytes`` against the project quota atomically and stores the session.

        Raises AlreadyExists if an unexpired file already has ``session.file_id`` (custom names), and
        QuotaExceeded if the reservation does not fit.
        """

    async def get_session(self, token_digest: str) -> UploadSession | None: ...

    async def allocate_part(self, token_digest: str) -> int:
        """A part number never handed out before for this session (concurrent attempts get distinct ones).

        It is never the session's current ``next_part``, which an attempt may be using unallocated; a
        commit moves ``next_part`` past the number it commits.
        """

    async def commit_part(
        self,
        token_digest: str,
        expected_received: int,
        part: PartRef,
        hash_state: bytes | None,
        extra_reserve: int,
        quota_bytes: int,
        now: datetime,
    ) -> bool:
        """Appends a part if the session is still active at ``expected_received`` (compare-and-set).

        ``extra_reserve`` bytes are reserved in the same transaction (uploads of undeclared size); raises
        QuotaExceeded if they do not fit. False when another request advanced the session first.
        """

    async def finish_session(self, token_digest: str, file: FileRecord, now: datetime) -> FileRecord:
        """Creates the file from an active, fully received session: the reservation becomes usage.

        An expired file of the same name is replaced; an unexpired one raises AlreadyExists. Raises
        Aborted if the session is no longer active (another request finished it).
        """

    async def fail_session(self, token_digest: str, error: dict[str, Any], now: datetime) -> bool:
        """Ends an active session with an error (replayed on retries); frees its reservation and bytes."""

    async def cancel_session(self, token_digest: str, now: datetime) -> bool:
        """Cancels an active session; frees its reservation and queues its bytes for collection."""

    # Background work (claimed so that each item is done once, whichever replica takes it) -------------
    async def claim_probe(self, now: datetime, lease_seconds: float) -> FileRecord | None:
        """A file whose bytes have not been probed yet, leased to the caller."""

    async def save_probe(
        self,
        project: str,
        file_id: str,
        state: FileState,
        facts: dict[str, Any] | None,
        error: dict[str, Any] | None,
        now: datetime,
    ) -> None: ...

    async def sweep_expired_files(self, now: datetime, limit: int) -> list[FileRecord]:
        """Deletes up to ``limit`` expired files (each returned to exactly one caller), frees quota, queues bytes."""

    async def sweep_expired_sessions(self, now: datetime, limit: int) -> int:
        """Ends abandoned sessions past their expiry; frees reservations; queues partial bytes."""

    async def claim_gc(self, now: datetime, lease_seconds: float, limit: int) -> list[GcItem]: ...
    async def finish_gc(self, ids: list[int]) -> None: ...

    # Projects and keys --------------------------------------------------------------------------------
    async def get_usage(self, project: str) -> ProjectUsage: ...
    async def create_key(self, key_hash: str, project: str, prefix: str, now: datetime) -> None: ...
    async def list_keys(self) -> list[ApiKeyRecord]: ...
    async def revoke_key(self, prefix_or_hash: str, now: datetime) -> int: ...
    async def lookup_key(self, key_hash: str) -> str | None:
        """The project of an unrevoked key, or None."""


@runtime_checkable
class BlobStore(Protocol):
    # True when put_part raises FileExistsError, before reading any block, for a part number already
    # used in this upload. The domain may then skip allocating a number for each chunk and try the
    # session's next one, allocating only after a clash (one metadata transaction less per chunk).
    detects_part_reuse: bool
    # True when put_part takes ``observe``: a callable run on every block, in order, in the worker thread
    # that writes it (the domain's running SHA-256 then costs no thread hand-off of its own).
    observes_blocks: bool

    @property
    def url(self) -> str:
        """The URL that opens this store again (``storage.registry.open_blob_store``), e.g. in a child process."""

    async def close(self) -> None: ...
    async def ping(self) -> None: ...

    async def begin_upload(self, upload_key: str) -> dict[str, Any]:
        """Prepares to receive parts; returns the state to keep with the session (e.g. an S3 upload id)."""

    async def put_part(
        self,
        upload_key: str,
        state: dict[str, Any],
        number: int,
        blocks: AsyncIterator[bytes],
        length_hint: int | None,
    ) -> PartRef:
        """Writes one part durably from a stream of blocks; returns its reference."""

    def read_part(self, upload_key: str, state: dict[str, Any], part: PartRef) -> AsyncIterator[bytes]:
        """The bytes of a committed, not yet completed part (to recognise a re-sent chunk)."""

    async def complete_upload(self, upload_key: str, state: dict[str, Any], parts: list[PartRef]) -> str:
        """Joins the parts into one object and returns its key. Idempotent: a second call returns the same key."""

    async def is_completed(self, upload_key: str, state: dict[str, Any]) -> bool:
        """Whether ``complete_upload`` has joined this upload's parts (so it takes no more of them)."""

    async def abort_upload(self, upload_key: str, state: dict[str, Any], parts: list[PartRef]) -> None:
        """Drops an upload's parts. Idempotent."""

    def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Streams bytes ``[start, end)`` of an object."""

    def reader(self, key: str) -> BinaryIO:
        """A blocking, seekable file object over an object (for media probes, run in a worker thread)."""

    async def delete(self, key: str) -> None:
        """Deletes an object. Idempotent."""


@runtime_checkable
class InteractionStore(Protocol):
    async def put_interaction(self, record: InteractionRecord) -> None:
        """Inserts or replaces the record (an in-progress stream is stored again when it ends)."""

    async def get_interaction(
        self, project: str, interaction_id: str, now: datetime
    ) -> InteractionRecord | None:
        """The unexpired interaction of this project, or None."""

    async def delete_interaction(self, project: str, interaction_id: str, now: datetime) -> bool: ...

    async def sweep_expired_interactions(self, now: datetime, limit: int) -> int: ...


@runtime_checkable
class ModelBackend(Protocol):
    """One small Protocol: ``generate`` yields TextDelta events and ends with exactly one Finished."""

    async def generate(self, request: ModelRequest) -> AsyncIterator[OutputEvent]:
        yield Finished(Usage(0, 0))  # pragma: no cover - protocol signature

    async def count_tokens(self, request: ModelRequest) -> Usage:
        """Input tokens only (output_tokens is 0)."""
        ...

    async def close(self) -> None: ...


# Batch jobs (domain/batches.py) ------------------------------------------------------------------------
# Imported here, with the ports below, to keep this addition in one place.
from gemfiles.domain.batches import BatchJob, BatchState, Hold, LineResult  # noqa: E402
from gemfiles.domain.caches import CachedContent  # noqa: E402


@runtime_checkable
class BatchStore(Protocol):
    """Batch jobs and their answers. A job is run by one runner at a time (a lease, renewed as it goes);
    each answer is kept once per line index, whoever wrote it first."""

    async def create_batch(self, job: BatchJob) -> None: ...
    async def get_batch(self, project: str, batch_id: str) -> BatchJob | None: ...
    async def list_batches(self, project: str, limit: int, after: tuple[int, str] | None) -> list[BatchJob]:
        """Newest first, keyset-paginated after (create_micros, id)."""

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


# Cached contents (domain/caches.py) -------------------------------------------------------------------
@runtime_checkable
class CacheStore(Protocol):
    """Cached contents; every read filters out the expired ones, so they are gone before the sweep."""

    async def put_cache(self, cache: CachedContent) -> None: ...
    async def get_cache(self, project: str, cache_id: str, now: datetime) -> CachedContent | None: ...
    async def list_caches(
        self, project: str, now: datetime, limit: int, after: tuple[int, str] | None
    ) -> list[CachedContent]:
        """Unexpired caches, newest first, keyset-paginated after (create_micros, id)."""

    async def update_cache_expiry(
        self, project: str, cache_id: str, expire_time: datetime, now: datetime
    ) -> CachedContent | None: ...
    async def delete_cache(self, project: str, cache_id: str, now: datetime) -> bool: ...
    async def sweep_expired_caches(self, now: datetime, limit: int) -> int: ...
