"""Cached contents: ``CacheService`` creates, reads, updates (the lifetime only), deletes and sweeps them;
``CacheReader`` gives the prefix a model call with ``cachedContent`` starts with.

A cache keeps its request fragment as sent (wire JSON, ``CachedContent.document``). The protocol layer
knows how to read it: the composition root hands its reader in (a ``DocumentReader``), and the cache's
contents are read and their files resolved again for each call that uses it, so a call sees them as the
files are then (the caller's, unexpired, ACTIVE).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from gemfiles.domain.calls import Draft, Message
from gemfiles.domain.clock import Clock
from gemfiles.domain.contents import ContentResolver
from gemfiles.domain.ports import CacheStore
from gemfiles.domain.tokens import count_messages
from gemfiles.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

# A cache's document (wire JSON) as drafts and a system instruction: the protocol's parser, handed in.
DocumentReader = Callable[[dict[str, Any]], tuple[list[Draft], str | None]]


@dataclass(frozen=True, slots=True)
class CachedPrefix:
    """What a model call with ``cachedContent`` starts with: the cache's resolved contents, its system
    instruction, and their input tokens (``cachedContentTokenCount``)."""

    messages: list[Message]
    system_instruction: str | None
    tokens: int


class CacheReader:
    """A cache's document read and resolved for a model call (or to count a new cache's tokens)."""

    def __init__(
        self, caches: CacheService, resolver: ContentResolver, read_document: DocumentReader
    ) -> None:
        self.caches = caches
        self.resolver = resolver
        self.read_document = read_document

    async def resolve(self, project: str, document: dict[str, Any]) -> CachedPrefix:
        """A document's contents resolved now: its files must (still) be the caller's, unexpired, ACTIVE."""
        drafts, system = self.read_document(document)
        messages = await self.resolver.resolve(project, drafts)
        return CachedPrefix(messages, system, count_messages(messages, system).input_tokens)

    async def prefix(self, project: str, name: str, model: str) -> CachedPrefix:
        """The contents a call of ``model`` with ``cachedContent: name`` puts before its own."""
        cache = await self.caches.get(project, name)
        if cache.model != model_name(model):
            raise InvalidArgument(
                f"Model used by GenerateContent request ({model_name(model)}) and CachedContent "
                f"({cache.model}) has to be the same."
            )
        return await self.resolve(project, cache.document)


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
