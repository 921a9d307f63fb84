"""The one writer of an SQLite database: a thread that commits transactions in groups.

SQLite has one writer, and with ``synchronous=FULL`` every COMMIT waits for the disk. Committed one at a
time, sixteen concurrent uploads wait for sixteen fsyncs in a row, and every statement run through an
async driver costs a hand-off between the event loop and the driver's thread. Here a transaction is a
plain function of a (blocking) connection, handed to this thread in one hop. The thread takes every
transaction waiting at that moment (up to ``MAX_BATCH``), runs each in its own SAVEPOINT of one
``BEGIN IMMEDIATE`` transaction, and COMMITs once: one fsync of the WAL for the whole group. So:

* durability is unchanged: a caller gets its answer only after the COMMIT that holds it returned;
* isolation is unchanged: a transaction that raises rolls back its own savepoint, and the others commit;
* a crash loses the group being written as a whole, and no member of it had been answered;
* a failed COMMIT (a full disk) fails every member of the group, as each one's own commit would have.

The event loop never blocks on SQLite's locks or fsyncs, and no lock of the loop is held across them.
The write path's statements run here as compiled SQL text on the sqlite3 connection (``SqlDatabase._write``).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")
MAX_BATCH = 128

log = logging.getLogger("gemfiles.storage")

_Job = tuple[Callable[..., Any], tuple[Any, ...], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class SqliteWriter:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self.commits = 0  # groups committed (tests and benchmarks read these)
        self.transactions = 0

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(connection, *args)`` in a transaction of its own; its value once it is on disk."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._ensure_thread()
        self._jobs.put((work, args, loop, future))
        return await future

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._serve, name="gemfiles-sqlite-writer", daemon=True
                    )
                    self._thread.start()

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join()

    def _serve(self) -> None:
        with self._engine.connect() as conn:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                group = [job]
                while len(group) < MAX_BATCH:
                    try:
                        more = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._jobs.put(None)  # finish this group, then stop
                        break
                    group.append(more)
                self._commit_group(conn, group)

    def _commit_group(self, conn: Connection, group: list[_Job]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with conn.begin():
                if len(group) == 1:
                    work, args, _, _ = group[0]
                    outcomes.append((True, work(conn, *args)))  # alone: no savepoint needed
                else:
                    for work, args, _, _ in group:
                        outcomes.append(_in_savepoint(conn, work, args))
        except BaseException as exc:  # the COMMIT failed, or the lone member raised
            failure = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
            outcomes = [(False, failure) if ok or len(group) == 1 else (ok, value) for ok, value in outcomes]
            outcomes += [(False, failure)] * (len(group) - len(outcomes))
        else:
            self.commits += 1
            self.transactions += sum(1 for ok, _ in outcomes if ok)
        for (_, _, loop, future), (ok, value) in zip(group, outcomes, strict=True):
            try:
                loop.call_soon_threadsafe(_settle, future, ok, value)
            except RuntimeError:  # the loop closed meanwhile: no one waits for this answer
                log.debug("an answer of the SQLite writer found its event loop closed")


def _in_savepoint(conn: Connection, work: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
    # The savepoint's three statements go straight to the sqlite3 connection: SQLAlchemy's begin_nested()
    # compiles a new SAVEPOINT / RELEASE clause on every call (a third of the writer's time in a group of
    # small uploads). The SQLAlchemy transaction around the group sees balanced savepoints only.
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.execute("SAVEPOINT member")
    try:
        value = work(conn, *args)
    except Exception as exc:
        raw.execute("ROLLBACK TO member")
        raw.execute("RELEASE member")
        return False, exc
    raw.execute("RELEASE member")
    return True, value


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
