"""Creating, reading, updating (the lifetime only) and deleting cached contents; the sweep."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from gemfiles.domain.caches import (
    CachedContent,
    CachePage,
    cache_id_of,
    decode_page_token,
    encode_page_token,
    expiry,
    model_name,
    new_cache_id,
    not_found,
)
from gemfiles.domain.clock import Clock
from gemfiles.domain.ports import CacheStore
from gemfiles.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class CacheService:
    def __init__(self, store: CacheStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def create(
        self,
        project: str,
        model: str,
        document: dict[str, Any],
        total_tokens: int,
        *,
        display_name: str | None = None,
        ttl: timedelta | None = None,
        expire_time: datetime | None = None,
    ) -> CachedContent:
        now = self.clock.now()
        cache = CachedContent(
            project=project,
            id=new_cache_id(),
            model=model_name(model),
            display_name=display_name,
            create_time=now,
            update_time=now,
            expire_time=expiry(now, ttl, expire_time),
            total_tokens=total_tokens,
            document=document,
        )
        await self.store.put_cache(cache)
        return cache

    async def get(self, project: str, name: str) -> CachedContent:
        cache = await self.store.get_cache(project, cache_id_of(name), self.clock.now())
        if cache is None:
            raise not_found()
        return cache

    async def list(self, project: str, page_size: int | None, page_token: str | None) -> CachePage:
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after = decode_page_token(page_token) if page_token else None
        caches = await self.store.list_caches(project, self.clock.now(), size + 1, after)
        more = len(caches) > size
        caches = caches[:size]
        return CachePage(caches, encode_page_token(caches[-1]) if more and caches else None)

    async def update_expiry(
        self, project: str, name: str, ttl: timedelta | None, expire_time: datetime | None
    ) -> CachedContent:
        if ttl is None and expire_time is None:
            raise InvalidArgument("One of ttl and expire_time is required to update a cached content.")
        now = self.clock.now()
        cache = await self.store.update_cache_expiry(
            project, cache_id_of(name), expiry(now, ttl, expire_time), now
        )
        if cache is None:
            raise not_found()
        return cache

    async def delete(self, project: str, name: str) -> None:
        if not await self.store.delete_cache(project, cache_id_of(name), self.clock.now()):
            raise not_found()

    async def sweep(self, batch: int = 500) -> int:
        total = 0
        while True:
            swept = await self.store.sweep_expired_caches(self.clock.now(), batch)
            total += swept
            if swept < batch:
                return total
