"""create_app(settings): the composition root. The one place that knows every concrete class: it builds the
stores, the prober, the model backends, the domain services and the background runner, and closes them in
the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.middleware import Middleware

from gemfiles.backends.registry import BackendCatalog
from gemfiles.domain.batch_runner import BatchRunner, RunnerLimits
from gemfiles.domain.batch_service import BatchService
from gemfiles.domain.cache_service import CacheReader, CacheService
from gemfiles.domain.clock import Clock, OffsetClock, SystemClock
from gemfiles.domain.contents import ContentResolver
from gemfiles.domain.conversations import InteractionService
from gemfiles.domain.emulator import Emulator
from gemfiles.domain.faults import FaultPlan
from gemfiles.domain.files import FileService
from gemfiles.domain.generation import GenerationService
from gemfiles.domain.inventory import Inventory
from gemfiles.domain.journal import Journal
from gemfiles.domain.ports import MetadataStore, Prober, Telemetry
from gemfiles.domain.projects import ProjectAdmin, check_project
from gemfiles.domain.routing import ModelRouter
from gemfiles.domain.script import ScriptError, load_script
from gemfiles.domain.scriptbook import ScriptBook
from gemfiles.domain.scrub import Scrubber
from gemfiles.domain.seeding import Seeder
from gemfiles.domain.uploads import Limits, UploadService
from gemfiles.domain.workers import Maintenance, Runner
from gemfiles.logs import configure as configure_logs
from gemfiles.logs import request_writer
from gemfiles.media.isolated import IsolatedProber
from gemfiles.media.previews import IsolatedPreviewer
from gemfiles.media.sniff import MagicSniffer
from gemfiles.protocol.batch_lines import ModelLineRunner
from gemfiles.protocol.frame import Frame
from gemfiles.protocol.history import RequestHistory
from gemfiles.protocol.http import Authenticator
from gemfiles.protocol.models import read_document
from gemfiles.protocol.observe import RequestObserver
from gemfiles.protocol.routes import google_routes, internal_routes, render_escaped
from gemfiles.protocol.services import Services
from gemfiles.settings import Settings
from gemfiles.storage.batches import open_batch_store
from gemfiles.storage.caches import open_cache_store
from gemfiles.storage.inline import InlineBlobStore
from gemfiles.storage.interactions import open_interaction_store
from gemfiles.storage.registry import open_blob_store, open_metadata_store
from gemfiles.telemetry.prometheus import PrometheusTelemetry, prometheus_telemetry

log = logging.getLogger("gemfiles")

# A media worker with nothing to probe looks again after this long.
PROBE_IDLE_SECONDS = 0.2


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    clock = clock or (OffsetClock() if settings.emulator_controls else SystemClock())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    meta = open_metadata_store(settings.resolved_database_url)
    blobs = open_blob_store(settings.resolved_blob_url)
    inline_database = _inline_database(settings, meta)
    if inline_database is not None:  # small files' bytes in the SQLite database (storage/inline.py)
        blobs = InlineBlobStore(blobs, inline_database, meta)
    blob_url = blobs.url  # what a probe child opens: the same pair
    limits = Limits(
        max_file_bytes=settings.max_file_bytes,
        project_quota_bytes=settings.project_quota_bytes,
        file_ttl=settings.file_ttl,
        session_ttl=settings.upload_session_ttl,
        inline_bytes=settings.inline_max_bytes if inline_database is not None else 0,
    )
    # The one prober: the background worker's, and the model calls' on-demand facts.
    # Reusable children: the probe workers' and one more for a model call's on-demand probe.
    prober = IsolatedProber(
        blob_url,
        settings.probe_timeout_seconds,
        settings.child_memory_mib,
        blobs=blobs,
        children=settings.probe_concurrency + 1,
    )
    telemetry = prometheus_telemetry(
        meta,
        clock,
        default_quota=settings.project_quota_bytes,
        top_projects=settings.metrics_top_projects,
        cache_seconds=settings.metrics_cache_seconds,
    )
    files = FileService(meta, blobs, clock)
    emulator = build_emulator(settings, clock)
    faults = emulator.faults  # planned upload and processing faults, per project
    cache_store = open_cache_store(meta)
    caches = CacheService(cache_store, clock) if cache_store is not None else None
    generation = model_calls(settings, files, prober, caches, telemetry, emulator)
    batch_store = open_batch_store(meta)
    interactions = InteractionService(
        generation,
        open_interaction_store(meta),
        clock,
        settings.interaction_ttl,
        settings.max_inline_pdf_bytes,
    )
    # The console's previews: made by probe children too, kept under the data directory.
    previewer = IsolatedPreviewer(
        blob_url,
        settings.data_dir / "previews",
        settings.probe_timeout_seconds,
        settings.child_memory_mib,
    )
    return Services(
        settings=settings,
        clock=clock,
        meta=meta,
        blobs=blobs,
        auth=Authenticator(settings, meta),
        files=files,
        uploads=UploadService(
            meta, blobs, clock, limits, telemetry=telemetry, sniffer=MagicSniffer(), faults=faults
        ),
        maintenance=Maintenance(meta, blobs, clock, prober, telemetry, faults),
        # The blob store's times are wall-clock times: the scrub's grace is measured on the real clock,
        # never on the emulator's movable one (moving it would make bytes being written look old).
        scrubber=Scrubber(meta, blobs, SystemClock(), settings.scrub_grace, telemetry),
        generation=generation,
        interactions=interactions,
        prober=prober,
        admin=ProjectAdmin(meta, clock, settings.project_quota_bytes),
        telemetry=telemetry,
        batches=BatchService(batch_store, files, blobs, clock) if batch_store is not None else None,
        caches=caches,
        emulator=emulator,
        inventory=Inventory(meta, files, clock, previewer, batch_store),
        history=RequestHistory(),
    )


def _inline_database(settings: Settings, meta: MetadataStore) -> Path | None:
    """The SQLite file that keeps small files' bytes (``GEMFILES_INLINE_MAX_BYTES``), or None: every file's
    bytes go to the blob store (the setting is 0, or the metadata is on PostgreSQL or in memory)."""
    from gemfiles.storage.sql import SqlMetadataStore

    if not settings.inline_max_bytes or not isinstance(meta, SqlMetadataStore):
        return None
    return meta.sqlite_file


def build_emulator(settings: Settings, clock: Clock) -> Emulator:
    """Scripted answers (GEMFILES_SCRIPT, checked here: a bad script stops start-up), planned faults and the
    journal, per project."""
    try:
        rules = load_script(settings.script) if settings.script else []
    except ScriptError as exc:
        raise ValueError(exc.message) from None
    return Emulator(ScriptBook(rules), FaultPlan(), Journal(clock.now))


def model_calls(
    settings: Settings,
    files: FileService,
    prober: Prober,
    caches: CacheService | None = None,
    telemetry: Telemetry | None = None,
    emulator: Emulator | None = None,
) -> GenerationService:
    """The model layer: the routing table's backends (a bad table fails here, at start-up), the resolver
    and the cached contents (on a SQL metadata store) whose contents a call may start with.

    Files used before the probe worker got to them (an image is ACTIVE, and usable, at once) and inline
    data get their media facts on demand, each probed in a child process; stored facts are never recomputed.
    A cache's document is read by the protocol's parser of generateContent contents.
    """
    router = ModelRouter.build(settings.models, BackendCatalog(settings.openai_options()))
    resolver = ContentResolver(files, prober)
    reader = None
    if caches is not None:
        reader = CacheReader(caches, resolver, lambda document: read_document(document, settings))
    return GenerationService(router, resolver, reader, telemetry, emulator)


def build_runner(services: Services) -> Runner:
    """The background work of one process: the expiry sweeps, the scrub of orphan bytes, the media probe
    workers, the batch runners
    (each answers a job's lines through the generation service, as ``:generateContent`` would) and the
    sweep of expired cached contents."""
    runner = Runner()
    settings = services.settings
    interval = settings.sweep_interval.total_seconds()
    runner.every(interval, services.maintenance.sweep, "expiry sweep")
    runner.every(interval, services.interactions.sweep_expired, "interaction sweep")
    if services.scrubber is not None:
        # At start-up (in the background: readiness does not wait for it), then every scrub_interval.
        runner.every(settings.scrub_interval.total_seconds(), services.scrubber.scrub, "orphan scrub")
    runner.worker(
        services.maintenance.probe_one,
        "media probe",
        idle=PROBE_IDLE_SECONDS,
        count=settings.probe_concurrency,
    )
    if services.caches is not None:
        runner.every(interval, services.caches.sweep, "cached content sweep")
    if services.batches is not None:
        limits = RunnerLimits(
            concurrency=settings.batch_concurrency,
            max_line_bytes=settings.max_request_bytes,
            file_ttl=settings.file_ttl,
        )
        lines = ModelLineRunner(services.generation, settings)
        batches = BatchRunner(services.batches.store, services.blobs, services.clock, lines, limits)
        runner.worker(
            batches.run_once, "batch runner", idle=limits.poll_seconds, count=settings.batch_runners
        )
    return runner


def seed_targets(settings: Settings) -> list[tuple[str, Path]]:
    """(project, directory) pairs of GEMFILES_SEED_DIR: the whole directory into GEMFILES_SEED_PROJECT, or,
    without it, each subdirectory ``<dir>/<project>/`` into the project it names."""
    if settings.seed_dir is None:
        return []
    if settings.seed_project:
        return [(check_project(settings.seed_project), settings.seed_dir)]
    return [
        (check_project(sub.name), sub)
        for sub in sorted(settings.seed_dir.iterdir())
        if sub.is_dir() and not sub.name.startswith(".")
    ]


async def seed_at_startup(services: Services) -> None:
    seeder = Seeder(services.meta, services.uploads, services.clock)
    for project, directory in seed_targets(services.settings):
        report = await seeder.seed(project, directory)
        log.info(
            "seeded %s from %s: %d added, %d replaced, %d unchanged, %d failed",
            project,
            directory,
            len(report.added),
            len(report.replaced),
            len(report.skipped),
            len(report.failed),
        )


async def seed_before_workers(settings: Settings) -> None:
    """Seeding once, in the process that starts several workers (each seeding at once would race)."""
    services = build_services(settings)
    try:
        if settings.auto_migrate:
            await services.meta.migrate()
        await seed_at_startup(services)
    finally:
        await services.generation.close()
        await services.meta.close()
        await services.blobs.close()


def freeze_startup_heap() -> None:
    """Puts the objects alive once the server has started (modules, classes, the app, the engines: about
    90,000) out of the cyclic collector's reach. A generation-2 collection walked all of them with the event
    loop stopped, 30-70 ms of CPU, and a listing walk that keeps promoting memoized records set one off every
    few hundred pages: the slowest pages of the walk. They are collected first, so no garbage is frozen; once
    per process (a process that starts apps one after another, as the tests do, keeps collecting the rest)."""
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Frame:
    settings = settings or Settings()
    configure_logs(settings.log_level, settings.log_format)
    services = build_services(settings, clock)
    runner = build_runner(services)

    @contextlib.asynccontextmanager
    async def lifespan(app: Frame) -> AsyncIterator[None]:
        if settings.auto_migrate:
            await services.meta.migrate()
        await seed_at_startup(services)
        if settings.run_workers:
            runner.start()
        services.ready = True
        freeze_startup_heap()
        try:
            yield
        finally:
            services.ready = False
            await runner.stop()
            await services.generation.close()
            if isinstance(services.prober, IsolatedProber):
                await asyncio.to_thread(services.prober.close)
            await services.meta.close()
            await services.blobs.close()
            if isinstance(services.telemetry, PrometheusTelemetry):
                services.telemetry.close()

    app = Frame(
        routes=[*google_routes(), *internal_routes()],
        lifespan=lifespan,
        middleware=[
            Middleware(
                RequestObserver,
                telemetry=services.telemetry,
                write_line=request_writer(settings.log_format) if settings.access_log else None,
                history=services.history,
                render_error=render_escaped,
            ),
        ],
    )
    app.state.services = services
    return app
