"""The cache store on every SQL backend (SQLite, PostgreSQL): expiry hides at once, sweep deletes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from gemfiles.domain.cache_service import CacheService
from gemfiles.domain.clock import ManualClock
from gemfiles.domain.ports import MetadataStore
from gemfiles.errors import InvalidArgument, PermissionDenied
from gemfiles.storage.caches import open_cache_store
from tests.contract.conftest import Backend


@pytest.fixture(autouse=True)
def _sql_only(backend: Backend) -> None:
    if backend.name == "memory":
        pytest.skip("cached contents live in a SQL metadata store (no in-memory twin)")


NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DOCUMENT = {
    "contents": [{"role": "user", "parts": [{"text": "Ünïcode kept"}]}],
    "system_instruction": "be brief",
}


def service(meta: MetadataStore) -> tuple[CacheService, ManualClock]:
    store = open_cache_store(meta)
    assert store is not None
    clock = ManualClock(NOW)
    return CacheService(store, clock), clock


async def test_create_then_get_returns_the_cache_with_its_document(meta: MetadataStore) -> None:
    caches, _ = service(meta)
    project = f"p-{uuid.uuid4().hex[:8]}"
    created = await caches.create(
        project, "gemini-x", DOCUMENT, 42, display_name="d", ttl=timedelta(seconds=300)
    )
    got = await caches.get(project, created.name)
    assert (got.model, got.display_name, got.total_tokens, got.document) == (
        "models/gemini-x",
        "d",
        42,
        DOCUMENT,
    )
    assert got.expire_time == NOW + timedelta(seconds=300)


async def test_an_expired_cache_is_gone_at_once_and_swept_later(meta: MetadataStore) -> None:
    caches, clock = service(meta)
    project = f"p-{uuid.uuid4().hex[:8]}"
    created = await caches.create(project, "m", DOCUMENT, 1, ttl=timedelta(seconds=60))
    kept = await caches.create(project, "m", DOCUMENT, 1, ttl=timedelta(hours=2))
    clock.advance(timedelta(seconds=61))
    with pytest.raises(PermissionDenied):
        await caches.get(project, created.name)
    with pytest.raises(PermissionDenied):
        await caches.update_expiry(project, created.name, timedelta(hours=1), None)
    assert [c.name for c in (await caches.list(project, None, None)).caches] == [kept.name]
    assert await caches.sweep() >= 1
    assert await caches.sweep() == 0


async def test_another_projects_cache_is_invisible(meta: MetadataStore) -> None:
    caches, _ = service(meta)
    created = await caches.create("owner", "m", DOCUMENT, 1)
    for call in (caches.get, caches.delete):
        with pytest.raises(PermissionDenied) as caught:
            await call("intruder", created.name)
        assert caught.value.message == "CachedContent not found (or permission denied)"
    assert (await caches.list("intruder", None, None)).caches == []
    await caches.get("owner", created.name)


async def test_update_expiry_moves_only_the_expire_time(meta: MetadataStore) -> None:
    caches, clock = service(meta)
    project = f"p-{uuid.uuid4().hex[:8]}"
    created = await caches.create(project, "m", DOCUMENT, 7)
    assert created.expire_time == NOW + timedelta(hours=1)  # Google's default lifetime
    clock.advance(timedelta(minutes=5))
    updated = await caches.update_expiry(project, created.name, None, NOW + timedelta(days=2))
    assert updated.expire_time == NOW + timedelta(days=2) and updated.update_time == clock.now()
    assert (updated.create_time, updated.total_tokens, updated.document) == (NOW, 7, DOCUMENT)


@pytest.mark.parametrize(
    ("ttl", "expire_time"),
    [
        (timedelta(0), None),
        (timedelta(seconds=-5), None),
        (None, NOW - timedelta(seconds=1)),
        (timedelta(seconds=5), NOW + timedelta(hours=1)),
        (timedelta(days=40000), None),
    ],
)
async def test_a_bad_lifetime_is_invalid_argument(
    meta: MetadataStore, ttl: timedelta | None, expire_time: datetime | None
) -> None:
    caches, _ = service(meta)
    with pytest.raises(InvalidArgument):
        await caches.create("p", "m", DOCUMENT, 1, ttl=ttl, expire_time=expire_time)


async def test_list_pages_newest_first(meta: MetadataStore) -> None:
    caches, clock = service(meta)
    project = f"p-{uuid.uuid4().hex[:8]}"
    names = []
    for _ in range(5):
        clock.advance(timedelta(seconds=1))
        names.append((await caches.create(project, "m", DOCUMENT, 1)).name)
    first = await caches.list(project, 2, None)
    second = await caches.list(project, 2, first.next_token)
    third = await caches.list(project, 2, second.next_token)
    assert [c.name for c in first.caches + second.caches + third.caches] == names[::-1]
    assert third.next_token is None
    with pytest.raises(InvalidArgument):
        await caches.list(project, 2, "garbage")
