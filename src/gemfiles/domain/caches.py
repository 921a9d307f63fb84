"""Cached contents (context caching): contents kept for a project, put before a model call's own.

A cache is created from a model, contents (file parts allowed: the caller's, unexpired, ACTIVE files),
an optional system instruction and tools, and a lifetime (``ttl`` from now, or ``expire_time``). Only its
lifetime changes afterwards. An expired cache is gone at once (every read filters on ``expire_time``)
and the sweeper deletes its row later. Another project's cache looks exactly like a missing one.

The cached request fragment is kept as sent (``document``: contents, system instruction, tools, tool
config in wire JSON): the protocol layer parses it again for each call that uses the cache, so a call
sees the same contents, resolved against the files as they are then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gemfiles.domain import page_tokens
from gemfiles.domain.ids import random_id
from gemfiles.errors import InvalidArgument, PermissionDenied

DEFAULT_TTL = timedelta(hours=1)  # Google's default when neither ttl nor expire_time is given
MAX_TTL = timedelta(days=3650)


@dataclass(slots=True)
class CachedContent:
    project: str
    id: str
    model: str  # "models/..."
    display_name: str | None
    create_time: datetime
    update_time: datetime
    expire_time: datetime
    total_tokens: int
    document: dict[str, Any]

    @property
    def name(self) -> str:
        return f"cachedContents/{self.id}"


@dataclass(frozen=True, slots=True)
class CachePage:
    caches: list[CachedContent]
    next_token: str | None


def not_found() -> PermissionDenied:
    # Google's answer for a missing, expired or foreign cache alike.
    return PermissionDenied("CachedContent not found (or permission denied)")


def cache_id_of(name: str) -> str:
    cache_id = name.removeprefix("cachedContents/")
    if not cache_id or not cache_id.isascii() or not cache_id.isalnum() or len(cache_id) > 64:
        raise not_found()
    return cache_id


def model_name(model: str) -> str:
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


def expiry(now: datetime, ttl: timedelta | None, expire_time: datetime | None) -> datetime:
    """The expire time from ``ttl`` or ``expire_time`` (one of them, or neither for the default)."""
    if ttl is not None and expire_time is not None:
        raise InvalidArgument("Only one of ttl and expire_time may be set.")
    if expire_time is not None:
        if expire_time <= now:
            raise InvalidArgument("expire_time must be in the future.")
        if expire_time - now > MAX_TTL:
            raise InvalidArgument(f"expire_time may be at most {MAX_TTL.days} days ahead.")
        return expire_time
    ttl = DEFAULT_TTL if ttl is None else ttl
    if ttl <= timedelta(0):
        raise InvalidArgument("ttl must be positive.")
    if ttl > MAX_TTL:
        raise InvalidArgument(f"ttl may be at most {MAX_TTL.days} days.")
    return now + ttl


def encode_page_token(cache: CachedContent) -> str:
    return page_tokens.encode("c1", cache.create_time, cache.id)


def decode_page_token(token: str) -> tuple[int, str]:
    return page_tokens.decode("c1", token, cache_id_of)


def new_cache_id() -> str:
    return random_id(24)
