"""Upload sessions in SQL: each change of a session is one transaction with its quota and blob queue."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gemfiles.domain.clock import to_micros
from gemfiles.domain.models import FileRecord, PartRef, SessionStatus, UploadSession
from gemfiles.domain.ports import NameTaken, SessionGone
from gemfiles.domain.refusals import name_taken_result
from gemfiles.storage.schema import files, upload_sessions
from gemfiles.storage.sql_files import SqlFiles
from gemfiles.storage.sql_rows import (
    file_record,
    file_values,
    parts_json,
    parts_list,
    session_record,
    session_values,
)

_GET_SESSION = select(upload_sessions).where(upload_sessions.c.token_digest == bindparam("token")).limit(1)


class SqlSessions(SqlFiles):
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
            await conn.execute(insert(upload_sessions).values(**session_values(session)))

    async def get_session(self, token_digest: str) -> UploadSession | None:
        row = await self._first(_GET_SESSION, {"token": token_digest})
        return session_record(row) if row else None

    async def _lock_session(self, conn: AsyncConnection, token_digest: str) -> UploadSession | None:
        row = (
            await conn.execute(
                select(upload_sessions)
                .where(upload_sessions.c.token_digest == token_digest)
                .with_for_update()
            )
        ).first()
        return session_record(row) if row else None

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
                    parts=parts_json(parts),
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
                old = file_record(existing)
                if old.expire_time > now:
                    conflict = NameTaken(file.project, file.id)
                else:
                    await self._drop_files(conn, [old], now)  # expired, not swept yet: make room
            if conflict is not None:
                await self._end_session(conn, session, SessionStatus.FAILED, name_taken_result(file.id), now)
                await self._queue_gc(conn, [("object", file.blob_key, {})], now)
            else:
                await conn.execute(insert(files).values(**file_values(file)))
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
                    {"blob_state": session.blob_state, "parts": parts_list(session.parts)},
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
