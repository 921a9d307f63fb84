"""Once started, the server's start-up objects are out of the cyclic collector's reach (gc.freeze), so a
generation-2 collection does not walk the ~90,000 objects of the modules and the app with the loop stopped."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from gemfiles.app import create_app
from gemfiles.settings import Settings


def test_lifespan_freezes_the_start_up_heap(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", run_workers=False))
    gc.unfreeze()

    async def start_and_look() -> int:
        async with app.router.lifespan_context(app):
            return gc.get_freeze_count()

    try:
        frozen = asyncio.run(start_and_look())
    finally:
        gc.unfreeze()
    assert frozen > 10_000  # the modules, classes and app objects alive once started
