"""A batch line answered by the protocol's LineRunner over the generation service: what ``:generateContent``
would answer for the same request, and every failure as the line's ``error``, never raised."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gemfiles.backends.inspect import InspectBackend
from gemfiles.domain.clock import ManualClock
from gemfiles.domain.contents import ContentResolver
from gemfiles.domain.files import FileService
from gemfiles.domain.generation import GenerationService
from gemfiles.domain.routing import ModelRouter
from gemfiles.protocol.batch_lines import ModelLineRunner
from gemfiles.settings import Settings
from gemfiles.storage.localdisk import LocalBlobStore
from gemfiles.storage.sql import SqlMetadataStore


@pytest.fixture
async def lines(tmp_path: Path) -> AsyncIterator[ModelLineRunner]:
    meta = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    await meta.migrate()
    files = FileService(meta, LocalBlobStore(tmp_path / "blobs"), ManualClock())
    router = ModelRouter([("gemini-*", "inspect")], {"inspect": InspectBackend()})
    yield ModelLineRunner(GenerationService(router, ContentResolver(files)), Settings(data_dir=tmp_path))
    await meta.close()


async def test_a_line_is_answered_as_generate_content_would(lines: ModelLineRunner) -> None:
    body = await lines("p", "gemini-2.5-flash", {"contents": [{"parts": [{"text": "hello"}]}]})
    response = body["response"]
    assert response["candidates"][0]["content"]["role"] == "model"
    assert response["usageMetadata"]["promptTokenCount"] > 0
    assert response["modelVersion"] == "gemini-2.5-flash"


async def test_a_line_for_an_unknown_model_carries_a_not_found_error(lines: ModelLineRunner) -> None:
    body = await lines("p", "no-such-model", {"contents": [{"parts": [{"text": "hello"}]}]})
    assert body["error"]["code"] == 404 and body["error"]["status"] == "NOT_FOUND"


async def test_a_line_with_a_foreign_file_carries_the_files_error(lines: ModelLineRunner) -> None:
    request = {"contents": [{"parts": [{"file_data": {"file_uri": "files/abc123"}}]}]}
    body = await lines("p", "gemini-2.5-flash", request)
    assert body["error"]["code"] == 403


async def test_a_line_with_a_cache_and_a_system_instruction_is_invalid(lines: ModelLineRunner) -> None:
    request = {"contents": [], "cachedContent": "cachedContents/abc", "systemInstruction": "no"}
    body = await lines("p", "gemini-2.5-flash", request)
    assert body["error"]["status"] == "INVALID_ARGUMENT"
