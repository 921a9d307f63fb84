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

The write path's statements built once (``sql_writes.WriteStatements``) run in this thread as their compiled
SQL text straight on the sqlite3 connection (``PreparedWrites``, through ``SqlDatabase._write``), the way
the inline reads do: SQLAlchemy's ``execute`` of a cached statement still builds an execution context,
processes parameters and wraps the cursor, about 12 µs a statement against 2, all of it with the GIL held
here while the event loop waits for it. A statement whose compiled form needs SQLAlchemy at execution (a
Python-side default) keeps going through SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")
MAX_BATCH = 128

log = logging.getLogger("gemfiles.storage")

_Job = tuple[Callable[..., Any], tuple[Any, ...], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class PreparedWrites:
    """Statements built once, as SQL text for the sqlite3 connection: the text, the bind names in order and
    the constant binds, per set of parameter names (an INSERT's columns are the names it is executed with,
    as SQLAlchemy compiles it)."""

    def __init__(self, engine: Engine) -> None:
        self._dialect = engine.dialect
        # (id, names) -> (the statement, held so that its id is never reused; its compiled form or None)
        self._compiled: dict[
            tuple[int, tuple[str, ...]], tuple[Any, tuple[str, list[str], dict[str, Any]] | None]
        ] = {}

    def execute(self, conn: Connection, statement: Any, parameters: dict[str, Any]) -> Any:
        """``conn.execute(statement, parameters)``, on the sqlite3 connection when the statement is plain."""
        key = (id(statement), tuple(parameters))
        hit = self._compiled.get(key)
        if hit is None or hit[0] is not statement:
            hit = self._compiled[key] = (statement, self._compile(statement, parameters))
        compiled = hit[1]
        if compiled is None:
            return conn.execute(statement, parameters)
        sql, names, constants = compiled
        raw = conn.connection.driver_connection
        assert raw is not None
        cursor = raw.cursor()
        cursor.row_factory = sqlite3.Row  # rows by column name, as the inline reads give them
        cursor.execute(sql, [parameters[n] if n in parameters else constants[n] for n in names])
        return RawResult(cursor)

    def _compile(
        self, statement: Any, parameters: dict[str, Any]
    ) -> tuple[str, list[str], dict[str, Any]] | None:
        columns = list(parameters) if getattr(statement, "is_insert", False) else None
        sql = statement.compile(dialect=self._dialect, column_keys=columns)
        if sql.insert_prefetch or sql.update_prefetch or sql.positiontup is None:
            return None  # Python-side defaults (or named binds): SQLAlchemy's execution is needed
        return str(sql), list(sql.positiontup), dict(sql.params)


class RawResult:
    """What the write path reads of a statement's result: ``rowcount`` and ``first()``."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def first(self) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._cursor.fetchone()
        self._cursor.close()
        return row


class SqliteWriter:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.prepared = PreparedWrites(engine)
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
