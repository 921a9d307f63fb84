"""create_app(settings): the composition root. The one place that knows every concrete class: it builds the
stores, the prober, the model backends, the domain services and the background runner, and closes them in
the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from gemfiles.backends.registry import BackendCatalog
from gemfiles.domain.clock import Clock, OffsetClock, SystemClock
from gemfiles.domain.contents import ContentResolver
from gemfiles.domain.conversations import InteractionService
from gemfiles.domain.files import FileService
from gemfiles.domain.generation import GenerationService
from gemfiles.domain.ports import Prober
from gemfiles.domain.routing import ModelRouter
from gemfiles.domain.uploads import Limits, UploadService
from gemfiles.domain.workers import Maintenance, Runner
from gemfiles.media.isolated import IsolatedProber
from gemfiles.protocol.http import Authenticator
from gemfiles.protocol.routes import exception_handlers, google_routes, internal_routes
from gemfiles.protocol.services import Services
from gemfiles.settings import Settings
from gemfiles.storage.interactions import open_interaction_store
from gemfiles.storage.registry import open_blob_store, open_metadata_store

log = logging.getLogger("gemfiles")

# A media worker with nothing to probe looks again after this long.
PROBE_IDLE_SECONDS = 0.2


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    clock = clock or (OffsetClock() if settings.emulator_controls else SystemClock())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    meta = open_metadata_store(settings.resolved_database_url)
    blobs = open_blob_store(settings.resolved_blob_url)
    limits = Limits(
        max_file_bytes=settings.max_file_bytes,
        project_quota_bytes=settings.project_quota_bytes,
        file_ttl=settings.file_ttl,
        session_ttl=settings.upload_session_ttl,
    )
    # The one prober: the background worker's, and the model calls' on-demand facts.
    # Reusable children: the probe workers' and one more for a model call's on-demand probe.
    prober = IsolatedProber(
        settings.resolved_blob_url,
        settings.probe_timeout_seconds,
        settings.child_memory_mib,
        blobs=blobs,
        children=settings.probe_concurrency + 1,
    )
    files = FileService(meta, blobs, clock)
    generation = model_calls(settings, files, prober)
    interactions = InteractionService(
        generation,
        open_interaction_store(meta),
        clock,
        settings.interaction_ttl,
        settings.max_inline_pdf_bytes,
    )
    return Services(
        settings=settings,
        clock=clock,
        meta=meta,
        blobs=blobs,
        auth=Authenticator(settings, meta),
        files=files,
        uploads=UploadService(meta, blobs, clock, limits),
        maintenance=Maintenance(meta, blobs, clock, prober),
        generation=generation,
        interactions=interactions,
        prober=prober,
    )


def model_calls(settings: Settings, files: FileService, prober: Prober) -> GenerationService:
    """The model layer: the routing table's backends (a bad table fails here, at start-up) and the resolver.

    Files used before the probe worker got to them (an image is ACTIVE, and usable, at once) and inline
    data get their media facts on demand, each probed in a child process; stored facts are never recomputed.
    """
    router = ModelRouter.build(settings.models, BackendCatalog(settings.openai_options()))
    resolver = ContentResolver(files, file_facts=prober.facts, inline_facts=prober.inline)
    return GenerationService(router, resolver)


def build_runner(services: Services) -> Runner:
    """The background work of one process: the expiry sweeps and the media probe workers."""
    runner = Runner()
    settings = services.settings
    interval = settings.sweep_interval.total_seconds()
    runner.every(interval, services.maintenance.sweep, "expiry sweep")
    runner.every(interval, services.interactions.sweep_expired, "interaction sweep")
    runner.worker(
        services.maintenance.probe_one,
        "media probe",
        idle=PROBE_IDLE_SECONDS,
        count=settings.probe_concurrency,
    )
    return runner


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Starlette:
    settings = settings or Settings()
    services = build_services(settings, clock)
    runner = build_runner(services)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.auto_migrate:
            await services.meta.migrate()
        if settings.run_workers:
            runner.start()
        services.ready = True
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

    app = Starlette(
        routes=[*google_routes(), *internal_routes()],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.state.services = services
    return app
