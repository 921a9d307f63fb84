"""API keys in SQL: stored as hashes, looked up on every request, revoked by prefix or hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, or_, select, update

from gemfiles.domain.clock import from_micros, to_micros
from gemfiles.domain.ports import ApiKeyRecord
from gemfiles.storage.schema import api_keys
from gemfiles.storage.sql_engine import SqlDatabase

_LOOKUP_KEY = (
    select(api_keys.c.project)
    .where(api_keys.c.key_hash == bindparam("key_hash"), api_keys.c.revoked_us.is_(None))
    .limit(1)
)


class SqlKeys(SqlDatabase):
    # Keys -------------------------------------------------------------------------------------------------
    async def create_key(self, key_hash: str, project: str, prefix: str, now: datetime) -> None:
        statement = insert(api_keys).values(
            key_hash=key_hash, project=project, prefix=prefix, create_us=to_micros(now), revoked_us=None
        )
        await self._transact(lambda conn: conn.execute(statement))

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
        statement = (
            update(api_keys)
            .where(
                or_(api_keys.c.prefix == prefix_or_hash, api_keys.c.key_hash == prefix_or_hash),
                api_keys.c.revoked_us.is_(None),
            )
            .values(revoked_us=to_micros(now))
        )
        return await self._transact(lambda conn: int(conn.execute(statement).rowcount or 0))

    async def lookup_key(self, key_hash: str) -> str | None:
        row = await self._first(_LOOKUP_KEY, {"key_hash": key_hash})
        return row["project"] if row else None
