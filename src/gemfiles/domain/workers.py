"""Background work: the expiry sweep, blob collection and media probes.

Every item is claimed through the metadata store (row leases, ``SKIP LOCKED`` on PostgreSQL), so with
several replicas each is done once, and an item whose worker died is taken again when its lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gemfiles.domain.clock import Clock
from gemfiles.domain.models import FileRecord, FileState, PartRef
from gemfiles.domain.ports import BlobStore, MetadataStore

log = logging.getLogger("gemfiles.workers")

SWEEP_BATCH = 200
GC_LEASE_SECONDS = 300.0
PROBE_LEASE_SECONDS = 600.0

# A probe takes a file and returns (state, facts, error) without touching the metadata.
Prober = Callable[[FileRecord], Awaitable[tuple[FileState, dict[str, Any] | None, dict[str, Any] | None]]]


@dataclass
class SweepReport:
    files: int = 0
    sessions: int = 0
    blobs: int = 0


class Maintenance:
    def __init__(self, meta: MetadataStore, blobs: BlobStore, clock: Clock) -> None:
        self.meta = meta
        self.blobs = blobs
        self.clock = clock
        self.deleted_files = 0  # files this process swept (each file is swept by exactly one process)

    async def sweep(self) -> SweepReport:
        report = SweepReport()
        while True:
            swept = await self.meta.sweep_expired_files(self.clock.now(), SWEEP_BATCH)
            report.files += len(swept)
            for record in swept:
                log.info("expired %s/%s (%d bytes)", record.project, record.name, record.size_bytes)
            if len(swept) < SWEEP_BATCH:
                break
        while True:
            count = await self.meta.sweep_expired_sessions(self.clock.now(), SWEEP_BATCH)
            report.sessions += count
            if count < SWEEP_BATCH:
                break
        report.blobs = await self.collect()
        self.deleted_files += report.files
        return report

    async def collect(self) -> int:
        """Deletes bytes that no metadata points at any more."""
        done = 0
        while True:
            items = await self.meta.claim_gc(self.clock.now(), GC_LEASE_SECONDS, 100)
            if not items:
                return done
            finished = []
            for item in items:
                try:
                    if item.kind == "object":
                        await self.blobs.delete(item.key)
                    else:
                        parts = [PartRef.from_json(p) for p in item.state.get("parts", [])]
                        await self.blobs.abort_upload(item.key, item.state.get("blob_state", {}), parts)
                    finished.append(item.id)
                except Exception:
                    log.exception("could not delete blob %s %s; will retry", item.kind, item.key)
            await self.meta.finish_gc(finished)
            done += len(finished)
            if len(finished) < len(items):
                return done

    async def probe_one(self, prober: Prober) -> bool:
        record = await self.meta.claim_probe(self.clock.now(), PROBE_LEASE_SECONDS)
        if record is None:
            return False
        try:
            state, facts, error = await prober(record)
        except Exception as exc:  # a probe that crashes must not leave the file PROCESSING forever
            log.exception("probe of %s failed", record.name)
            state = FileState.FAILED if record.state == FileState.PROCESSING else record.state
            facts, error = {}, {"code": 13, "message": f"Processing failed: {type(exc).__name__}"}
        if record.state != FileState.PROCESSING:
            state = record.state  # files that were usable at once stay usable; only facts are added
            error = record.error
        await self.meta.save_probe(record.project, record.id, state, facts, error, self.clock.now())
        return True


async def run_forever(interval: float, job: Callable[[], Awaitable[Any]], name: str) -> None:
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; retrying in %.0fs", name, interval)
        await asyncio.sleep(interval)
