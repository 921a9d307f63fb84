"""Files and project quotas in SQL: lookups, listing, deletion, reservations against the quota."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from functools import cached_property

from sqlalchemy import bindparam, delete, func, insert, select, tuple_
from sqlalchemy.engine import Connection

from gemfiles.domain.clock import from_micros, to_micros
from gemfiles.domain.models import FileRecord, ProjectUsage
from gemfiles.domain.ports import NameTaken, QuotaRefused, StoredBlob
from gemfiles.storage.schema import blob_gc, files, inline_blobs, project_usage
from gemfiles.storage.sql_engine import SqlDatabase
from gemfiles.storage.sql_rows import FileRecords, KnownFiles, file_record, file_values
from gemfiles.storage.sql_writes import WriteStatements

# A hot read statement, built once (see SqlDatabase._sqlite_rows).
_GET_FILE = (
    select(files)
    .where(
        files.c.project == bindparam("project"),
        files.c.id == bindparam("id"),
        files.c.expire_us > bindparam("now"),
    )
    .limit(1)
)


# A page of the listing, newest first, keyset-paginated (ix_files_project_created serves both the filter and
# the order: EXPLAIN shows one index SEARCH, no sort); built once, so it is compiled once.
_PAGE = (
    select(files)
    .where(files.c.project == bindparam("project"), files.c.expire_us > bindparam("now"))
    .order_by(files.c.create_us.desc(), files.c.id.desc())
    .limit(bindparam("limit", literal_execute=False))
)
_PAGE_AFTER = (
    select(files)
    .where(
        files.c.project == bindparam("project"),
        files.c.expire_us > bindparam("now"),
        tuple_(files.c.create_us, files.c.id) < tuple_(bindparam("after_us"), bindparam("after_id")),
    )
    .order_by(files.c.create_us.desc(), files.c.id.desc())
    .limit(bindparam("limit", literal_execute=False))
)

# Small files' bytes, kept with their rows (storage/inline.py).
_INLINE = select(inline_blobs.c.data).where(inline_blobs.c.key == bindparam("key"))
_INLINE_PAGE = (
    select(inline_blobs.c.key, func.length(inline_blobs.c.data).label("size"), inline_blobs.c.create_us)
    .where(inline_blobs.c.key > bindparam("after"))
    .order_by(inline_blobs.c.key)
    .limit(bindparam("limit", literal_execute=False))
)


class SqlFiles(SqlDatabase):
    @cached_property
    def _writes(self) -> WriteStatements:
        return WriteStatements(self._insert)

    # Files ---------------------------------------------------------------------------------------------
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._records = FileRecords()  # the read paths' rows -> records
        self._known = KnownFiles()  # files.get's records on SQLite, while the database is unchanged

    async def get_file(self, project: str, file_id: str, now: datetime) -> FileRecord | None:
        now_us = to_micros(now)
        version: object = None
        if self.is_sqlite:
            version = self._sqlite_version()
            known = self._known.get(version, project, file_id, now_us)
            if known is not None:
                return known
        row = await self._first(_GET_FILE, {"project": project, "id": file_id, "now": now_us})
        if not row:
            return None
        record = self._records(row)
        if self.is_sqlite:
            self._known.put(version, record)
        return record

    async def list_files(
        self, project: str, now: datetime, limit: int, after: tuple[int, str] | None
    ) -> list[FileRecord]:
        params: dict[str, object] = {"project": project, "now": to_micros(now), "limit": limit}
        if after is not None:
            params["after_us"], params["after_id"] = after
        rows = await self._rows(_PAGE if after is None else _PAGE_AFTER, params)
        records = self._records
        return [records(row) for row in rows]

    async def create_file(
        self, file: FileRecord, quota_bytes: int, now: datetime, inline: bytes | None = None
    ) -> FileRecord:
        return await self._transact(self._create_file, file, quota_bytes, now, inline)

    def _create_file(
        self, conn: Connection, file: FileRecord, quota_bytes: int, now: datetime, inline: bytes | None
    ) -> FileRecord:
        # Two statements in the usual case: the row (unless the name is held) and the usage; three with
        # the bytes kept inline.
        inserted = self._write(conn, self._writes.insert_file_unless_held, file_values(file))
        if inserted.rowcount != 1:
            self._replace_expired(conn, file, now)
        self._take(conn, file.project, file.size_bytes, quota_bytes)
        if inline is not None:
            self._store_inline(conn, file.blob_key, inline, now)
        return file

    def _store_inline(self, conn: Connection, key: str, data: bytes, now: datetime) -> None:
        self._write(conn, self._writes.insert_inline, {"key": key, "data": data, "create_us": to_micros(now)})

    async def read_inline(self, key: str) -> bytes | None:
        row = await self._first(_INLINE, {"key": key})
        return bytes(row["data"]) if row is not None else None

    async def delete_inline(self, key: str) -> None:
        def work(conn: Connection) -> None:
            self._write(conn, self._writes.delete_inline, {"i_key": key})

        await self._transact(work)

    async def inline_blobs(self, after: str, limit: int) -> list[StoredBlob]:
        rows = await self._rows(_INLINE_PAGE, {"after": after, "limit": limit})
        return [
            StoredBlob("object", row["key"], int(row["size"]), from_micros(row["create_us"])) for row in rows
        ]

    def _replace_expired(self, conn: Connection, file: FileRecord, now: datetime) -> None:
        """The name is held: by an expired file not swept yet (it makes room), or not (NameTaken)."""
        existing = self._write(
            conn, self._writes.lock_file, {"f_project": file.project, "f_id": file.id}
        ).first()
        if existing is not None:
            old = file_record(existing)
            if old.expire_time > now:
                raise NameTaken(file.project, file.id)
            self._drop_files(conn, [old], now)
        self._write(conn, self._writes.insert_file, file_values(file))

    async def delete_file(self, project: str, file_id: str, now: datetime) -> FileRecord | None:
        def work(conn: Connection) -> FileRecord | None:
            row = conn.execute(
                select(files)
                .where(files.c.project == project, files.c.id == file_id, files.c.expire_us > to_micros(now))
                .with_for_update()
            ).first()
            if row is None:
                return None
            record = file_record(row)
            self._drop_files(conn, [record], now)
            return record

        return await self._transact(work)

    def _drop_files(self, conn: Connection, records: list[FileRecord], now: datetime) -> None:
        freed: dict[str, int] = {}
        for record in records:
            conn.execute(delete(files).where(files.c.project == record.project, files.c.id == record.id))
            freed[record.project] = freed.get(record.project, 0) + record.size_bytes
        # Usage rows are locked in one global order, so two replicas sweeping files of the same projects
        # cannot deadlock on PostgreSQL.
        for project in sorted(freed):
            self._add_usage(conn, project, used=-freed[project])
        self._queue_gc(conn, [("object", r.blob_key, {}) for r in records], now)

    # Quota ---------------------------------------------------------------------------------------------
    def _ensure_usage_row(self, conn: Connection, project: str) -> None:
        self._write(conn, self._writes.ensure_usage, {"u_project": project})

    def _reserve(self, conn: Connection, project: str, amount: int, quota: int) -> None:
        if amount <= 0:
            return
        params = {"u_project": project, "u_amount": amount, "u_quota": quota}
        # One statement when the project has its usage row (every project after its first upload).
        if self._write(conn, self._writes.reserve, params).rowcount == 1:
            return
        self._ensure_usage_row(conn, project)
        if self._write(conn, self._writes.reserve, params).rowcount != 1:
            raise self._refusal(conn, project, amount, quota)

    def _take(self, conn: Connection, project: str, amount: int, quota: int) -> None:
        """Adds ``amount`` to the project's usage if it fits beside what is used and reserved, under the
        project's own quota if it has one, else ``quota`` (one upsert in the usual case)."""
        params = {"u_project": project, "u_amount": amount, "u_quota": quota}
        if amount > quota:
            # Over the default quota: only a project quota of its own can admit it, so there must be a row.
            self._ensure_usage_row(conn, project)
            result = self._write(conn, self._writes.take_update, params)
        else:
            result = self._write(conn, self._writes.take_upsert, params)
        if result.rowcount != 1:
            raise self._refusal(conn, project, amount, quota)

    def _refusal(self, conn: Connection, project: str, amount: int, quota: int) -> QuotaRefused:
        """The refusal, naming the quota that applied: the project's own, else ``quota``."""
        row = conn.execute(
            select(project_usage.c.quota_bytes).where(project_usage.c.project == project)
        ).first()
        own = row[0] if row is not None else None
        return QuotaRefused(project, amount, quota if own is None else int(own))

    def _add_usage(self, conn: Connection, project: str, *, used: int = 0, reserved: int = 0) -> None:
        if used == 0 and reserved == 0:
            return
        params = {"u_project": project, "u_used": used, "u_reserved": reserved}
        if self._write(conn, self._writes.add_usage, params).rowcount == 1:
            return  # the usual case: the row exists
        self._ensure_usage_row(conn, project)
        self._write(conn, self._writes.add_usage, params)

    async def get_usage(self, project: str) -> ProjectUsage:
        row = await self._first(select(project_usage).where(project_usage.c.project == project))
        if row is None:
            return ProjectUsage(project, 0, 0)
        return ProjectUsage(project, row["used_bytes"], row["reserved_bytes"], row["quota_bytes"])

    def _queue_gc(self, conn: Connection, items: Iterable[tuple[str, str, dict]], now: datetime) -> None:
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
            conn.execute(insert(blob_gc), values)
