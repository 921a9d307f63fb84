"""The stores' ports and the errors they raise.

``MetadataStore``: files, upload sessions, quotas, keys and background-work queues. Every method that
changes more than one row is one transaction, so quotas stay exact and nothing half-done is ever visible.

``BlobStore``: the bytes. An upload is a sequence of parts, each written by one chunk request (or one
attempt at it); ``complete_upload`` turns the committed parts into one object, idempotently. Its
``inventory`` lists everything it holds, for the scrub of bytes no metadata names (domain/scrub.py).

``InteractionStore``: stored interactions (timelines), expiring.

Small files' bytes may live in the metadata database instead of the blob store (``MetadataStore``'s
``inline`` arguments): written in the transaction that records the file, their key an inline key
(``inline_key``), read and collected through the blob store that wraps the two (storage/inline.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Protocol, runtime_checkable

from gemfiles.domain.interactions import InteractionRecord
from gemfiles.domain.models import Activity, FileRecord, FileState, PartRef, ProjectUsage, UploadSession


class StorageError(Exception):
    """Base of the errors a store raises; the domain translates each into what a client is told."""


class StoreUnavailable(StorageError):
    """The metadata store cannot be reached (down, restarting, connections lost). The request changed
    nothing the client was told of; the same request can be sent again."""


class NameTaken(StorageError):
    """A custom file name is held by an unexpired file."""

    def __init__(self, project: str, file_id: str) -> None:
        super().__init__(f"file {file_id} of project {project} exists")
        self.project = project
        self.file_id = file_id


class QuotaRefused(StorageError):
    """Reserving ``needed`` more bytes would take ``project`` over its ``quota``; nothing was reserved."""

    def __init__(self, project: str, needed: int, quota: int) -> None:
        super().__init__(f"project {project}: {needed} more bytes do not fit its quota of {quota}")
        self.project = project
        self.needed = needed
        self.quota = quota


class SessionGone(StorageError):
    """The session was finished, cancelled or removed by another request in the meantime."""


class PartUnreadable(StorageError):
    """A store cannot read back a part of an unfinished upload (an S3 multipart part)."""


class BlobStoreError(OSError):
    """The blob store could not do what was asked (unreachable, refused): nothing says the bytes were bad.

    An OSError, like the local disk's own failures: the domain treats every OSError of a blob store as
    the store failing, never as the client's bytes being wrong.
    """


class PartNumbers(Protocol):
    """Where a store gets the number of the part it is about to write.

    ``next`` is the session's next number, which may already be in use by another attempt at the same
    offset (or a part a crash left behind): a store that can detect that reuse before reading any byte
    (a file created exclusively) may try it first and ``allocate`` only on a clash; a store that would
    overwrite silently (S3) must ``allocate``. Allocated numbers are never handed out twice.
    """

    @property
    def next(self) -> int: ...

    async def allocate(self) -> int: ...


INLINE_PREFIX = "inline/"


def inline_key(upload_key: str) -> str:
    """The blob key of bytes kept with their file's row: never an object key (``<k[:2]>/<upload key>``)."""
    return INLINE_PREFIX + upload_key


def is_inline(key: str) -> bool:
    return key.startswith(INLINE_PREFIX)


