"""The local store's disk threads: blocking file work handed over in one hop.

``loop.run_in_executor`` on a ``ThreadPoolExecutor`` costs two futures chained across threads, a work item
and the executor's own lock and semaphore: 10-13 µs a hop with sixteen uploads in flight, against 2-3 µs
for a job put on a ``SimpleQueue`` and answered with ``call_soon_threadsafe`` (as the SQLite writer is).
A small upload makes one or two hops, so that is a visible share of its CPU. Threads start as jobs find
none idle (or all idle ones already spoken for by queued jobs), up to ``limit``: an fsync holds its thread for a millisecond or more, and concurrent uploads'
fsyncs overlap on the disk instead of queueing.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("gemfiles.storage")

_Job = tuple[Callable[..., Any], tuple[Any, ...], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class DiskThreads:
    def __init__(self, limit: int, name: str) -> None:
        self.limit = limit
        self.name = name
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._threads = 0
        self._idle = 0
        self._count = threading.Lock()

    def run(self, function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """``function(*args)`` in a disk thread; a future of the running loop for its value."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._threads < self.limit and self._jobs.qsize() >= self._idle:
            self._start()  # every idle thread has a job waiting already
        self._jobs.put((function, args, loop, future))
        return future

    def _start(self) -> None:
        with self._count:
            if self._threads >= self.limit:
                return
            self._threads += 1
            number = self._threads
        threading.Thread(target=self._serve, name=f"{self.name}-{number}", daemon=True).start()

    def _serve(self) -> None:
        jobs, count = self._jobs, self._count
        with count:
            self._idle += 1
        while True:
            function, args, loop, future = jobs.get()
            with count:
                self._idle -= 1
            try:
                outcome: tuple[bool, Any] = (True, function(*args))
            except BaseException as exc:  # answered to the caller, as run_in_executor would
                outcome = (False, exc)
            with count:  # idle again before the answer, which may bring the next job at once
                self._idle += 1
            try:
                loop.call_soon_threadsafe(_settle, future, *outcome)
            except RuntimeError:  # the loop closed meanwhile: no one waits for this answer
                log.debug("a disk thread's answer found its event loop closed")
            del function, args, loop, future, outcome


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
