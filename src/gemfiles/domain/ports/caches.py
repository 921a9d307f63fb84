"""The cached contents' port (context caching, ``domain/caches.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from gemfiles.domain.caches import CachedContent


@runtime_checkable
class CacheStore(Protocol):
    """Cached contents; every read filters out the expired ones, so they are gone before the sweep."""

    async def put_cache(self, cache: CachedContent) -> None: ...
    async def get_cache(self, project: str, cache_id: str, now: datetime) -> CachedContent | None: ...
    async def list_caches(
        self, project: str, now: datetime, limit: int, after: tuple[int, str] | None
    ) -> list[CachedContent]:
        """Unexpired caches, newest first, keyset-paginated after (create_micros, id)."""

    async def update_cache_expiry(
        self, project: str, cache_id: str, expire_time: datetime, now: datetime
    ) -> CachedContent | None: ...
    async def delete_cache(self, project: str, cache_id: str, now: datetime) -> bool: ...
    async def sweep_expired_caches(self, now: datetime, limit: int) -> int: ...