@dataclass(frozen=True, slots=True)
class GcItem:
    """Bytes that no metadata points at any more: an object, or an upload's parts."""

    id: int
    kind: str  # "object" | "upload"
    key: str
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """One thing a blob store holds, as its ``inventory`` lists it.

    ``kind``: ``"object"``, a finished object, ``key`` its object key (``<k[:2]>/<upload key>``, what a
    file's ``blob_key`` holds); or ``"upload"``, the parts of an unfinished upload (or an object still being
    written whole), ``key`` its upload key. ``modified``: its last write, as the store knows it (an S3
    multipart upload: when it began). ``handle``: what the store's ``remove`` needs besides the key.
    """

    kind: str
    key: str
    size: int
    modified: datetime
    handle: dict[str, Any] = field(default_factory=dict)


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

    async def create_file(
        self, file: FileRecord, quota_bytes: int, now: datetime, inline: bytes | None = None
    ) -> FileRecord:
        """Records a file whose bytes arrived whole in one request, in one transaction: its size taken
        against the project quota (QuotaRefused if it does not fit) and its row inserted; with ``inline``,
        its bytes stored under ``file.blob_key`` (an inline key) in the same transaction.

        An expired file of the same name is replaced; an unexpired one raises NameTaken.
        """

    # Upload sessions --------------------------------------------------------------------------------
    async def create_session(self, session: UploadSession, quota_bytes: int, now: datetime) -> None:
        """Reserves ``session.reserved_bytes`` against the project quota atomically and stores the session.

        Raises NameTaken if an unexpired file already has ``session.file_id`` (custom names), and
        QuotaRefused if the reservation does not fit.
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
        QuotaRefused if they do not fit. False when another request advanced the session first.
        """

    async def finish_session(self, token_digest: str, file: FileRecord, now: datetime) -> FileRecord:
        """Creates the file from an active, fully received session: the reservation becomes usage.

        An expired file of the same name is replaced. An unexpired one raises NameTaken, and the session
        ends failed with an ALREADY_EXISTS error (replayed to retries). Raises SessionGone if the session
        is no longer active (another request finished it).
        """

    async def finish_whole(
        self,
        token_digest: str,
        file: FileRecord,
        quota_bytes: int,
        now: datetime,
        inline: bytes | None = None,
    ) -> FileRecord | None:
        """Commits the one chunk of a session that held no bytes yet and creates its file, in one
        transaction: ``commit_part`` and ``finish_session`` at once (the SDKs' ``upload, finalize`` of a
        whole file); ``inline`` bytes are stored with the file as in ``create_file``. An undeclared size is taken against the quota now (QuotaRefused, the session
        unchanged). None, and nothing changed, if the session is no longer active at offset 0. An
        unexpired file of the same name ends the session as ``finish_session`` does, and raises NameTaken.
        """

    # Bytes kept in the database (``inline`` above) -----------------------------------------------------
    async def read_inline(self, key: str) -> bytes | None:
        """The bytes stored under an inline key, or None."""

    async def delete_inline(self, key: str) -> None:
        """Deletes the bytes of an inline key (their file's collection). Idempotent."""

    async def inline_blobs(self, after: str, limit: int) -> list[StoredBlob]:
        """Up to ``limit`` stored inline keys after ``after``, in key order, as ``"object"`` inventory
        entries (for the scrub)."""

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

    async def blob_keys_in_use(self, object_keys: list[str], upload_keys: list[str]) -> set[str]:
        """Which of these keys some metadata still names, for the scrub (one call per page of keys).

        An object key is named by a file's ``blob_key``, a batch job's input or a queued collection item; an
        upload key by an active upload session (its ``upload_key``) or a queued collection item. Expired
        rows the sweep has not reached yet still name their keys: the sweep and the collector handle them.
        """

    # Projects and keys --------------------------------------------------------------------------------
    async def get_usage(self, project: str) -> ProjectUsage:
        """Bytes used and reserved, and the project's own quota if it has one."""

    async def set_quota(self, project: str, quota_bytes: int | None) -> None:
        """Gives a project its own quota (None: the default again). Every reservation checks a project's own
        quota in place of the ``quota_bytes`` it is handed (the server's default), in the same transaction."""

    async def list_projects(self, now: datetime) -> list[ProjectUsage]:
        """Every project with bytes, reservations or a quota of its own, with its unexpired files counted."""

    async def activity(self, now: datetime) -> Activity:
        """Upload sessions in progress and files waiting for a probe."""

    async def sessions_in_progress(self, now: datetime, limit: int) -> list[UploadSession]:
        """Active, unexpired upload sessions of every project, newest first (the console's uploads)."""

    async def create_key(self, key_hash: str, project: str, prefix: str, now: datetime) -> None: ...
    async def list_keys(self) -> list[ApiKeyRecord]: ...
    async def revoke_key(self, prefix_or_hash: str, now: datetime) -> int: ...
    async def lookup_key(self, key_hash: str) -> str | None:
        """The project of an unrevoked key, or None."""


@runtime_checkable
class BlobStore(Protocol):
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
        numbers: PartNumbers,
        blocks: AsyncIterator[bytes],
        length_hint: int | None,
        observe: Callable[[bytes], None] | None = None,
    ) -> PartRef:
        """Writes one part durably from a stream of blocks; returns its reference.

        ``observe`` runs on every block, in order, before the part is returned (the domain's running
        SHA-256); a store runs it off the event loop. A part shorter than ``length_hint`` is returned
        with the size it got, and the domain refuses it. Failures of the store are OSErrors.
        """

    async def put_object(
        self, upload_key: str, blocks: AsyncIterator[bytes], observe: Callable[[bytes], None] | None = None
    ) -> tuple[str, int]:
        """Writes a whole object durably from a stream of blocks (an upload that arrived in one request);
        returns its key and size. ``observe`` runs on every block as in ``put_part``. On failure nothing
        of it remains."""

    async def same_part(
        self, upload_key: str, state: dict[str, Any], part: PartRef, body: AsyncIterator[bytes]
    ) -> bool:
        """Whether ``body`` holds the bytes of a committed, not yet completed part (a re-sent chunk).

        False, not an error, when the part cannot be read any more (a finalize moved it meanwhile).
        """

    def read_part(self, upload_key: str, state: dict[str, Any], part: PartRef) -> AsyncIterator[bytes]:
        """The bytes of a committed, not yet completed part; PartUnreadable where the store cannot."""

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

    def inventory(self) -> AsyncIterator[StoredBlob]:
        """Every object and unfinished upload the store holds, streamed (never all in memory), in key order
        where the store lists that way. Names the store does not recognise as its own are left out."""

    async def remove(self, blob: StoredBlob) -> None:
        """Removes what one ``inventory`` entry names (an object, or an upload's parts). Idempotent: an
        entry removed meanwhile (by another replica's scrub) is not an error."""


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
