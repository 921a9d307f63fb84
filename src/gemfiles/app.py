"""create_app(settings): wires stores, services, routes, background workers and the lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette

from gemfiles.domain.clock import Clock, OffsetClock, SystemClock
from gemfiles.domain.files import FileService
from gemfiles.domain.uploads import Limits, UploadService
from gemfiles.domain.workers import Maintenance, Runner
from gemfiles.media.isolated import IsolatedProber
from gemfiles.protocol.http import Authenticator
from gemfiles.protocol.routes import exception_handlers, google_routes, internal_routes
from gemfiles.protocol.services import Services
from gemfiles.settings import Settings
from gemfiles.storage.registry import open_blob_store, open_metadata_store

log = logging.getLogger("gemfiles")

# A media worker with nothing to probe looks again after this long.
PROBE_IDLE_SECONDS = 0.2

# Later layers register here: each gets the Services and returns extra routes and background tasks.
Extension = Callable[[Services], tuple[list[tuple[str, Any, list[str]]], list[Callable[[], Any]]]]


def default_extensions() -> list[Extension]:
    extensions: list[Extension] = []
    with contextlib.suppress(ImportError):
        from gemfiles.protocol.models import extension as models_extension  # type: ignore[import-not-found]

        extensions.append(models_extension)
    return extensions


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
    prober = IsolatedProber(
        settings.resolved_blob_url, settings.probe_timeout_seconds, settings.child_memory_mib
    )
    return Services(
        settings=settings,
        clock=clock,
        meta=meta,
        blobs=blobs,
        auth=Authenticator(settings, meta),
        files=FileService(meta, blobs, clock),
        uploads=UploadService(meta, blobs, clock, limits),
        maintenance=Maintenance(meta, blobs, clock, prober),
        prober=prober,
    )


def build_runner(services: Services) -> Runner:
    """The background work of one process: the expiry sweep and the media probe workers."""
    runner = Runner()
    settings = services.settings
    runner.every(settings.sweep_interval.total_seconds(), services.maintenance.sweep, "expiry sweep")
    runner.worker(
        services.maintenance.probe_one,
        "media probe",
        idle=PROBE_IDLE_SECONDS,
        count=settings.probe_concurrency,
    )
    return runner


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    extensions: list[Extension] | None = None,
) -> Starlette:
    settings = settings or Settings()
    services = build_services(settings, clock)
    runner = build_runner(services)
    extra_routes: list[tuple[str, Any, list[str]]] = []
    for extension in default_extensions() if extensions is None else extensions:
        routes, tasks = extension(services)
        extra_routes.extend(routes)
        for task in tasks:
            runner.task(task, getattr(task, "__name__", "extension task"))

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
            await services.meta.close()
            await services.blobs.close()

    app = Starlette(
        routes=[*google_routes(extra_routes), *internal_routes()],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.state.services = services
    return app
