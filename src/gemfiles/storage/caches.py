"""CacheStore on SQL (SQLite and PostgreSQL), over the metadata store's connections: one row per cache,
its request fragment as a JSON document; every read filters on ``expire_us``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, tuple_, update
from sqlalchemy.engine import Connection

from gemfiles.domain.caches import CachedContent
from gemfiles.domain.clock import from_micros, to_micros
from gemfiles.storage.schema import cached_contents as table
from gemfiles.storage.sql import SqlMetadataStore
from gemfiles.storage.sql_engine import execute

_GET = (
    select(table)
    .where(
        table.c.project == bindparam("project"),
        table.c.id == bindparam("id"),
        table.c.expire_us > bindparam("now"),
    )
    .limit(1)
)


class SqlCacheStore:
    def __init__(self, meta: SqlMetadataStore) -> None:
        self.meta = meta

    async def put_cache(self, cache: CachedContent) -> None:
        await self.meta._transact(execute, table.insert().values(**_values(cache)))

    async def get_cache(self, project: str, cache_id: str, now: datetime) -> CachedContent | None:
        rows = await self.meta._rows(_GET, {"project": project, "id": cache_id, "now": to_micros(now)})
        return _cache(rows[0]) if rows else None

    async def list_caches(
        self, project: str, now: datetime, limit: int, after: tuple[int, str] | None
    ) -> list[CachedContent]:
        query = select(table).where(table.c.project == project, table.c.expire_us > to_micros(now))
        if after is not None:
            query = query.where(tuple_(table.c.create_us, table.c.id) < tuple_(*after))
        query = query.order_by(table.c.create_us.desc(), table.c.id.desc()).limit(limit)
        return [_cache(row) for row in await self.meta._rows(query)]

    async def update_cache_expiry(
        self, project: str, cache_id: str, expire_time: datetime, now: datetime
    ) -> CachedContent | None:
        changed = await self.meta._transact(
            execute,
            update(table)
            .where(table.c.project == project, table.c.id == cache_id, table.c.expire_us > to_micros(now))
            .values(expire_us=to_micros(expire_time), update_us=to_micros(now)),
        )
        if not changed:
            return None
        return await self.get_cache(project, cache_id, now)

    async def delete_cache(self, project: str, cache_id: str, now: datetime) -> bool:
        deleted = await self.meta._transact(
            execute,
            delete(table).where(
                table.c.project == project, table.c.id == cache_id, table.c.expire_us > to_micros(now)
            ),
        )
        return bool(deleted)

    async def sweep_expired_caches(self, now: datetime, limit: int) -> int:
        def work(conn: Connection) -> int:
            rows = conn.execute(
                select(table.c.project, table.c.id)
                .where(table.c.expire_us <= to_micros(now))
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                conn.execute(delete(table).where(table.c.project == row.project, table.c.id == row.id))
            return len(rows)

        return await self.meta._transact(work)


def _values(cache: CachedContent) -> dict[str, Any]:
    return {
        "project": cache.project,
        "id": cache.id,
        "model": cache.model,
        "display_name": cache.display_name,
        "create_us": to_micros(cache.create_time),
        "update_us": to_micros(cache.update_time),
        "expire_us": to_micros(cache.expire_time),
        "total_tokens": cache.total_tokens,
        "body_json": json.dumps(cache.document, separators=(",", ":"), ensure_ascii=False),
    }


def _cache(m: Any) -> CachedContent:
    return CachedContent(
        project=m["project"],
        id=m["id"],
        model=m["model"],
        display_name=m["display_name"],
        create_time=from_micros(m["create_us"]),
        update_time=from_micros(m["update_us"]),
        expire_time=from_micros(m["expire_us"]),
        total_tokens=int(m["total_tokens"]),
        document=json.loads(m["body_json"]),
    )


def open_cache_store(meta: Any) -> SqlCacheStore | None:
    """The cache store over a metadata store's database, or None if it is not SQL."""
    return SqlCacheStore(meta) if isinstance(meta, SqlMetadataStore) else None
