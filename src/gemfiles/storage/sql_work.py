"""Background work in SQL, claimed so that each item is done once, whichever replica takes it.

Items are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` plus a lease column on PostgreSQL, so a
replica that dies mid-job leaves its items to another; SQLite gets the same from ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, Table, bindparam, case, delete, or_, select, union, update
from sqlalchemy.engine import Connection

from gemfiles.domain.clock import to_micros
from gemfiles.domain.models import FileRecord, FileState, SessionStatus
from gemfiles.domain.ports import GcItem
from gemfiles.storage.schema import batches, blob_gc, files, upload_sessions
from gemfiles.storage.sql_engine import execute
from gemfiles.storage.sql_rows import file_record, session_record
from gemfiles.storage.sql_sessions import SqlSessions

_ANY_PROBE_DUE = select(files.c.id).where(files.c.probe_due.is_(True)).limit(1)

# The scrub's questions, asked for up to KEY_SLOTS keys at once with statements of one fixed shape (compiled
# once, like every read here; unused slots hold "", which names nothing). Each is an index lookup:
# files.blob_key and batches.input_key have their indexes (migration 0006), sessions are a range of their
# primary key (an upload key is the first 40 characters of the token digest), the collection queue is short.
KEY_SLOTS = 100
_SLOTS = [f"k{i}" for i in range(KEY_SLOTS)]
_OBJECTS_NAMED = union(
    select(files.c.blob_key.label("key")).where(files.c.blob_key.in_([bindparam(n) for n in _SLOTS])),
    select(batches.c.input_key).where(batches.c.input_key.in_([bindparam(n) for n in _SLOTS])),
    select(blob_gc.c.key).where(blob_gc.c.key.in_([bindparam(n) for n in _SLOTS])),
)
_UPLOADS_QUEUED = select(blob_gc.c.key).where(blob_gc.c.key.in_([bindparam(n) for n in _SLOTS]))
_SESSIONS_ACTIVE_BETWEEN = select(upload_sessions.c.token_digest).where(
    upload_sessions.c.token_digest >= bindparam("low"),
    upload_sessions.c.token_digest <= bindparam("high"),
    upload_sessions.c.status == SessionStatus.ACTIVE.value,
)


def _expired(table: Table, now: datetime, limit: int) -> Select[Any]:
    """The oldest ``limit`` rows of ``table`` (files or upload sessions) expired by ``now``, locked for the
    sweep; rows another replica is sweeping are skipped."""
    return (
        select(table)
        .where(table.c.expire_us <= to_micros(now))
        .order_by(table.c.expire_us)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


class SqlWork(SqlSessions):
    # Background work ---------------------------------------------------------------------------------------
    async def claim_probe(self, now: datetime, lease_seconds: float) -> FileRecord | None:
        # A cheap read first, so an idle worker does not take the write lock every poll.
        if await self._first(_ANY_PROBE_DUE) is None:
            return None
        return await self._transact(self._claim_probe, now, lease_seconds)

    def _claim_probe(self, conn: Connection, now: datetime, lease_seconds: float) -> FileRecord | None:
        now_us = to_micros(now)
        row = conn.execute(
            select(files)
            .where(
                files.c.probe_due.is_(True),
                files.c.expire_us > now_us,
                or_(files.c.lease_until.is_(None), files.c.lease_until < now_us),
            )
            # Files waiting to become usable (PROCESSING) before facts-only probes.
            .order_by(case((files.c.state == FileState.PROCESSING.value, 0), else_=1), files.c.create_us)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        conn.execute(
            update(files)
            .where(files.c.project == row.project, files.c.id == row.id)
            .values(lease_until=to_micros(now + timedelta(seconds=lease_seconds)))
        )
        return file_record(row)

    async def save_probe(
        self,
        project: str,
        file_id: str,
        state: FileState,
        facts: dict[str, Any] | None,
        error: dict[str, Any] | None,
        now: datetime,
    ) -> None:
        statement = (
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
        await self._transact(execute, statement)

    async def sweep_expired_files(self, now: datetime, limit: int) -> list[FileRecord]:
        def work(conn: Connection) -> list[FileRecord]:
            rows = conn.execute(_expired(files, now, limit)).all()
            records = [file_record(row) for row in rows]
            self._drop_files(conn, records, now)
            return records

        return await self._transact(work)

    async def sweep_expired_sessions(self, now: datetime, limit: int) -> int:
        def work(conn: Connection) -> int:
            rows = conn.execute(_expired(upload_sessions, now, limit)).all()
            for row in rows:
                session = session_record(row)
                if session.status == SessionStatus.ACTIVE:
                    self._end_session(conn, session, SessionStatus.CANCELLED, None, now)
                conn.execute(
                    delete(upload_sessions).where(upload_sessions.c.token_digest == session.token_digest)
                )
            return len(rows)

        return await self._transact(work)

    async def claim_gc(self, now: datetime, lease_seconds: float, limit: int) -> list[GcItem]:
        now_us = to_micros(now)

        def work(conn: Connection) -> list[GcItem]:
            rows = conn.execute(
                select(blob_gc)
                .where(or_(blob_gc.c.lease_until.is_(None), blob_gc.c.lease_until < now_us))
                .order_by(blob_gc.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                conn.execute(
                    update(blob_gc)
                    .where(blob_gc.c.id.in_([row.id for row in rows]))
                    .values(lease_until=to_micros(now + timedelta(seconds=lease_seconds)))
                )
            return [GcItem(row.id, row.kind, row.key, json.loads(row.state)) for row in rows]

        return await self._transact(work)

    async def finish_gc(self, ids: list[int]) -> None:
        if ids:
            await self._transact(execute, delete(blob_gc).where(blob_gc.c.id.in_(ids)))

    async def blob_keys_in_use(self, object_keys: list[str], upload_keys: list[str]) -> set[str]:
        named: set[str] = set()
        for batch in _slices(sorted(object_keys)):
            rows = await self._rows(_OBJECTS_NAMED, _slot_values(batch))
            named.update(row["key"] for row in rows)
        for batch in _slices(sorted(upload_keys)):
            named.update(row["key"] for row in await self._rows(_UPLOADS_QUEUED, _slot_values(batch)))
            # Every digest that begins with one of these keys sorts between the first key and the last
            # key followed by "z" (past any hex digit, in any collation).
            wanted = set(batch)
            bounds = {"low": batch[0], "high": batch[-1] + "z"}
            rows = await self._rows(_SESSIONS_ACTIVE_BETWEEN, bounds)
            named.update(d[:40] for d in (row["token_digest"] for row in rows) if d[:40] in wanted)
        return named & (set(object_keys) | set(upload_keys))


def _slices(keys: list[str]) -> list[list[str]]:
    return [keys[i : i + KEY_SLOTS] for i in range(0, len(keys), KEY_SLOTS)]


def _slot_values(keys: list[str]) -> dict[str, str]:
    return {name: keys[i] if i < len(keys) else "" for i, name in enumerate(_SLOTS)}
