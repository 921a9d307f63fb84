"""Files and project quotas in SQL: lookups, listing, deletion, reservations against the quota."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gemfiles.domain.clock import to_micros
from gemfiles.domain.models import FileRecord, ProjectUsage
from gemfiles.domain.ports import QuotaRefused
from gemfiles.storage.schema import blob_gc, files, project_usage
from gemfiles.storage.sql_engine import SqlDatabase
from gemfiles.storage.sql_rows import file_record

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


class SqlFiles(SqlDatabase):
    # Files ---------------------------------------------------------------------------------------------
    async def get_file(self, project: str, file_id: str, now: datetime) -> FileRecord | None:
        row = await self._first(_GET_FILE, {"project": project, "id": file_id, "now": to_micros(now)})
        return file_record(row) if row else None

    async def list_files(
        self, project: str, now: datetime, limit: int, after: tuple[int, str] | None
    ) -> list[FileRecord]:
        query = select(files).where(files.c.project == project, files.c.expire_us > to_micros(now))
        if after is not None:
            query = query.where(tuple_(files.c.create_us, files.c.id) < tuple_(*after))
        query = query.order_by(files.c.create_us.desc(), files.c.id.desc()).limit(limit)
        return [file_record(row) for row in await self._rows(query)]

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
            record = file_record(row)
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
                project_usage.c.used_bytes + project_usage.c.reserved_bytes + amount
                <= func.coalesce(project_usage.c.quota_bytes, quota),
            )
            .values(reserved_bytes=project_usage.c.reserved_bytes + amount)
        )
        if result.rowcount != 1:
            row = (
                await conn.execute(
                    select(project_usage.c.quota_bytes).where(project_usage.c.project == project)
                )
            ).first()
            own = row[0] if row is not None else None
            raise QuotaRefused(project, amount, quota if own is None else int(own))

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
        return ProjectUsage(project, row["used_bytes"], row["reserved_bytes"], row["quota_bytes"])

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
