"""The Python SDK, unmodified, on context caching as Google's caching page uses it (sync and async):
a cache made from an uploaded file, used by generateContent and its stream, updated, listed, deleted."""

from __future__ import annotations

import datetime
import io

import pytest
from google import genai
from google.genai import errors, types

from tests.support import LiveServer

MODEL = "gemini-2.5-flash"
TRANSCRIPT = ("The Apollo 11 transcript, line after line. " * 400).encode()
NOT_FOUND = "CachedContent not found (or permission denied)"


def upload_transcript(client: genai.Client) -> types.File:
    document = client.files.upload(
        file=io.BytesIO(TRANSCRIPT), config={"mime_type": "text/plain", "display_name": "a11.txt"}
    )
    assert document.state is not None and document.state.name == "ACTIVE"
    return document


def test_cache_from_an_uploaded_file_is_used_updated_listed_and_deleted(client: genai.Client) -> None:
    document = upload_transcript(client)
    cache = client.caches.create(
        model=MODEL,
        config=types.CreateCachedContentConfig(
            display_name="a11 transcript",
            system_instruction="You are an expert at analyzing transcripts.",
            contents=[document],
            ttl="300s",
        ),
    )
    assert cache.name is not None and cache.name.startswith("cachedContents/")
    assert cache.model == f"models/{MODEL}" and cache.display_name == "a11 transcript"
    assert cache.create_time is not None and cache.expire_time is not None
    assert (cache.expire_time - cache.create_time).total_seconds() == pytest.approx(300, abs=1)
    assert cache.usage_metadata is not None and cache.usage_metadata.total_token_count is not None
    cached_tokens = cache.usage_metadata.total_token_count
    assert cached_tokens == len(TRANSCRIPT) // 4 + len("You are an expert at analyzing transcripts.") // 4 + 1

    response = client.models.generate_content(
        model=MODEL,
        contents="Please summarize this transcript",
        config=types.GenerateContentConfig(cached_content=cache.name),
    )
    assert response.text is not None
    assert "You are an expert at analyzing transcripts." in response.text
    assert document.name in response.text  # the cached file came first
    assert response.text.index(document.name) < response.text.index("Please summarize this transcript")
    usage = response.usage_metadata
    assert usage is not None and usage.cached_content_token_count == cached_tokens
    assert usage.prompt_token_count == cached_tokens + 8  # the cached contents count in the prompt

    chunks = list(
        client.models.generate_content_stream(
            model=MODEL, contents="Again", config=types.GenerateContentConfig(cached_content=cache.name)
        )
    )
    assert chunks[-1].usage_metadata is not None
    assert chunks[-1].usage_metadata.cached_content_token_count == cached_tokens

    updated = client.caches.update(name=cache.name, config=types.UpdateCachedContentConfig(ttl="7200s"))
    assert updated.expire_time is not None and updated.update_time is not None
    assert (updated.expire_time - updated.update_time).total_seconds() == pytest.approx(7200, abs=1)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    moved = client.caches.update(name=cache.name, config=types.UpdateCachedContentConfig(expire_time=later))
    assert moved.expire_time is not None and abs((moved.expire_time - later).total_seconds()) < 1

    assert cache.name in [c.name for c in client.caches.list(config={"page_size": 1})]
    client.caches.delete(name=cache.name)
    with pytest.raises(errors.ClientError) as caught:
        client.caches.get(name=cache.name)
    assert caught.value.code == 403 and caught.value.message == NOT_FOUND
    with pytest.raises(errors.ClientError) as gone:
        client.models.generate_content(
            model=MODEL, contents="x", config=types.GenerateContentConfig(cached_content=cache.name)
        )
    assert gone.value.code == 403


def test_another_projects_cache_is_permission_denied(
    client: genai.Client, live_server: LiveServer, other_api_key: str
) -> None:
    cache = client.caches.create(model=MODEL, config={"contents": ["Remember the number 42."]})
    assert cache.name is not None
    with genai.Client(api_key=other_api_key, http_options={"base_url": live_server.url}) as other:
        for call in (
            lambda: other.caches.get(name=cache.name),
            lambda: other.caches.delete(name=cache.name),
            lambda: other.caches.update(name=cache.name, config={"ttl": "60s"}),
            lambda: other.models.generate_content(
                model=MODEL, contents="x", config={"cached_content": cache.name}
            ),
        ):
            with pytest.raises(errors.ClientError) as caught:
                call()
            assert caught.value.code == 403 and caught.value.message == NOT_FOUND
        assert list(other.caches.list()) == []
    client.caches.delete(name=cache.name)


def test_a_cache_of_another_projects_file_is_refused(
    client: genai.Client, live_server: LiveServer, other_api_key: str
) -> None:
    with genai.Client(api_key=other_api_key, http_options={"base_url": live_server.url}) as other:
        theirs = upload_transcript(other)
    with pytest.raises(errors.ClientError) as caught:
        client.caches.create(model=MODEL, config={"contents": [theirs]})
    assert caught.value.code == 403 and caught.value.status == "PERMISSION_DENIED"


async def test_async_client_creates_uses_and_deletes_a_cache(aclient: genai.client.AsyncClient) -> None:
    document = await aclient.files.upload(file=io.BytesIO(TRANSCRIPT), config={"mime_type": "text/plain"})
    cache = await aclient.caches.create(model=MODEL, config={"contents": [document], "ttl": "600s"})
    assert cache.name is not None and cache.usage_metadata is not None
    response = await aclient.models.generate_content(
        model=MODEL, contents="What happened?", config={"cached_content": cache.name}
    )
    assert response.usage_metadata is not None
    assert response.usage_metadata.cached_content_token_count == cache.usage_metadata.total_token_count
    names = [c.name async for c in await aclient.caches.list()]
    assert names == [cache.name]
    updated = await aclient.caches.update(name=cache.name, config={"ttl": "60s"})
    assert updated.expire_time is not None and cache.expire_time is not None
    assert updated.expire_time < cache.expire_time
    await aclient.caches.delete(name=cache.name)
    assert [c.name async for c in await aclient.caches.list()] == []
