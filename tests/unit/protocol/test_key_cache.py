"""API key -> project lookups are cached for KEY_CACHE_SECONDS; a revocation through this process counts at
once, one made elsewhere (another worker or replica) within that bound."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from gemfiles.domain.clock import ManualClock
from gemfiles.domain.projects import ProjectAdmin
from gemfiles.errors import ApiKeyInvalid
from gemfiles.protocol import http
from gemfiles.protocol.http import Authenticator
from gemfiles.settings import Settings
from gemfiles.storage.memory import MemoryMetadataStore, forget

_NAMES = itertools.count()


@pytest.fixture
def meta() -> MemoryMetadataStore:
    name = f"key-cache-{next(_NAMES)}"
    yield MemoryMetadataStore(name)  # type: ignore[misc]
    forget(name)


async def test_revoked_key_is_refused_at_once_after_forget_keys(meta: MemoryMetadataStore) -> None:
    admin = ProjectAdmin(meta, ManualClock(datetime(2026, 1, 1, tzinfo=UTC)), 10**9)
    auth = Authenticator(Settings(auth="keys"), meta)
    made = await admin.create_key("team-a")
    assert await auth.project_for_key(made.key) == "team-a"
    await admin.revoke_key(made.record.prefix)
    auth.forget_keys()
    with pytest.raises(ApiKeyInvalid):
        await auth.project_for_key(made.key)


async def test_key_revoked_elsewhere_is_refused_once_the_cache_entry_expires(
    meta: MemoryMetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(http.time, "monotonic", lambda: now[0])
    admin = ProjectAdmin(meta, ManualClock(datetime(2026, 1, 1, tzinfo=UTC)), 10**9)
    auth = Authenticator(Settings(auth="keys"), meta)  # this replica's cache
    made = await admin.create_key("team-a")
    assert await auth.project_for_key(made.key) == "team-a"
    await admin.revoke_key(made.record.prefix)  # another replica revokes: this cache is not told
    now[0] += http.KEY_CACHE_SECONDS / 2
    assert await auth.project_for_key(made.key) == "team-a"  # still cached: the documented bound
    now[0] += http.KEY_CACHE_SECONDS / 2 + 0.001
    with pytest.raises(ApiKeyInvalid):
        await auth.project_for_key(made.key)


async def test_open_mode_gives_each_key_its_own_project_every_time(meta: MemoryMetadataStore) -> None:
    auth = Authenticator(Settings(auth="open"), meta)
    first = await auth.project_for_key("alpha")
    assert await auth.project_for_key("alpha") == first
    assert await auth.project_for_key("beta") != first
