"""The generation service with cached contents, called directly: the cache's contents go first, its system
instruction is the call's, and their tokens are reported as cached. On the real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gemfiles.domain.cache_service import CacheReader, CacheService
from gemfiles.domain.calls import Draft, Finished, ModelRequest, OutputEvent, Usage
from gemfiles.domain.clock import ManualClock
from gemfiles.domain.contents import ContentResolver
from gemfiles.domain.files import FileService
from gemfiles.domain.generation import Call, GenerationService
from gemfiles.domain.routing import ModelRouter
from gemfiles.domain.tokens import count_request
from gemfiles.errors import InvalidArgument, NotFound, PermissionDenied
from gemfiles.storage.caches import open_cache_store
from gemfiles.storage.localdisk import LocalBlobStore
from gemfiles.storage.sql import SqlMetadataStore

DOCUMENT = {"contents": ["the cached words"], "system_instruction": "from the cache"}


def read_document(document: dict[str, Any]) -> tuple[list[Draft], str | None]:
    """A stand-in for the protocol's reader: contents are plain strings here."""
    return [Draft("user", [text]) for text in document["contents"]], document.get("system_instruction")


class Recording:
    """A backend that keeps the requests it is sent and reports count_request's usage."""

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    async def generate(self, request: ModelRequest) -> AsyncIterator[OutputEvent]:
        self.requests.append(request)
        yield Finished(count_request(request))

    async def count_tokens(self, request: ModelRequest) -> Usage:
        self.requests.append(request)
        return count_request(request)

    async def close(self) -> None:
        pass


@pytest.fixture
async def meta(tmp_path: Path) -> AsyncIterator[SqlMetadataStore]:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    await store.migrate()
    yield store
    await store.close()


def services(meta: SqlMetadataStore, tmp_path: Path) -> tuple[GenerationService, CacheService, Recording]:
    clock = ManualClock()
    backend = Recording()
    resolver = ContentResolver(FileService(meta, LocalBlobStore(tmp_path / "blobs"), clock))
    store = open_cache_store(meta)
    assert store is not None
    caches = CacheService(store, clock)
    router = ModelRouter([("*", "recording")], {"recording": backend})
    return GenerationService(router, resolver, CacheReader(caches, resolver, read_document)), caches, backend


async def test_generate_with_a_cache_puts_its_contents_first_and_counts_them_as_cached(
    meta: SqlMetadataStore, tmp_path: Path
) -> None:
    generation, caches, backend = services(meta, tmp_path)
    counted = await generation.cached_contents("p", DOCUMENT)
    cache = await caches.create("p", "m", DOCUMENT, counted.tokens)
    answer = await generation.generate(
        "p", Call("m", [Draft("user", ["my own words"])], cached_content=cache.name)
    )
    sent = backend.requests[-1]
    assert [part.text for message in sent.messages for part in message.parts] == [
        "the cached words",
        "my own words",
    ]
    assert sent.system_instruction == "from the cache"
    assert sent.cached_tokens == counted.tokens > 0
    assert answer.finished.usage.cached_tokens == counted.tokens
    assert answer.finished.usage.input_tokens > counted.tokens


async def test_count_tokens_with_a_cache_reports_the_cached_part(
    meta: SqlMetadataStore, tmp_path: Path
) -> None:
    generation, caches, _backend = services(meta, tmp_path)
    cache = await caches.create("p", "m", DOCUMENT, 1)
    usage = await generation.count_tokens("p", Call("m", [Draft("user", ["x"])], cached_content=cache.name))
    assert usage.cached_tokens == (await generation.cached_contents("p", DOCUMENT)).tokens


async def test_a_cache_of_another_model_or_project_is_refused(meta: SqlMetadataStore, tmp_path: Path) -> None:
    generation, caches, _backend = services(meta, tmp_path)
    cache = await caches.create("p", "other-model", DOCUMENT, 1)
    with pytest.raises(InvalidArgument, match="has to be the same"):
        await generation.generate("p", Call("m", [], cached_content=cache.name))
    with pytest.raises(PermissionDenied):
        await generation.generate("intruder", Call("other-model", [], cached_content=cache.name))


async def test_a_cache_without_a_cache_store_is_not_found(meta: SqlMetadataStore, tmp_path: Path) -> None:
    router = ModelRouter([("*", "recording")], {"recording": Recording()})
    resolver = ContentResolver(FileService(meta, LocalBlobStore(tmp_path / "blobs"), ManualClock()))
    generation = GenerationService(router, resolver)
    with pytest.raises(NotFound):
        await generation.generate("p", Call("m", [], cached_content="cachedContents/abc"))
