"""The SQL connections of the metadata store: SQLite (``sqlite:///path``) and PostgreSQL (``postgresql://``).

SQLite runs in WAL mode with ``synchronous=FULL``: a commit is on disk when it returns. Writes go through
one thread (SQLite has one writer anyway) that commits transactions in groups (``sql_writer``: concurrent
transactions share one fsync); reads through a small pool that never waits for it. A write transaction is
a plain function of a blocking connection (``_transact``): on SQLite it runs in the writer thread, on
PostgreSQL through the async pool (``AsyncConnection.run_sync``), so both run the same statements.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import create_engine, event, select, text
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from gemfiles.domain.ports import StoreUnavailable
from gemfiles.storage.sql_writer import SqliteWriter

if TYPE_CHECKING:  # the async engine and PostgreSQL's dialect load with the first PostgreSQL store (~8 MiB)
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")


# PostgreSQL out of reach (down, restarting, a connection lost): the store's own StoreUnavailable, which
# clients hear as 503 UNAVAILABLE. OSError covers a refused connection; the others are the drivers' words
# for a connection that broke (SQLAlchemy wraps asyncpg's errors in DBAPIError subclasses). Made with the
# first PostgreSQL store: a server on SQLite never loads asyncpg (about 3 MiB of its resident memory).
def _unreachable_errors() -> tuple[type[BaseException], ...]:
    import asyncpg.exceptions as asyncpg_exc

    return (
        OSError,
        sqlalchemy_exc.OperationalError,
        sqlalchemy_exc.InterfaceError,
        asyncpg_exc.PostgresConnectionError,
        asyncpg_exc.InterfaceError,
        asyncpg_exc.CannotConnectNowError,
    )


def execute(conn: Connection, statement: Any) -> int:
    """One statement in a write transaction (``_transact``'s ``work``); the number of rows it changed."""
    return int(conn.execute(statement).rowcount or 0)


def _unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"the metadata store is out of reach: {type(exc).__name__}")


def async_url(url: str) -> str:
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


class RawResult:
    """What the write path reads of a statement run on the sqlite3 connection: ``rowcount``, ``first()``."""

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


