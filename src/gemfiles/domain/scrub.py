"""The scrub: bytes in the blob store that no metadata names, found and removed.

How bytes get orphaned. The bytes of a file are written before its metadata is committed (bytes first, so
a committed row always has its bytes), and a crash can fall in between:

* a finalize joined an upload's parts (``complete_upload``) and the process died before the file row was
  committed; the session then ends by cancel or expiry, whose collection aborts only the upload's parts,
  never the object already made;
* a one-request upload wrote its object (``put_object``: written, fsynced, renamed; an S3 object) and the
  process died before ``create_file`` committed;
* an upload folder or an S3 multipart upload that no session names (begun just before a crash, before
  its session was stored).

The expiry sweep and the collector handle everything the metadata knows about; the scrub is for what it
does not. It lists the whole store (``BlobStore.inventory``) in pages, asks the metadata which of a page's
keys are still named (``MetadataStore.blob_keys_in_use``: files, batch inputs, active sessions, queued
collection items) and removes what is both unnamed and older than the grace period.

Why the grace, and why it is enough. The write-then-commit order means that for a moment every new object
is unnamed: a one-request upload's object exists, fsynced, before ``create_file`` commits the row naming
it (and an upload folder exists just before its session row). A scrub that listed the object and asked
the metadata in that moment would see an orphan and remove the bytes of a file about to be acknowledged.
The grace protects exactly that window: an object is a candidate only once its last write is older than
``grace`` (default 1 hour), and the window between the last write and the commit is a few milliseconds;
for an S3 multipart upload the store knows only when it began, so the grace must also exceed the longest
a single upload request can take. The metadata is asked after the store listed the page, and asked again
for the candidates just before they are removed, so any name committed before that second question is
seen. Resumable uploads need no grace: an active session names its upload and the object it completes
into until the same transaction that ends it creates the file row naming that object.

Several replicas may scrub at once: removing what is already removed is not an error, so two scrubs only
repeat each other's work.

A dry run (``gemfiles scrub --dry-run``) asks both questions alike and reports what a scrub would remove,
removing nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from gemfiles.domain.clock import Clock
from gemfiles.domain.ports import BlobStore, MetadataStore, NoTelemetry, StoredBlob, Telemetry

log = logging.getLogger("gemfiles.scrub")

# UploadSession.upload_key: the first 40 characters of the session's token digest. An object or upload
# whose key begins with it belongs to that session (a whole-file attempt adds 8 characters of its own).
UPLOAD_KEY_CHARS = 40
PAGE = 500
REPORTED_KEYS = 50


@dataclass
class ScrubReport:
    """What one scrub saw and did (a dry run: what it would have removed); ``keys``: the first
    ``key_limit`` keys it removed (all of them when None)."""

    dry_run: bool = False
    key_limit: int | None = REPORTED_KEYS
    examined: int = 0
    objects: int = 0
    uploads: int = 0
    object_bytes: int = 0
    upload_bytes: int = 0
    waiting: int = 0  # unnamed, but inside the grace period: left to a later scrub
    failed: int = 0
    keys: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def removed(self) -> int:
        return self.objects + self.uploads

    @property
    def bytes(self) -> int:
        return self.object_bytes + self.upload_bytes

    def count(self, blob: StoredBlob) -> None:
        if blob.kind == "object":
            self.objects += 1
            self.object_bytes += blob.size
        else:
            self.uploads += 1
            self.upload_bytes += blob.size
        if self.key_limit is None or len(self.keys) < self.key_limit:
            self.keys.append(blob.key if blob.kind == "object" else f"uploads/{blob.key}")


def owner_key(blob: StoredBlob) -> str:
    """The upload key of the session this blob would belong to (``ab/<key>.j`` and ``<key><attempt>`` alike)."""
    name = blob.key.rpartition("/")[2]
    return name.partition(".")[0][:UPLOAD_KEY_CHARS]


def _named(blob: StoredBlob, in_use: set[str]) -> bool:
    return blob.key in in_use or owner_key(blob) in in_use


class Scrubber:
    """Finds and removes blobs no metadata names (see the module's docstring for why it is safe).

    ``clock`` is the wall clock the blob store's times are compared with: a real one when serving (the
    emulator's movable clock would make fresh bytes look old), a test's own in unit tests.
    """

    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        clock: Clock,
        grace: timedelta,
        telemetry: Telemetry | None = None,
        page: int = PAGE,
    ) -> None:
        self.meta = meta
        self.blobs = blobs
        self.clock = clock
        self.grace = grace
        self.telemetry = telemetry or NoTelemetry()
        self.page = page

    async def scrub(
        self,
        grace: timedelta | None = None,
        *,
        dry_run: bool = False,
        key_limit: int | None = REPORTED_KEYS,
    ) -> ScrubReport:
        """One pass over the whole store. ``grace`` overrides the configured one (tests, with nothing in
        flight); ``dry_run`` removes nothing and reports what would have been removed; ``key_limit``: how
        many of the keys the report lists (None: all)."""
        grace = self.grace if grace is None else grace
        report = ScrubReport(dry_run=dry_run, key_limit=key_limit)
        started = time.monotonic()
        async for page in _pages(self.blobs.inventory(), self.page):
            await self._scrub_page(page, grace, report)
        report.seconds = round(time.monotonic() - started, 3)
        if dry_run:
            log.info(
                "scrub (dry run) would remove %d orphan objects and %d unfinished uploads (%d bytes)",
                report.objects,
                report.uploads,
                report.bytes,
                extra={"fields": _fields(report)},
            )
            return report
        self.telemetry.scrubbed(report.objects, report.uploads, report.bytes)
        if report.removed or report.failed:
            log.warning(
                "scrub removed %d orphan objects and %d unfinished uploads (%d bytes): %s",
                report.objects,
                report.uploads,
                report.bytes,
                " ".join(report.keys) + (" ..." if report.removed > len(report.keys) else ""),
                extra={"fields": _fields(report)},
            )
        else:
            log.info(
                "scrub found no orphan bytes in %d entries",
                report.examined,
                extra={"fields": _fields(report)},
            )
        return report

    async def _scrub_page(self, page: list[StoredBlob], grace: timedelta, report: ScrubReport) -> None:
        report.examined += len(page)
        listed_in_use = await self._in_use(page)
        unnamed = [b for b in page if not _named(b, listed_in_use)]
        now = self.clock.now()
        candidates = [b for b in unnamed if now - b.modified >= grace]
        report.waiting += len(unnamed) - len(candidates)
        if not candidates:
            return
        # Asked again just before removing: a name committed since the page was examined is seen.
        in_use = await self._in_use(candidates)
        for blob in candidates:
            if _named(blob, in_use):
                continue
            try:
                if not report.dry_run:
                    await self.blobs.remove(blob)
            except Exception:
                log.exception("scrub could not remove %s %s; the next scrub tries again", blob.kind, blob.key)
                report.failed += 1
                continue
            report.count(blob)

    async def _in_use(self, blobs: list[StoredBlob]) -> set[str]:
        objects = sorted({b.key for b in blobs if b.kind == "object"})
        uploads = sorted({owner_key(b) for b in blobs} | {b.key for b in blobs if b.kind != "object"})
        return await self.meta.blob_keys_in_use(objects, uploads)


def _fields(report: ScrubReport) -> dict[str, object]:
    return {
        "scrub_examined": report.examined,
        "scrub_removed_objects": report.objects,
        "scrub_removed_uploads": report.uploads,
        "scrub_removed_bytes": report.bytes,
        "scrub_dry_run": report.dry_run,
        "scrub_waiting": report.waiting,
        "scrub_failed": report.failed,
        "scrub_keys": report.keys,
        "scrub_seconds": report.seconds,
    }


async def _pages(blobs: AsyncIterator[StoredBlob], size: int) -> AsyncIterator[list[StoredBlob]]:
    page: list[StoredBlob] = []
    async for blob in blobs:
        page.append(blob)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page
