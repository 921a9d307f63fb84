"""Background work: the one runner of periodic jobs and workers, and the jobs themselves (the expiry
sweep, blob collection and media probes).

Every item is claimed through the metadata store (row leases, ``SKIP LOCKED`` on PostgreSQL), so with
several replicas each is done once, and an item whose worker died is taken again when its lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from gemfiles.domain.clock import Clock
from gemfiles.domain.faults import FaultPlan
from gemfiles.domain.mime import file_kind, needs_processing
from gemfiles.domain.models import FileRecord, FileState, PartRef
from gemfiles.domain.ports import BlobStore, MetadataStore, NoTelemetry, Prober, Telemetry

log = logging.getLogger("gemfiles.workers")

SWEEP_BATCH = 200
Probed = tuple[FileState, dict[str, Any], dict[str, Any] | None]
GC_LEASE_SECONDS = 300.0
PROBE_LEASE_SECONDS = 600.0


class Runner:
    """Every background loop of a process, registered by the composition root, started and stopped by
    its lifespan.

    * ``every(seconds, job)``: a periodic job, run at once and then ``seconds`` after each run ends;
    * ``worker(step, idle=...)``: a queue worker; ``step()`` does one item and says whether there was one,
      and the worker waits ``idle`` seconds only when there was none;
    * ``task(loop)``: a coroutine that runs until it is cancelled (and may clean up in ``finally``).

    A job that raises is logged and tried again on its next turn; it never stops the others.
    """

    def __init__(self) -> None:
        self._loops: list[tuple[str, Callable[[], Coroutine[Any, Any, Any]]]] = []
        self._tasks: list[asyncio.Task[Any]] = []

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self._loops]

    def every(self, seconds: float, job: Callable[[], Awaitable[Any]], name: str) -> None:
        async def periodic() -> None:
            while True:
                await _guarded(job, name, f"retrying in {seconds:.0f}s")
                await asyncio.sleep(seconds)

        self._loops.append((name, periodic))

    def worker(self, step: Callable[[], Awaitable[bool]], name: str, *, idle: float, count: int = 1) -> None:
        async def working() -> None:
            while True:
                if not await _guarded(step, name, "going on"):
                    await asyncio.sleep(idle)

        self._loops.extend((name, working) for _ in range(count))

    def task(self, loop: Callable[[], Coroutine[Any, Any, Any]], name: str) -> None:
        self._loops.append((name, loop))

    def start(self) -> None:
        """Starts every registered loop (call it from the event loop that serves)."""
        if self._tasks:
            raise RuntimeError("the runner is already started")
        self._tasks = [asyncio.create_task(loop(), name=name) for name, loop in self._loops]

    async def stop(self) -> None:
        """Cancels every loop and waits until each has finished its clean-up."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task, outcome in zip(tasks, await asyncio.gather(*tasks, return_exceptions=True), strict=True):
            if isinstance(outcome, Exception):
                log.error("background task %s failed", task.get_name(), exc_info=outcome)


async def _guarded(job: Callable[[], Awaitable[Any]], name: str, then: str) -> Any:
    """``job()``, or None after logging what it raised (cancellation goes through)."""
    try:
        return await job()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s failed; %s", name, then)
        return None


@dataclass
class SweepReport:
    files: int = 0
    sessions: int = 0
    blobs: int = 0


class Maintenance:
    """The background jobs on files: the expiry sweep, blob collection and media probes."""

    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        clock: Clock,
        prober: Prober,
        telemetry: Telemetry | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        self.meta = meta
        self.blobs = blobs
        self.clock = clock
        self.prober = prober
        self.telemetry = telemetry or NoTelemetry()
        self.faults = faults if faults is not None else FaultPlan()
        # Probed files a hold_processing fault keeps PROCESSING: their outcome, saved once the hold ends.
        self._held: dict[tuple[str, str], tuple[FileRecord, Probed]] = {}

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
        self.telemetry.swept(report.files, report.sessions, report.blobs)
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

    async def probe_one(self) -> bool:
        """Probes one file not probed yet and stores its facts (and, for video and audio, its state).

        Video and audio go from PROCESSING to ACTIVE or FAILED; every other file is ACTIVE already and
        only gains its facts. False when no file was waiting.
        """
        if await self._release_held():
            return True
        record = await self.meta.claim_probe(self.clock.now(), PROBE_LEASE_SECONDS)
        if record is None:
            return False
        started = time.monotonic()
        try:
            state, facts, error = await self.prober.probe(record)
        except Exception as exc:  # a probe that crashes must not leave the file PROCESSING forever
            log.exception("probe of %s failed", record.name)
            state = FileState.FAILED if record.state == FileState.PROCESSING else record.state
            facts, error = {}, {"code": 13, "message": f"Processing failed: {type(exc).__name__}"}
        ok = state != FileState.FAILED and "probe_error" not in facts
        self.telemetry.probe_done(file_kind(record.mime_type), time.monotonic() - started, ok)
        if record.state != FileState.PROCESSING:
            state = record.state  # files that were usable at once stay usable; only facts are added
            error = record.error
        await self._save(record, (state, facts, error))
        return True

    async def _save(self, record: FileRecord, probed: Probed) -> None:
        """Stores a probe's outcome, as a planned processing fault (if any) bends it."""
        state, facts, error = probed
        planned = self.faults.file_fault(record.project, record.id)
        if planned is not None and planned.fault.kind == "hold_processing":
            if self.clock.now() < planned.until:
                self._held[(record.project, record.id)] = (record, probed)
                return
            if state == FileState.PROCESSING and not needs_processing(record.mime_type):
                state = FileState.ACTIVE  # held a file that is usable at once: it becomes ACTIVE
        elif planned is not None:  # fail_processing
            state, error = FileState.FAILED, {"code": 13, "message": planned.fault.failure_message}
        self.faults.unmark_file(record.project, record.id)
        await self.meta.save_probe(record.project, record.id, state, facts, error, self.clock.now())

    async def _release_held(self) -> bool:
        """Saves the outcome of one held file whose hold has ended (by the clock); False when none has."""
        for key, (record, probed) in list(self._held.items()):
            planned = self.faults.file_fault(*key)
            if planned is None or self.clock.now() >= planned.until:
                del self._held[key]
                await self._save(record, probed)
                return True
        return False