class SqlDatabase:
    """The engines of one database: a writer, readers (inline pysqlite on SQLite), the dialect's INSERT."""

    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._sync_reader: Engine | None = None
        self._raw: Any = None
        self._reader_opened = 0  # inline reader connections opened so far
        self._pg_pool: Any = None
        # (statement id, parameter names) -> (the statement, its SQL text, bind order and constants | None)
        self._compiled: dict[tuple[int, tuple[str, ...]], tuple[Any, Any]] = {}
        self._sqlite_writer: SqliteWriter | None = None
        self._writer: AsyncEngine | None = None
        self._reader: AsyncEngine | None = None
        self._unreachable: tuple[type[BaseException], ...] = ()
        if self.is_sqlite:
            sync_url = self.url.replace("sqlite+aiosqlite", "sqlite+pysqlite")
            writer = create_engine(sync_url, pool_size=1, max_overflow=0)
            _sqlite_pragmas(writer, "BEGIN IMMEDIATE")
            self._sqlite_writer = SqliteWriter(writer)
            # Reads run inline on the event loop through plain pysqlite in autocommit mode: a primary-key
            # lookup takes microseconds, far less than the thread hand-offs of an async driver, and WAL
            # readers never wait for the writer.
            self._sync_reader = create_engine(sync_url, pool_size=1, max_overflow=4)
            _sqlite_pragmas(self._sync_reader, None)
        else:
            from sqlalchemy.ext.asyncio import create_async_engine

            self._unreachable = _unreachable_errors()
            self._writer = create_async_engine(self.url, pool_size=10, max_overflow=10, pool_pre_ping=True)
            # Reads are single statements: autocommit (no BEGIN/ROLLBACK around them) and no pre-ping, so a
            # files.get is one round trip. A connection that died with the server fails one read, and the
            # pool then drops every connection it holds.
            self._reader = create_async_engine(
                self.url, pool_size=10, max_overflow=10, isolation_level="AUTOCOMMIT", pool_recycle=600
            )

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite database's file, as its engine reads the URL; None on PostgreSQL."""
        name = self._sync_reader.url.database if self._sync_reader is not None else None
        return Path(name).resolve() if name else None

    async def migrate(self) -> None:
        from gemfiles.storage.migrate import upgrade

        await self._transact(upgrade)

    async def close(self) -> None:
        if self._sqlite_writer is not None:
            self._sqlite_writer.close()
            self._sqlite_writer._engine.dispose()
        if self._writer is not None:
            await self._writer.dispose()
        if self._reader is not None:
            await self._reader.dispose()
        if self._pg_pool is not None:
            await self._pg_pool.close()
            self._pg_pool = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        if self._sync_reader is not None:
            self._sync_reader.dispose()

    async def ping(self) -> None:
        await self._rows(select(text("1")))

    async def _transact(self, work: Callable[..., T], *args: Any) -> T:
        """``work(connection, *args)`` in one write transaction; its value once committed (on disk).

        On SQLite a member of a group commit in the writer thread, on PostgreSQL a transaction of the pool.
        ``work`` runs blocking statements only (``connection.execute``) and raises to roll back.
        """
        if self._sqlite_writer is not None:
            return await self._sqlite_writer.run(work, *args)
        assert self._writer is not None
        try:
            async with self._writer.begin() as conn:
                return await conn.run_sync(work, *args)
        except self._unreachable as exc:
            raise _unavailable(exc) from exc

    def _write(self, conn: Connection, statement: Any, params: dict[str, Any]) -> Any:
        """One of the write path's statements built once (``sql_writes``) in a write transaction; the result
        has ``rowcount`` and ``first()``. On SQLite (the writer thread) it runs as its compiled SQL text on
        the sqlite3 connection, as the inline reads do: SQLAlchemy's ``execute`` of a cached statement
        still builds an execution context, processes parameters and wraps the cursor, about 12 µs against
        2, all of it with the GIL held while the event loop waits for it."""
        if self._sqlite_writer is not None:
            compiled = self._compiled_values(statement, params, conn.dialect)
            if compiled is not None:
                raw = conn.connection.driver_connection
                assert raw is not None
                cursor = raw.cursor()
                cursor.row_factory = sqlite3.Row  # rows by column name, as the inline reads give them
                cursor.execute(*compiled)
                return RawResult(cursor)
        return conn.execute(statement, params)

    async def _rows(self, query: Any, params: dict[str, Any] | None = None) -> list[Any]:
        """Runs a read-only query: inline on SQLite, on the async pool on PostgreSQL.

        Rows are mappings by column name (``row["id"]``) on both.
        """
        if self._sync_reader is not None:
            return self._sqlite_rows(query, params or {})
        # PostgreSQL: the statement compiled once, then run on a plain asyncpg pool, which prepares it once
        # per connection: one round trip, no per-call SQLAlchemy work. Rows are asyncpg Records (by name).
        assert self._reader is not None
        compiled = self._compiled_values(query, params or {}, self._reader.dialect)
        assert compiled is not None  # a read has no Python-side defaults
        text_sql, values = compiled
        try:
            pool = self._pg_pool or await self._open_pg_pool()
            return list(await pool.fetch(text_sql, *values))
        except self._unreachable as exc:
            raise _unavailable(exc) from exc

    async def _open_pg_pool(self) -> Any:
        import asyncpg

        dsn = self.url.replace("postgresql+asyncpg://", "postgresql://", 1)
        pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=10,
            max_inactive_connection_lifetime=600,
            reset=_keep_session,
            server_settings=READ_SESSION,
        )
        if self._pg_pool is None:
            self._pg_pool = pool
        else:
            await pool.close()
        return self._pg_pool

    def _compiled_values(
        self, query: Any, params: dict[str, Any], dialect: Any
    ) -> tuple[str, list[Any]] | None:
        """The statement's SQL text and its bind values in order, compiled once per set of parameter names
        (an INSERT's columns are the names it is executed with, as SQLAlchemy compiles it); None when its
        execution needs SQLAlchemy (Python-side defaults, which only a write can have)."""
        key = (id(query), tuple(params))
        compiled = self._compiled.get(key)
        if compiled is None or compiled[0] is not query:
            columns = list(params) if getattr(query, "is_insert", False) else None
            sql = query.compile(dialect=dialect, column_keys=columns)
            plain = not (getattr(sql, "insert_prefetch", None) or getattr(sql, "update_prefetch", None))
            form = (str(sql), list(sql.positiontup or []), dict(sql.params)) if plain else None
            compiled = (query, form)  # the statement held: its id is not reused while it is cached
            if len(self._compiled) < 256:
                self._compiled[key] = compiled
        if compiled[1] is None:
            return None
        text_sql, order, defaults = compiled[1]
        return text_sql, [params[name] if name in params else defaults[name] for name in order]

    def _sqlite_rows(self, query: Any, params: dict[str, Any]) -> list[Any]:
        # Hot statements are module-level constants with bind parameters: compiled once to SQL text,
        # then run on a raw pysqlite connection, skipping per-call statement building and compiling.
        compiled = self._compiled_values(query, params, self._sync_reader.dialect)  # type: ignore[union-attr]
        assert compiled is not None  # a read has no Python-side defaults
        return self._sqlite_reader().execute(*compiled).fetchall()

    def _sqlite_reader(self) -> sqlite3.Connection:
        """The inline reader's pysqlite connection (autocommit: each statement its own read transaction)."""
        if self._raw is None:
            self._raw = self._sync_reader.raw_connection()  # type: ignore[union-attr]
            self._raw.driver_connection.row_factory = sqlite3.Row
            self._reader_opened += 1
        return self._raw.driver_connection  # type: ignore[no-any-return]

    def _sqlite_version(self) -> tuple[int, int]:
        """What the database has been changed to, as the inline reader sees it: ``PRAGMA data_version``
        (it moves whenever another connection commits: this process's writer thread, another process,
        any tool), paired with which reader connection answered (the numbers of a new one start over)."""
        version = self._sqlite_reader().execute("PRAGMA data_version").fetchone()[0]
        return self._reader_opened, version

    async def _first(self, query: Any, params: dict[str, Any] | None = None) -> Any | None:
        rows = await self._rows(query, params)
        return rows[0] if rows else None

    def _insert(self, table: Any) -> Any:
        """INSERT with the dialect's ON CONFLICT support (both spell it the same)."""
        if self.is_sqlite:
            return sqlite_insert(table)
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)


