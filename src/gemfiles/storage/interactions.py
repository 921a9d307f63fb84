"""Interactions on SQL (SQLite and PostgreSQL), in SQLAlchemy Core over the metadata store's connections.

Kept apart from ``sql.py``: one row per interaction, its timeline as a JSON document, nothing shared
with the files tables but the store's read path (``_rows``: inline on SQLite, the async pool on
PostgreSQL) and write transactions (``_write``: on SQLite the single writer connection).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.engine import Connection

from gemfiles.domain.clock import from_micros, to_micros
from gemfiles.domain.interactions import InteractionRecord
from gemfiles.storage.schema import interactions
from gemfiles.storage.sql import SqlMetadataStore

# Built once: the store compiles bound statements once and reuses them.
_GET = (
    select(interactions)
    .where(
        interactions.c.project == bindparam("project"),
        interactions.c.id == bindparam("id"),
        interactions.c.expire_us > bindparam("now"),
    )
    .limit(1)
)


class SqlInteractionStore:
    def __init__(self, meta: SqlMetadataStore) -> None:
        self.meta = meta

    def _upsert(self, values: dict[str, Any]) -> Any:
        stmt: Any = self.meta._insert(interactions).values(**values)
        changing = {k: v for k, v in values.items() if k not in ("project", "id", "create_us")}
        return stmt.on_conflict_do_update(index_elements=["project", "id"], set_=changing)

    async def put_interaction(self, record: InteractionRecord) -> None:
        statement = self._upsert(_values(record))
        await self.meta._transact(lambda conn: conn.execute(statement))

    async def get_interaction(
        self, project: str, interaction_id: str, now: datetime
    ) -> InteractionRecord | None:
        rows = await self.meta._rows(_GET, {"project": project, "id": interaction_id, "now": to_micros(now)})
        return _record(rows[0]) if rows else None

    async def delete_interaction(self, project: str, interaction_id: str, now: datetime) -> bool:
        statement = delete(interactions).where(
            interactions.c.project == project,
            interactions.c.id == interaction_id,
            interactions.c.expire_us > to_micros(now),
        )
        return await self.meta._transact(lambda conn: bool(conn.execute(statement).rowcount))

    async def sweep_expired_interactions(self, now: datetime, limit: int) -> int:
        def work(conn: Connection) -> int:
            rows = conn.execute(
                select(interactions.c.project, interactions.c.id)
                .where(interactions.c.expire_us <= to_micros(now))
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                conn.execute(
                    delete(interactions).where(
                        interactions.c.project == row.project, interactions.c.id == row.id
                    )
                )
            return len(rows)

        return await self.meta._transact(work)


def _values(record: InteractionRecord) -> dict[str, Any]:
    body = {
        "system_instruction": record.system_instruction,
        "steps": record.steps,
        "usage": record.usage,
        "extra": record.extra,
    }
    return {
        "project": record.project,
        "id": record.id,
        "model": record.model,
        "status": record.status,
        "previous_id": record.previous_id,
        "create_us": to_micros(record.create_time),
        "update_us": to_micros(record.update_time),
        "expire_us": to_micros(record.expire_time),
        "body_json": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
    }


def _record(row: Mapping[str, Any]) -> InteractionRecord:
    """From a row as a mapping by column name (what the store's read path gives on both databases)."""
    body = json.loads(row["body_json"])
    return InteractionRecord(
        project=row["project"],
        id=row["id"],
        model=row["model"],
        status=row["status"],
        previous_id=row["previous_id"],
        create_time=from_micros(row["create_us"]),
        update_time=from_micros(row["update_us"]),
        expire_time=from_micros(row["expire_us"]),
        system_instruction=body.get("system_instruction"),
        steps=body.get("steps") or [],
        usage=body.get("usage") or {},
        extra=body.get("extra") or {},
    )


def open_interaction_store(meta: Any) -> SqlInteractionStore | None:
    """The interaction store over a metadata store's database, or None if it is not SQL."""
    return SqlInteractionStore(meta) if isinstance(meta, SqlMetadataStore) else None
