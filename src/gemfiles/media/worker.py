"""The media extension: background loops that probe every new file once and store its facts.

Video and audio go from PROCESSING to ACTIVE or FAILED; every other file is ACTIVE already and only gains
its facts. Each probe runs in a child process (``isolated``), waited on from a worker thread, so neither the
event loop nor the serving process ever touches the bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gemfiles.domain.workers import log
from gemfiles.media.isolated import Prober

IDLE_SECONDS = 0.2


def extension(services: Any) -> tuple[list[tuple[str, Any, list[str]]], list[Callable[[], Any]]]:
    maintenance = services.maintenance
    settings = services.settings
    probe = Prober(
        settings.resolved_blob_url, settings.probe_timeout_seconds, settings.child_memory_mib
    ).probe

    async def loop() -> None:
        while True:
            try:
                worked = await maintenance.probe_one(probe)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("media probe loop failed")
                worked = False
            if not worked:
                await asyncio.sleep(IDLE_SECONDS)

    return [], [loop] * services.settings.probe_concurrency
