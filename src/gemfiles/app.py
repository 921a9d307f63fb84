"""create_app(settings): wires stores, services, routes, background workers and the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from gemfiles.domain.clock import Clock, OffsetClock, SystemClock
from gemfiles.domain.files import FileService
from gemfiles.domain.uploads import Limits, UploadService
from gemfiles.domain.workers import Maintenance, run_forever
from gemfiles.protocol.http import Authenticator
from gemfiles.protocol.routes import google_routes, http_exception, internal_routes
from gemfiles.protocol.services import Services
from gemfiles.settings import Settings
from gemfiles.storage.registry import open_blob_store, open_metadata_store

log = logging.getLogger("gemfiles")

# Later layers register here: each gets the Services and returns extra routes and background tasks.
Extension = Callable[[Services], tuple[list[tuple[str, Any, list[str]]], list[Callable[[], Any]]]]


def default_extensions() -> list[Extension]:
    extensions: list[Extension] = []
    with contextlib.suppress(ImportError):
        from gemfiles.media.worker import extension as media_extension

        extensions.append(media_extension)
    # Before the models extension: its routes take /models/{model}:batchGenerateContent first.
    from gemfiles.protocol.batches import extension as batches_extension
    from gemfiles.protocol.caches import extension as caches_extension

    extensions.extend([batches_extension, caches_extension])
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
    return Services(
        settings=settings,
        clock=clock,
        meta=meta,
        blobs=blobs,
        auth=Authenticator(settings, meta),
        files=FileService(meta, blobs, clock),
        uploads=UploadService(meta, blobs, clock, limits),
        maintenance=Maintenance(meta, blobs, clock),
    )


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    extensions: list[Extension] | None = None,
) -> Starlette:
    settings = settings or Settings()
    services = build_services(settings, clock)
    extra_routes: list[tuple[str, Any, list[str]]] = []
    jobs: list[Callable[[], Any]] = []
    for extension in default_extensions() if extensions is None else extensions:
        routes, tasks = extension(services)
        extra_routes.extend(routes)
        jobs.extend(tasks)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.auto_migrate:
            await services.meta.migrate()
        tasks: list[asyncio.Task[Any]] = []
        if settings.run_workers:
            interval = settings.sweep_interval.total_seconds()
            tasks.append(
                asyncio.create_task(run_forever(interval, services.maintenance.sweep, "expiry sweep"))
            )
            tasks.extend(asyncio.create_task(job()) for job in jobs)
        services.ready = True
        try:
            yield
        finally:
            services.ready = False
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await services.meta.close()
            await services.blobs.close()

    app = Starlette(
        routes=[*google_routes(extra_routes), *internal_routes()],
        exception_handlers={HTTPException: http_exception},
        lifespan=lifespan,
    )
    app.state.services = services
    return app
