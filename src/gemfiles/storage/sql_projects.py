"""Projects in SQL: their own quotas, the list of projects with usage, and the work in progress."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection

from gemfiles.domain.clock import to_micros
from gemfiles.domain.models import Activity, ProjectUsage, SessionStatus, UploadSession
from gemfiles.storage.schema import files, project_usage, upload_sessions
from gemfiles.storage.sql_files import SqlFiles
from gemfiles.storage.sql_rows import session_record

_FILES_PER_PROJECT = (
    select(files.c.project, func.count().label("n"))
    .where(files.c.expire_us > bindparam("now"))
    .group_by(files.c.project)
)
_USAGE = select(project_usage).order_by(project_usage.c.project)
_SESSIONS_ACTIVE = (
    select(func.count().label("n"))
    .select_from(upload_sessions)
    .where(
        upload_sessions.c.status == SessionStatus.ACTIVE.value,
        upload_sessions.c.expire_us > bindparam("now"),
    )
)
_IN_PROGRESS = (
    select(upload_sessions)
    .where(
        upload_sessions.c.status == SessionStatus.ACTIVE.value,
        upload_sessions.c.expire_us > bindparam("now"),
    )
    .order_by(upload_sessions.c.create_us.desc())
    .limit(bindparam("limit"))
)
_PROBES_DUE = select(func.count().label("n")).select_from(files).where(files.c.probe_due.is_(True))


class SqlProjects(SqlFiles):
    async def set_quota(self, project: str, quota_bytes: int | None) -> None:
        def work(conn: Connection) -> None:
            self._ensure_usage_row(conn, project)
            conn.execute(
                update(project_usage)
                .where(project_usage.c.project == project)
                .values(quota_bytes=quota_bytes)
            )

        await self._transact(work)

    async def list_projects(self, now: datetime) -> list[ProjectUsage]:
        counts = {
            row["project"]: int(row["n"])
            for row in await self._rows(_FILES_PER_PROJECT, {"now": to_micros(now)})
        }
        rows = await self._rows(_USAGE)
        return [
            ProjectUsage(
                row["project"],
                row["used_bytes"],
                row["reserved_bytes"],
                row["quota_bytes"],
                counts.get(row["project"], 0),
            )
            for row in rows
            if row["used_bytes"]
            or row["reserved_bytes"]
            or row["quota_bytes"] is not None
            or row["project"] in counts
        ]

    async def activity(self, now: datetime) -> Activity:
        sessions = await self._rows(_SESSIONS_ACTIVE, {"now": to_micros(now)})
        probes = await self._rows(_PROBES_DUE)
        return Activity(int(sessions[0]["n"]), int(probes[0]["n"]))

    async def sessions_in_progress(self, now: datetime, limit: int) -> list[UploadSession]:
        rows = await self._rows(_IN_PROGRESS, {"now": to_micros(now), "limit": limit})
        return [session_record(row) for row in rows]
