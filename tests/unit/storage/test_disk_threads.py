"""The local store's disk threads: a job's value or exception reaches the awaiting coroutine, concurrent
blocking jobs overlap (up to the limit), and an answer nobody waits for any more is dropped."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from gemfiles.storage.disk_threads import DiskThreads


async def test_run_returns_the_value_of_the_job_run_in_another_thread() -> None:
    threads = DiskThreads(4, "test-disk")
    name = await threads.run(lambda: threading.current_thread().name)
    assert name.startswith("test-disk-") and name != threading.current_thread().name
    assert await threads.run(divmod, 7, 2) == (3, 1)


async def test_run_raises_the_exception_of_the_job() -> None:
    threads = DiskThreads(2, "test-disk")
    with pytest.raises(FileNotFoundError):
        await threads.run(open, "/nonexistent/gemfiles/disk-threads", "rb")


async def test_blocking_jobs_overlap_up_to_the_limit() -> None:
    threads = DiskThreads(8, "test-disk")
    started = time.monotonic()
    await asyncio.gather(*(threads.run(time.sleep, 0.2) for _ in range(8)))
    assert time.monotonic() - started < 1.0  # eight sleeps in a row would take 1.6 s
    assert threads._threads <= 8


async def test_a_cancelled_wait_drops_the_answer_and_the_threads_keep_serving() -> None:
    threads = DiskThreads(1, "test-disk")
    waiting = asyncio.ensure_future(threads.run(time.sleep, 0.05))
    await asyncio.sleep(0)
    waiting.cancel()
    assert await threads.run(len, "abc") == 3
    assert waiting.cancelled()


async def test_jobs_one_after_another_reuse_one_thread() -> None:
    threads = DiskThreads(8, "test-disk")
    for n in range(20):
        assert await threads.run(abs, -n) == n
    assert threads._threads == 1
