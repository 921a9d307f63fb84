"""The one background runner: periodic jobs, queue workers and tasks, started and stopped as a whole."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from gemfiles.domain.workers import Runner


async def settle(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5.0):
        for _ in iter(condition, True):
            await asyncio.sleep(0.005)


async def test_every_runs_a_job_at_once_and_again_after_its_interval() -> None:
    runs: list[int] = []

    async def job() -> None:
        runs.append(1)

    runner = Runner()
    runner.every(0.01, job, "tick")
    runner.start()
    await settle(lambda: len(runs) >= 3)
    await runner.stop()
    count = len(runs)
    await asyncio.sleep(0.05)
    assert len(runs) == count  # stopped means stopped


async def test_a_failing_job_is_logged_and_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[int] = []

    async def job() -> None:
        attempts.append(1)
        raise RuntimeError("store down")

    runner = Runner()
    runner.every(0.01, job, "expiry sweep")
    with caplog.at_level(logging.ERROR, logger="gemfiles.workers"):
        runner.start()
        await settle(lambda: len(attempts) >= 2)
        await runner.stop()
    assert any("expiry sweep failed" in r.getMessage() for r in caplog.records)


async def test_worker_goes_on_without_waiting_while_it_finds_work() -> None:
    queue = list(range(50))
    done: list[int] = []
    idle_turns: list[int] = []

    async def step() -> bool:
        if not queue:
            idle_turns.append(1)
            return False
        done.append(queue.pop())
        return True

    runner = Runner()
    runner.worker(step, "probe", idle=60.0, count=2)  # an idle wait would outlast the test
    assert runner.names == ["probe", "probe"]
    runner.start()
    await settle(lambda: len(done) == 50 and len(idle_turns) == 2)
    await runner.stop()
    assert sorted(done) == list(range(50))


async def test_stop_cancels_tasks_and_lets_them_clean_up() -> None:
    closed: list[str] = []

    async def housekeeping() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            closed.append("backends")

    runner = Runner()
    runner.task(housekeeping, "housekeeping")
    runner.start()
    await asyncio.sleep(0)
    await runner.stop()
    assert closed == ["backends"]


async def test_start_twice_is_refused() -> None:
    async def job() -> None:
        return None

    runner = Runner()
    runner.every(1.0, job, "tick")
    runner.start()
    with pytest.raises(RuntimeError):
        runner.start()
    await runner.stop()
