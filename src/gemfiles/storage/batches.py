"""BatchStore on SQL (SQLite and PostgreSQL), over the metadata store's connections.

Jobs are claimed like the other background work: ``SELECT ... FOR UPDATE SKIP LOCKED`` plus a lease
column on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite. Answers are keyed by (job, line index) and inserted
with ``ON CONFLICT DO NOTHING``: a line answered by two runners (one whose lease ran out) keeps its first
answer and is counted once. The generated output file is inserted, and counted in the project's usage,
in the transaction that ends the job.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, delete, not_, or_, select, tuple_, update
from sqlalchemy.engine import Connection

from gemfiles.domain.batches import BatchHold, BatchJob, BatchState, Hold, LineResult
from gemfiles.domain.clock import from_micros, to_micros
from gemfiles.domain.models import FileRecord
from gemfiles.storage.schema import batch_holds, batch_results, batches, files
from gemfiles.storage.sql import SqlMetadataStore
from gemfiles.storage.sql_engine import execute
from gemfiles.storage.sql_rows import file_values

_LIVE = (BatchState.PENDING.value, BatchState.RUNNING.value)
_GET = (
    select(batches).where(batches.c.project == bindparam("project"), batches.c.id == bindparam("id")).limit(1)
)
_ANY_DUE = (
    select(batches.c.id)
    .where(
        # No IN (...): the SQLite read path runs precompiled text, without expanding parameters.
        or_(batches.c.state == BatchState.PENDING.value, batches.c.state == BatchState.RUNNING.value),
        or_(batches.c.lease_until.is_(None), batches.c.lease_until < bindparam("now")),
    )
    .limit(1)
)
_HELD_PENDING = select(batch_holds.c.project).where(batch_holds.c.hold == BatchHold.PENDING.value)
_ANSWERED = select(batch_results.c.idx).where(
    batch_results.c.batch_id == bindparam("id"), batch_results.c.idx >= bindparam("from_index")
)
_RESULTS = (
    select(batch_results)
    .where(batch_results.c.batch_id == bindparam("id"), batch_results.c.idx > bindparam("after"))
    .order_by(batch_results.c.idx)
    .limit(bindparam("limit"))
)
_HOLD = select(batch_holds).where(batch_holds.c.project == bindparam("project"))


class SqlBatchStore:
    def __init__(self, meta: SqlMetadataStore) -> None:
        self.meta = meta

    async def create_batch(self, job: BatchJob) -> None:
        await self.meta._transact(execute, batches.insert().values(**_values(job)))

    async def get_batch(self, project: str, batch_id: str) -> BatchJob | None:
        rows = await self.meta._rows(_GET, {"project": project, "id": batch_id})
        return _job(rows[0]) if rows else None

    async def list_batches(self, project: str, limit: int, after: tuple[int, str] | None) -> list[BatchJob]:
        query = select(batches).where(batches.c.project == project)
        if after is not None:
            query = query.where(tuple_(batches.c.create_us, batches.c.id) < tuple_(*after))
        query = query.order_by(batches.c.create_us.desc(), batches.c.id.desc()).limit(limit)
        return [_job(row) for row in await self.meta._rows(query)]

    async def recent_batches(self, limit: int) -> list[BatchJob]:
        query = select(batches).order_by(batches.c.create_us.desc(), batches.c.id.desc()).limit(limit)
        return [_job(row) for row in await self.meta._rows(query)]

    async def claim_batch(self, now: datetime, lease_seconds: float) -> BatchJob | None:
        now_us = to_micros(now)
        if not await self.meta._rows(_ANY_DUE, {"now": now_us}):
            return None  # a cheap read first: an idle runner takes no write lock

        def work(conn: Connection) -> BatchJob | None:
            row = conn.execute(
                select(batches)
                .where(
                    batches.c.state.in_(_LIVE),
                    or_(batches.c.lease_until.is_(None), batches.c.lease_until < now_us),
                    not_(
                        and_(
                            batches.c.state == BatchState.PENDING.value,
                            batches.c.project.in_(_HELD_PENDING),
                        )
                    ),
                )
                .order_by(batches.c.create_us)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            conn.execute(
                update(batches)
                .where(batches.c.id == row.id)
                .values(lease_until=to_micros(now + timedelta(seconds=lease_seconds)))
            )
            return _job(row._mapping)

        return await self.meta._transact(work)

    async def start_batch(self, batch_id: str, request_count: int, now: datetime) -> bool:
        statement = (
            update(batches)
            .where(batches.c.id == batch_id, batches.c.state == BatchState.PENDING.value)
            .values(state=BatchState.RUNNING.value, request_count=request_count, update_us=to_micros(now))
        )
        return bool(await self.meta._transact(execute, statement))

    async def save_batch_progress(
        self,
        batch_id: str,
        results: list[LineResult],
        done_lines: int,
        done_offset: int,
        now: datetime,
        lease_seconds: float,
    ) -> bool:

        def work(conn: Connection) -> bool:
            row = conn.execute(
                select(batches.c.state, batches.c.done_lines)
                .where(batches.c.id == batch_id)
                .with_for_update()
            ).first()
            if row is None or row.state != BatchState.RUNNING.value:
                return False
            succeeded = failed = 0
            for result in results:
                if self._keep(conn, batch_id, result):
                    succeeded += result.ok
                    failed += not result.ok
            values: dict[str, Any] = {
                "succeeded": batches.c.succeeded + succeeded,
                "failed": batches.c.failed + failed,
                "lease_until": to_micros(now + timedelta(seconds=lease_seconds)),
            }
            if done_lines > row.done_lines:  # never backwards (a slower runner of the same job)
                values |= {"done_lines": done_lines, "done_offset": done_offset}
            if succeeded or failed:
                values["update_us"] = to_micros(now)
            conn.execute(update(batches).where(batches.c.id == batch_id).values(**values))
            return True

        return await self.meta._transact(work)

    def _keep(self, conn: Connection, batch_id: str, result: LineResult) -> bool:
        stmt = self.meta._insert(batch_results).values(
            batch_id=batch_id,
            idx=result.index,
            key=result.key,
            ok=result.ok,
            body_json=orjson.dumps(result.body).decode(),
        )
        inserted = conn.execute(stmt.on_conflict_do_nothing(index_elements=["batch_id", "idx"]))
        return bool(inserted.rowcount)

    async def answered_lines(self, batch_id: str, from_index: int) -> set[int]:
        rows = await self.meta._rows(_ANSWERED, {"id": batch_id, "from_index": from_index})
        return {int(row["idx"]) for row in rows}

    async def batch_results(self, batch_id: str, after_index: int, limit: int) -> list[LineResult]:
        rows = await self.meta._rows(_RESULTS, {"id": batch_id, "after": after_index, "limit": limit})
        return [LineResult(int(row["idx"]), row["key"], orjson.loads(row["body_json"])) for row in rows]

    async def finish_batch(
        self,
        batch_id: str,
        state: BatchState,
        now: datetime,
        output: FileRecord | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:

        def work(conn: Connection) -> bool:
            result = conn.execute(
                update(batches)
                .where(batches.c.id == batch_id, batches.c.state.in_(_LIVE))
                .values(
                    state=state.value,
                    update_us=to_micros(now),
                    end_us=to_micros(now),
                    lease_until=None,
                    output_file=output.name if output else None,
                    error_json=json.dumps(error) if error else None,
                )
            )
            if not result.rowcount:
                return False
            if output is not None:
                conn.execute(files.insert().values(**file_values(output) | {"probe_due": False}))
                # Counted in the project's usage, never refused: the answers exist already.
                self.meta._add_usage(conn, output.project, used=output.size_bytes)
                conn.execute(delete(batch_results).where(batch_results.c.batch_id == batch_id))
            return True

        return await self.meta._transact(work)

    async def release_batch(self, batch_id: str, retry_at: datetime) -> None:
        await self.meta._transact(
            execute,
            update(batches)
            .where(batches.c.id == batch_id, batches.c.state.in_(_LIVE))
            .values(lease_until=to_micros(retry_at)),
        )

    async def cancel_batch(self, project: str, batch_id: str, now: datetime) -> BatchJob | None:
        await self.meta._transact(
            execute,
            update(batches)
            .where(batches.c.project == project, batches.c.id == batch_id, batches.c.state.in_(_LIVE))
            .values(
                state=BatchState.CANCELLED.value,
                update_us=to_micros(now),
                end_us=to_micros(now),
                lease_until=None,
            ),
        )
        return await self.get_batch(project, batch_id)

    async def delete_batch(self, project: str, batch_id: str, now: datetime) -> BatchJob | None:

        def work(conn: Connection) -> BatchJob | None:
            row = conn.execute(
                select(batches)
                .where(batches.c.project == project, batches.c.id == batch_id)
                .with_for_update()
            ).first()
            if row is None:
                return None
            job = _job(row._mapping)
            conn.execute(delete(batches).where(batches.c.id == batch_id))
            conn.execute(delete(batch_results).where(batch_results.c.batch_id == batch_id))
            if job.inline:  # the inline requests' bytes are the job's own; a file input is the user's
                self.meta._queue_gc(conn, [("object", job.input_key, {})], now)
            return job

        return await self.meta._transact(work)

    async def get_batch_hold(self, project: str) -> Hold | None:
        rows = await self.meta._rows(_HOLD, {"project": project})
        if not rows:
            return None
        return Hold(BatchHold(rows[0]["hold"]), int(rows[0]["after_lines"]))

    async def set_batch_hold(self, project: str, hold: Hold | None) -> None:

        def work(conn: Connection) -> None:
            conn.execute(delete(batch_holds).where(batch_holds.c.project == project))
            if hold is not None:
                conn.execute(
                    batch_holds.insert().values(
                        project=project, hold=hold.hold.value, after_lines=hold.after_lines
                    )
                )

        await self.meta._transact(work)


def _values(job: BatchJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "project": job.project,
        "model": job.model,
        "display_name": job.display_name,
        "state": job.state.value,
        "create_us": to_micros(job.create_time),
        "update_us": to_micros(job.update_time),
        "end_us": to_micros(job.end_time) if job.end_time else None,
        "input_key": job.input_key,
        "input_file": job.input_file,
        "request_count": job.request_count,
        "succeeded": job.succeeded,
        "failed": job.failed,
        "done_lines": job.done_lines,
        "done_offset": job.done_offset,
        "output_file": job.output_file,
        "error_json": json.dumps(job.error) if job.error else None,
        "lease_until": None,
    }


def _job(m: Any) -> BatchJob:
    return BatchJob(
        project=m["project"],
        id=m["id"],
        model=m["model"],
        display_name=m["display_name"],
        state=BatchState(m["state"]),
        create_time=from_micros(m["create_us"]),
        update_time=from_micros(m["update_us"]),
        end_time=from_micros(m["end_us"]) if m["end_us"] is not None else None,
        input_key=m["input_key"],
        input_file=m["input_file"],
        request_count=int(m["request_count"]),
        succeeded=int(m["succeeded"]),
        failed=int(m["failed"]),
        done_lines=int(m["done_lines"]),
        done_offset=int(m["done_offset"]),
        output_file=m["output_file"],
        error=json.loads(m["error_json"]) if m["error_json"] else None,
    )


def open_batch_store(meta: Any) -> SqlBatchStore | None:
    """The batch store over a metadata store's database, or None if it is not SQL."""
    return SqlBatchStore(meta) if isinstance(meta, SqlMetadataStore) else None