# The read pool's sessions. Every read is a key lookup or a keyset page in index order (ORDER BY ... LIMIT);
# a bitmap scan returns no row in index order, so such a page would sort every row of the project. The
# planner picks one when its statistics are missing or stale (a table bulk-loaded and not analyzed yet, a
# project that grew fast since the last autoanalyze: 7 rows estimated, 100,000 read and sorted, 40 ms a page,
# against 0.06 ms by the index). Off here, it is the last resort it should be for these statements.
READ_SESSION = {"enable_bitmapscan": "off"}


async def _keep_session(connection: Any) -> None:
    """The read pool's reset of a returned connection: nothing to undo. asyncpg's default reset is one more
    round trip per read (advisory unlocks, ``CLOSE ALL``, ``UNLISTEN *``, ``RESET ALL``) for session state
    that single autocommit SELECTs never change; an open transaction would still be rolled back first."""


def _sqlite_pragmas(engine: Engine, begin: str | None) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN, instead of pysqlite's own (late) one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    if begin is not None:

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)


def _enable_wal(cursor: Any, patience: float = 30.0) -> None:
    """Puts the database in WAL mode (persistent: later connections find it so and change nothing).

    Switching needs the database alone for an instant. When several processes open a new database at
    once, SQLite may refuse the switch at once with "database is locked" instead of waiting (a connection
    that would have to upgrade its read lock while another holds a write lock is not made to wait, which
    could deadlock), so the switch is retried for up to ``patience`` seconds.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            cursor.execute("PRAGMA journal_mode")
            mode = cursor.fetchone()[0]
            if str(mode).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
                mode = cursor.fetchone()[0]
            if str(mode).lower() == "wal":
                return
        except Exception as exc:
            if "locked" not in str(exc):
                raise
        if time.monotonic() > deadline:
            raise RuntimeError(f"could not put the SQLite database in WAL mode within {patience:g} s")
        time.sleep(0.02)
