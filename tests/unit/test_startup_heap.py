"""Once started, the server's start-up objects are out of the cyclic collector's reach (gc.freeze), so a
generation-2 collection does not walk the ~90,000 objects of the modules and the app with the loop stopped."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from gemfiles.app import create_app
from gemfiles.settings import Settings


def frozen_once_started(data_dir: Path) -> int:
    app = create_app(Settings(data_dir=data_dir, run_workers=False))

    async def start() -> int:
        async with app.router.lifespan_context(app):
            return gc.get_freeze_count()

    return asyncio.run(start())


def test_lifespan_freezes_the_start_up_heap(tmp_path: Path) -> None:
    gc.unfreeze()
    try:
        frozen = frozen_once_started(tmp_path / "data")
    finally:
        gc.unfreeze()
    assert frozen > 10_000  # the modules, classes and app objects alive once started


def test_a_second_app_in_the_process_freezes_nothing_more(tmp_path: Path) -> None:
    gc.unfreeze()
    try:
        first = frozen_once_started(tmp_path / "one")
        second = frozen_once_started(tmp_path / "two")
    finally:
        gc.unfreeze()
    assert first > 10_000 and second <= first  # (frozen objects freed by reference counting leave it)
