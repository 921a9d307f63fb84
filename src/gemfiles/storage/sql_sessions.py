"""Upload sessions in SQL: each change of a session is one transaction with its quota and blob queue."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from gemfiles.domain.clock import to_micros
from gemfiles.domain.models import FileRecord, PartRef, SessionStatus, UploadSession
from gemfiles.domain.ports import NameTaken, SessionGone
from gemfiles.domain.refusals import name_taken_result
from gemfiles.storage.schema import upload_sessions
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
        def work(conn: Connection) -> None:
            held = {"f_project": session.project, "f_id": session.file_id, "f_now": to_micros(now)}
            if self._write(conn, self._writes.live_file_id, held).first() is not None:
                raise NameTaken(session.project, session.file_id)
            self._reserve(conn, session.project, session.reserved_bytes, quota_bytes)
            self._write(conn, self._writes.insert_session, session_values(session))

        await self._transact(work)

    async def get_session(self, token_digest: str) -> UploadSession | None:
        row = await self._first(_GET_SESSION, {"token": token_digest})
        return session_record(row) if row else None

    def _lock_session(self, conn: Connection, token_digest: str) -> UploadSession | None:
        row = self._write(conn, self._writes.lock_session, {"s_token": token_digest}).first()
        return session_record(row) if row else None

    async def allocate_part(self, token_digest: str) -> int:
        def work(conn: Connection) -> int | None:
            return conn.execute(
                update(upload_sessions)
                .where(upload_sessions.c.token_digest == token_digest)
                .values(next_part=upload_sessions.c.next_part + 1)
                .returning(upload_sessions.c.next_part)
            ).scalar_one_or_none()

        number = await self._transact(work)
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
        def work(conn: Connection) -> bool:
            session = self._lock_session(conn, token_digest)
            if (
                session is None
                or session.status != SessionStatus.ACTIVE
                or session.received != expected_received
            ):
                return False
            self._reserve(conn, session.project, extra_reserve, quota_bytes)
            parts = [*session.parts, part]
            conn.execute(
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

        return await self._transact(work)

    async def finish_session(self, token_digest: str, file: FileRecord, now: datetime) -> FileRecord:
        conflict = await self._transact(self._finish_session, token_digest, file, now)
        if conflict is not None:
            raise conflict
        return file

    def _finish_session(
        self, conn: Connection, token_digest: str, file: FileRecord, now: datetime
    ) -> NameTaken | None:
        """The session's file recorded; a NameTaken returned (not raised: the session's end is kept)."""
        session = self._lock_session(conn, token_digest)
        if session is None or session.status != SessionStatus.ACTIVE:
            raise SessionGone(token_digest)
        return self._finish_locked(conn, session, file, now)

    async def finish_whole(
        self,
        token_digest: str,
        file: FileRecord,
        quota_bytes: int,
        now: datetime,
        inline: bytes | None = None,
    ) -> FileRecord | None:
        outcome = await self._transact(self._finish_whole, token_digest, file, quota_bytes, now, inline)
        if isinstance(outcome, NameTaken):
            raise outcome
        return file if outcome else None

    def _finish_whole(
        self,
        conn: Connection,
        token_digest: str,
        file: FileRecord,
        quota_bytes: int,
        now: datetime,
        inline: bytes | None,
    ) -> NameTaken | bool:
        session = self._lock_session(conn, token_digest)
        if session is None or session.status != SessionStatus.ACTIVE or session.received != 0:
            return False
        extra = file.size_bytes if session.declared_size is None else 0
        self._reserve(conn, session.project, extra, quota_bytes)
        session.reserved_bytes += extra
        taken = self._finish_locked(conn, session, file, now, received=file.size_bytes)
        if taken is not None:
            return taken
        if inline is not None:
            self._store_inline(conn, file.blob_key, inline, now)
        return True

    def _finish_locked(
        self,
        conn: Connection,
        session: UploadSession,
        file: FileRecord,
        now: datetime,
        *,
        received: int | None = None,
    ) -> NameTaken | None:
        """The file row inserted and the session made final (``received`` set too, for a whole chunk):
        four statements in the usual case, the name looked at only when the insert found it held."""
        if self._write(conn, self._writes.insert_file_unless_held, file_values(file)).rowcount != 1:
            held = {"f_project": file.project, "f_id": file.id}
            existing = self._write(conn, self._writes.lock_file, held).first()
            if existing is not None and file_record(existing).expire_time > now:
                if received is not None:
                    whole = {"s_token": session.token_digest, "s_received": received}
                    self._write(
                        conn, self._writes.whole_received, {**whole, "s_reserved": session.reserved_bytes}
                    )
                self._end_session(conn, session, SessionStatus.FAILED, name_taken_result(file.id), now)
                self._queue_gc(conn, [("object", file.blob_key, {})], now)
                return NameTaken(file.project, file.id)
            if existing is not None:
                self._drop_files(conn, [file_record(existing)], now)  # expired, not swept yet: make room
            self._write(conn, self._writes.insert_file, file_values(file))
        self._add_usage(conn, file.project, used=file.size_bytes, reserved=-session.reserved_bytes)
        final = {"s_token": session.token_digest, "s_status": SessionStatus.FINAL.value}
        if received is None:
            self._write(conn, self._writes.mark_final, final)
        else:
            self._write(conn, self._writes.mark_final_received, {**final, "s_received": received})
        return None

    def _end_session(
        self,
        conn: Connection,
        session: UploadSession,
        status: SessionStatus,
        error: dict[str, Any] | None,
        now: datetime,
    ) -> None:
        self._add_usage(conn, session.project, reserved=-session.reserved_bytes)
        conn.execute(
            update(upload_sessions)
            .where(upload_sessions.c.token_digest == session.token_digest)
            .values(
                status=status.value,
                reserved_bytes=0,
                result_error=json.dumps(error) if error else None,
                parts="[]",
            )
        )
        self._queue_gc(
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
        return await self._transact(self._end_if_active, token_digest, SessionStatus.FAILED, error, now)

    async def cancel_session(self, token_digest: str, now: datetime) -> bool:
        return await self._transact(self._end_if_active, token_digest, SessionStatus.CANCELLED, None, now)

    def _end_if_active(
        self,
        conn: Connection,
        token_digest: str,
        status: SessionStatus,
        error: dict[str, Any] | None,
        now: datetime,
    ) -> bool:
        session = self._lock_session(conn, token_digest)
        if session is None or session.status != SessionStatus.ACTIVE:
            return False
        self._end_session(conn, session, status, error, now)
        return True
