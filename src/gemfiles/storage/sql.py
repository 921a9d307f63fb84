"""MetadataStore on SQL: SQLite (``sqlite:///path``, the embedded default) and PostgreSQL (``postgresql://``).

One implementation for both, in SQLAlchemy Core over the async drivers (aiosqlite, asyncpg):

* quotas change only inside write transactions with a conditional ``UPDATE ... WHERE used + reserved + n
  <= quota``, so concurrent reservations can never overshoot;
* background work is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` plus a lease column on PostgreSQL,
  so each item is taken by one replica and a replica that dies mid-job leaves it to another; SQLite gets
  the same guarantee from ``BEGIN IMMEDIATE`` (one writer at a time).

SQLite runs in WAL mode with ``synchronous=FULL``: a commit is on disk when it returns. Writes go through
a single connection (SQLite has one writer anyway), reads through a small pool that never waits for it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    bindparam,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, Row
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from gemfiles.domain.clock import from_micros, to_micros
from gemfiles.domain.models import (
    FileRecord,
    FileSource,
    FileState,
    PartRef,
    ProjectUsage,
    SessionStatus,
    UploadSession,
)
from gemfiles.domain.ports import ApiKeyRecord, GcItem, NameTaken, QuotaRefused, SessionGone
from gemfiles.domain.refusals import name_taken_result
from gemfiles.storage.schema import api_keys, blob_gc, files, project_usage, upload_sessions


def async_url(url: str) -> str:
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


# Hot read statements, built once (see SqlMetadataStore._sqlite_rows).
_GET_FILE = (
    select(files)
    .where(
        files.c.project == bindparam("project"),
        files.c.id == bindparam("id"),
        files.c.expire_us > bindparam("now"),
    )
    .limit(1)
)
_GET_SESSION = select(upload_sessions).where(upload_sessions.c.token_digest == bindparam("token")).limit(1)
_LOOKUP_KEY = (
    select(api_keys.c.project)
    .where(api_keys.c.key_hash == bindparam("key_hash"), api_keys.c.revoked_us.is_(None))
    .limit(1)
)
_ANY_PROBE_DUE = select(files.c.id).where(files.c.probe_due.is_(True)).limit(1)


class SqlMetadataStore:
    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._sync_reader: Engine | None = None
        self._raw: Any = None
        self._compiled: dict[int, tuple[Any, str, list[str], dict[str, Any]]] = {}
        if self.is_sqlite:
            self._writer = create_async_engine(self.url, pool_size=1, max_overflow=0)
            _sqlite_pragmas(self._writer.sync_engine, "BEGIN IMMEDIATE")
            self._reader = self._writer
            # Reads run inline on the event loop through plain pysqlite in autocommit mode: a primary-key
            # lookup takes microseconds, far less than the thread hand-offs of an async driver, and WAL
            # readers never wait for the writer.
            self._sync_reader = create_engine(
                self.url.replace("sqlite+aiosqlite", "sqlite+pysqlite"), pool_size=1, max_overflow=4
            )
            _sqlite_pragmas(self._sync_reader, None)
        else:
            self._writer = create_async_engine(self.url, pool_size=10, max_overflow=10, pool_pre_ping=True)
            # Reads are single statements: autocommit (no BEGIN/ROLLBACK around them) and no pre-ping, so a
            # files.get is one round trip. A connection that died with the server fails one read, and the
            # pool then drops every connection it holds.
            self._reader = create_async_engine(
                self.url, pool_size=10, max_overflow=10, isolation_level="AUTOCOMMIT", pool_recycle=600
            )

    @classmethod
    def from_url(cls, url: str) -> SqlMetadataStore:
        return cls(url)

    async def migrate(self) -> None:
        from gemfiles.storage.migrate import upgrade

        async with self._writer.begin() as conn:
            await conn.run_sync(upgrade)

    async def close(self) -> None:
        await self._writer.dispose()
        if self._reader is not self._writer:
            await self._reader.dispose()
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        if self._sync_reader is not None:
            self._sync_reader.dispose()

    async def ping(self) -> None:
        await self._rows(select(text("1")))

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._writer.begin() as conn:
            yield conn

    async def _rows(self, query: Any, params: dict[str, Any] | None = None) -> list[Any]:
        """Runs a read-only query: inline on SQLite, on the async pool on PostgreSQL.

        Rows are mappings by column name (``row["id"]``) on both.
        """
        if self._sync_reader is not None:
            return self._sqlite_rows(query, params or {})
        async with self._reader.connect() as conn:
            return [row._mapping for row in (await conn.execute(query, params or {})).all()]

    def _sqlite_rows(self, query: Any, params: dict[str, Any]) -> list[Any]:
        # Hot statements are module-level constants with bind parameters: compiled once to SQL text,
        # then run on a raw pysqlite connection, skipping per-call statement building and compiling.
        compiled = self._compiled.get(id(query))
        if compiled is None or compiled[0] is not query:
            sql = query.compile(dialect=self._sync_reader.dialect)  # type: ignore[union-attr]
            compiled = (query, str(sql), list(sql.positiontup or []), dict(sql.params))
            if len(self._compiled) < 256:
                self._compiled[id(query)] = compiled
        _, text_sql, order, defaults = compiled
        if self._raw is None:
            self._raw = self._sync_reader.raw_connection()  # type: ignore[union-attr]
            self._raw.driver_connection.row_factory = sqlite3.Row
        values = [params[name] if name in params else defaults[name] for name in order]
        return self._raw.driver_connection.execute(text_sql, values).fetchall()

    async def _first(self, query: Any, params: dict[str, Any] | None = None) -> Any | None:
        rows = await self._rows(query, params)
        return rows[0] if rows else None

    def _insert(self, table: Any) -> Any:
        """INSERT with the dialect's ON CONFLICT support (both spell it the same)."""
        if self.is_sqlite:
            return sqlite_insert(table)
        return postgresql_insert(table)

    # Files ---------------------------------------------------------------------------------------------
    async def get_file(self, project: str, file_id: str, now: datetime) -> FileRecord | None:
        row = await self._first(_GET_FILE, {"project": project, "id": file_id, "now": to_micros(now)})
        return _file(row) if row else None

    async def list_files(
        self, project: str, now: datetime, limit: int, after: tuple[int, str] | None
    ) -> list[FileRecord]:
        query = select(files).where(files.c.project == project, files.c.expire_us > to_micros(now))
        if after is not None:
            query = query.where(tuple_(files.c.create_us, files.c.id) < tuple_(*after))
        query = query.order_by(files.c.create_us.desc(), files.c.id.desc()).limit(limit)
        return [_file(row) for row in await self._rows(query)]

    async def delete_file(self, project: str, file_id: str, now: datetime) -> FileRecord | None:
        async with self._write() as conn:
            row = (
                await conn.execute(
                    select(files)
                    .where(
                        files.c.project == project, files.c.id == file_id, files.c.expire_us > to_micros(now)
                    )
                    .with_for_update()
                )
            ).first()
            if row is None:
                return None
            record = _file(row)
            await self._drop_files(conn, [record], now)
        return record

    async def _drop_files(self, conn: AsyncConnection, records: list[FileRecord], now: datetime) -> None:
        freed: dict[str, int] = {}
        for record in records:
            await conn.execute(
                delete(files).where(files.c.project == record.project, files.c.id == record.id)
            )
            freed[record.project] = freed.get(record.project, 0) + record.size_bytes
        # Usage rows are locked in one global order, so two replicas sweeping files of the same projects
        # cannot deadlock on PostgreSQL.
        for project in sorted(freed):
            await self._add_usage(conn, project, used=-freed[project])
        await self._queue_gc(conn, [("object", r.blob_key, {}) for r in records], now)

    # Quota ---------------------------------------------------------------------------------------------
    async def _ensure_usage_row(self, conn: AsyncConnection, project: str) -> None:
        stmt = self._insert(project_usage).values(project=project, used_bytes=0, reserved_bytes=0)
        await conn.execute(stmt.on_conflict_do_nothing(index_elements=["project"]))

    async def _reserve(self, conn: AsyncConnection, project: str, amount: int, quota: int) -> None:
        if amount <= 0:
            return
        await self._ensure_usage_row(conn, project)
        result = await conn.execute(
            update(project_usage)
            .where(
                project_usage.c.project == project,
                project_usage.c.used_bytes + project_usage.c.reserved_bytes + amount <= quota,
            )
            .values(reserved_bytes=project_usage.c.reserved_bytes + amount)
        )
        if result.rowcount != 1:
            raise QuotaRefused(project, amount, quota)

    async def _add_usage(
        self, conn: AsyncConnection, project: str, *, used: int = 0, reserved: int = 0
    ) -> None:
        if used == 0 and reserved == 0:
            return
        await self._ensure_usage_row(conn, project)
        await conn.execute(
            update(project_usage)
            .where(project_usage.c.project == project)
            .values(
                used_bytes=project_usage.c.used_bytes + used,
                reserved_bytes=project_usage.c.reserved_bytes + reserved,
            )
        )

    async def get_usage(self, project: str) -> ProjectUsage:
        row = await self._first(select(project_usage).where(project_usage.c.project == project))
        if row is None:
            return ProjectUsage(project, 0, 0)
        return ProjectUsage(project, row["used_bytes"], row["reserved_bytes"])

    # Upload sessions -----------------------------------------------------------------------------------
    async def create_session(self, session: UploadSession, quota_bytes: int, now: datetime) -> None:
        async with self._write() as conn:
            taken = (
                await conn.execute(
                    select(files.c.id).where(
                        files.c.project == session.project,
                        files.c.id == session.file_id,
                        files.c.expire_us > to_micros(now),
                    )
                )
            ).first()
            if taken is not None:
                raise NameTaken(session.project, session.file_id)
            await self._reserve(conn, session.project, session.reserved_bytes, quota_bytes)
            await conn.execute(insert(upload_sessions).values(**_session_values(session)))

    async def get_session(self, token_digest: str) -> UploadSession | None:
        row = await self._first(_GET_SESSION, {"token": token_digest})
        return _session(row) if row else None

    async def _lock_session(self, conn: AsyncConnection, token_digest: str) -> UploadSession | None:
        row = (
            await conn.execute(
                select(upload_sessions)
                .where(upload_sessions.c.token_digest == token_digest)
                .with_for_update()
            )
        ).first()
        return _session(row) if row else None

    async def allocate_part(self, token_digest: str) -> int:
        async with self._write() as conn:
            number = (
                await conn.execute(
                    update(upload_sessions)
                    .where(upload_sessions.c.token_digest == token_digest)
                    .values(next_part=upload_sessions.c.next_part + 1)
                    .returning(upload_sessions.c.next_part)
                )
            ).scalar_one_or_none()
        if number is None:
            raise SessionGone(token_digest)
        # The new value, not the old: the old one (the session's ``next_part``) may be in use by an attempt
        # that took it without allocating (stores that detect a reused part name, see domain/uploads.py).
        return int(number)

    async def commit_part(
        self,
        token_digest: str,
        expected_received: int,
        part: PartRef,
        hash_state: bytes | None,
        extra_reserve: int,
        quota_bytes: int,
        now: datetime,
    ) -> bool:
        async with self._write() as conn:
            session = await self._lock_session(conn, token_digest)
            if (
                session is None
                or session.status != SessionStatus.ACTIVE
                or session.received != expected_received
            ):
                return False
            await self._reserve(conn, session.project, extra_reserve, quota_bytes)
            parts = [*session.parts, part]
            await conn.execute(
                update(upload_sessions)
                .where(upload_sessions.c.token_digest == token_digest)
                .values(
                    received=expected_received + part.size,
                    parts=_parts_json(parts),
                    next_part=max(session.next_part, part.number + 1),
                    hash_state=hash_state,
                    reserved_bytes=upload_sessions.c.reserved_bytes + extra_reserve,
                )
            )
        return True

    async def finish_session(self, token_digest: str, file: FileRecord, now: datetime) -> FileRecord:
        conflict: NameTaken | None = None
        async with self._write() as conn:
            session = await self._lock_session(conn, token_digest)
            if session is None or session.status != SessionStatus.ACTIVE:
                raise SessionGone(token_digest)
            existing = (
                await conn.execute(
                    select(files)
                    .where(files.c.project == file.project, files.c.id == file.id)
                    .with_for_update()
                )
            ).first()
            if existing is not None:
                old = _file(existing)
                if old.expire_time > now:
                    conflict = NameTaken(file.project, file.id)
                else:
                    await self._drop_files(conn, [old], now)  # expired, not swept yet: make room
            if conflict is not None:
                await self._end_session(conn, session, SessionStatus.FAILED, name_taken_result(file.id), now)
                await self._queue_gc(conn, [("object", file.blob_key, {})], now)
            else:
                await conn.execute(insert(files).values(**_file_values(file)))
                await self._add_usage(
                    conn, file.project, used=file.size_bytes, reserved=-session.reserved_bytes
                )
                await conn.execute(
                    update(upload_sessions)
                    .where(upload_sessions.c.token_digest == token_digest)
                    .values(status=SessionStatus.FINAL.value, reserved_bytes=0)
                )
        if conflict is not None:
            raise conflict
        return file

    async def _end_session(
        self,
        conn: AsyncConnection,
        session: UploadSession,
        status: SessionStatus,
        error: dict[str, Any] | None,
        now: datetime,
    ) -> None:
        await self._add_usage(conn, session.project, reserved=-session.reserved_bytes)
        await conn.execute(
            update(upload_sessions)
            .where(upload_sessions.c.token_digest == session.token_digest)
            .values(
                status=status.value,
                reserved_bytes=0,
                result_error=json.dumps(error) if error else None,
                parts="[]",
            )
        )
        await self._queue_gc(
            conn,
            [
                (
                    "upload",
                    session.upload_key,
                    {"blob_state": session.blob_state, "parts": _parts(session.parts)},
                )
            ],
            now,
        )

    async def fail_session(self, token_digest: str, error: dict[str, Any], now: datetime) -> bool:
        async with self._write() as conn:
            session = await self._lock_session(conn, token_digest)
            if session is None or session.status != SessionStatus.ACTIVE:
                return False
            await self._end_session(conn, session, SessionStatus.FAILED, error, now)
        return True

    async def cancel_session(self, token_digest: str, now: datetime) -> bool:
        async with self._write() as conn:
            session = await self._lock_session(conn, token_digest)
            if session is None or session.status != SessionStatus.ACTIVE:
                return False
            await self._end_session(conn, session, SessionStatus.CANCELLED, None, now)
        return True

    # Background work ---------------------------------------------------------------------------------------
    async def claim_probe(self, now: datetime, lease_seconds: float) -> FileRecord | None:
        now_us = to_micros(now)
        # A cheap read first, so an idle worker does not take the write lock every poll.
        if await self._first(_ANY_PROBE_DUE) is None:
            return None
        async with self._write() as conn:
            row = (
                await conn.execute(
                    select(files)
                    .where(
                        files.c.probe_due.is_(True),
                        files.c.expire_us > now_us,
                        or_(files.c.lease_until.is_(None), files.c.lease_until < now_us),
                    )
                    # Files waiting to become usable (PROCESSING) before facts-only probes.
                    .order_by(
                        case((files.c.state == FileState.PROCESSING.value, 0), else_=1), files.c.create_us
                    )
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if row is None:
                return None
            await conn.execute(
                update(files)
                .where(files.c.project == row.project, files.c.id == row.id)
                .values(lease_until=to_micros(now + timedelta(seconds=lease_seconds)))
            )
        return _file(row)

    async def save_probe(
        self,
        project: str,
        file_id: str,
        state: FileState,
        facts: dict[str, Any] | None,
        error: dict[str, Any] | None,
        now: datetime,
    ) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(files)
                .where(files.c.project == project, files.c.id == file_id)
                .values(
                    state=state.value,
                    facts_json=json.dumps(facts) if facts is not None else None,
                    error_json=json.dumps(error) if error is not None else None,
                    probe_due=False,
                    lease_until=None,
                    # Facts alone are not a change a client can see: updateTime moves with the state only.
                    update_us=case((files.c.state != state.value, to_micros(now)), else_=files.c.update_us),
                )
            )

    async def sweep_expired_files(self, now: datetime, limit: int) -> list[FileRecord]:
        async with self._write() as conn:
            rows = (
                await conn.execute(
                    select(files)
                    .where(files.c.expire_us <= to_micros(now))
                    .order_by(files.c.expire_us)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            records = [_file(row) for row in rows]
            await self._drop_files(conn, records, now)
        return records

    async def sweep_expired_sessions(self, now: datetime, limit: int) -> int:
        async with self._write() as conn:
            rows = (
                await conn.execute(
                    select(upload_sessions)
                    .where(upload_sessions.c.expire_us <= to_micros(now))
                    .order_by(upload_sessions.c.expire_us)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                session = _session(row)
                if session.status == SessionStatus.ACTIVE:
                    await self._end_session(conn, session, SessionStatus.CANCELLED, None, now)
                await conn.execute(
                    delete(upload_sessions).where(upload_sessions.c.token_digest == session.token_digest)
                )
        return len(rows)

    async def _queue_gc(
        self, conn: AsyncConnection, items: Iterable[tuple[str, str, dict]], now: datetime
    ) -> None:
        values = [
            {
                "kind": kind,
                "key": key,
                "state": json.dumps(state),
                "create_us": to_micros(now),
                "lease_until": None,
            }
            for kind, key, state in items
        ]
        if values:
            await conn.execute(insert(blob_gc), values)

    async def claim_gc(self, now: datetime, lease_seconds: float, limit: int) -> list[GcItem]:
        now_us = to_micros(now)
        async with self._write() as conn:
            rows = (
                await conn.execute(
                    select(blob_gc)
                    .where(or_(blob_gc.c.lease_until.is_(None), blob_gc.c.lease_until < now_us))
                    .order_by(blob_gc.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if rows:
                await conn.execute(
                    update(blob_gc)
                    .where(blob_gc.c.id.in_([row.id for row in rows]))
                    .values(lease_until=to_micros(now + timedelta(seconds=lease_seconds)))
                )
        return [GcItem(row.id, row.kind, row.key, json.loads(row.state)) for row in rows]

    async def finish_gc(self, ids: list[int]) -> None:
        if ids:
            async with self._write() as conn:
                await conn.execute(delete(blob_gc).where(blob_gc.c.id.in_(ids)))

    # Keys -------------------------------------------------------------------------------------------------
    async def create_key(self, key_hash: str, project: str, prefix: str, now: datetime) -> None:
        async with self._write() as conn:
            await conn.execute(
                insert(api_keys).values(
                    key_hash=key_hash,
                    project=project,
                    prefix=prefix,
                    create_us=to_micros(now),
                    revoked_us=None,
                )
            )

    async def list_keys(self) -> list[ApiKeyRecord]:
        rows = await self._rows(select(api_keys).order_by(api_keys.c.create_us))
        return [
            ApiKeyRecord(
                row["key_hash"],
                row["project"],
                row["prefix"],
                from_micros(row["create_us"]),
                from_micros(row["revoked_us"]) if row["revoked_us"] is not None else None,
            )
            for row in rows
        ]

    async def revoke_key(self, prefix_or_hash: str, now: datetime) -> int:
        async with self._write() as conn:
            result = await conn.execute(
                update(api_keys)
                .where(
                    or_(api_keys.c.prefix == prefix_or_hash, api_keys.c.key_hash == prefix_or_hash),
                    api_keys.c.revoked_us.is_(None),
                )
                .values(revoked_us=to_micros(now))
            )
        return int(result.rowcount or 0)

    async def lookup_key(self, key_hash: str) -> str | None:
        row = await self._first(_LOOKUP_KEY, {"key_hash": key_hash})
        return row["project"] if row else None

    async def count_files(self) -> int:
        rows = await self._rows(select(func.count()).select_from(files))
        return int(rows[0][0])


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


def _parts(parts: list[PartRef]) -> list[dict[str, Any]]:
    return [p.to_json() for p in parts]


def _parts_json(parts: list[PartRef]) -> str:
    return json.dumps(_parts(parts), separators=(",", ":"))


def _file_values(record: FileRecord) -> dict[str, Any]:
    return {
        "project": record.project,
        "id": record.id,
        "display_name": record.display_name,
        "mime_type": record.mime_type,
        "size_bytes": record.size_bytes,
        "sha256_hex": record.sha256_hex,
        "create_us": to_micros(record.create_time),
        "update_us": to_micros(record.update_time),
        "expire_us": to_micros(record.expire_time),
        "state": record.state.value,
        "source": record.source.value,
        "error_json": json.dumps(record.error) if record.error else None,
        "facts_json": json.dumps(record.facts) if record.facts is not None else None,
        "blob_key": record.blob_key,
        "probe_due": record.facts is None,
        "lease_until": None,
    }


def _file(row: Any) -> FileRecord:
    m = row if not isinstance(row, Row) else row._mapping
    return FileRecord(
        project=m["project"],
        id=m["id"],
        display_name=m["display_name"],
        mime_type=m["mime_type"],
        size_bytes=m["size_bytes"],
        sha256_hex=m["sha256_hex"],
        create_time=from_micros(m["create_us"]),
        update_time=from_micros(m["update_us"]),
        expire_time=from_micros(m["expire_us"]),
        state=FileState(m["state"]),
        source=FileSource(m["source"]),
        error=json.loads(m["error_json"]) if m["error_json"] else None,
        facts=json.loads(m["facts_json"]) if m["facts_json"] else None,
        blob_key=m["blob_key"],
    )


def _session_values(session: UploadSession) -> dict[str, Any]:
    return {
        "token_digest": session.token_digest,
        "project": session.project,
        "file_id": session.file_id,
        "mime_type": session.mime_type,
        "display_name": session.display_name,
        "declared_size": session.declared_size,
        "reserved_bytes": session.reserved_bytes,
        "received": session.received,
        "status": session.status.value,
        "create_us": to_micros(session.create_time),
        "expire_us": to_micros(session.expire_time),
        "blob_state": json.dumps(session.blob_state),
        "parts": _parts_json(session.parts),
        "next_part": session.next_part,
        "hash_state": session.hash_state,
        "result_error": json.dumps(session.result_error) if session.result_error else None,
    }


def _session(row: Any) -> UploadSession:
    m = row if not isinstance(row, Row) else row._mapping
    return UploadSession(
        token_digest=m["token_digest"],
        project=m["project"],
        file_id=m["file_id"],
        mime_type=m["mime_type"],
        display_name=m["display_name"],
        declared_size=m["declared_size"],
        reserved_bytes=m["reserved_bytes"],
        received=m["received"],
        status=SessionStatus(m["status"]),
        create_time=from_micros(m["create_us"]),
        expire_time=from_micros(m["expire_us"]),
        blob_state=json.loads(m["blob_state"]),
        parts=[PartRef.from_json(p) for p in json.loads(m["parts"])],
        next_part=m["next_part"],
        hash_state=bytes(m["hash_state"]) if m["hash_state"] is not None else None,
        result_error=json.loads(m["result_error"]) if m["result_error"] else None,
    )


__all__ = ["SessionGone", "SqlMetadataStore", "async_url"]
