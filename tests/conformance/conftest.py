"""Conformance fixtures: the official SDK clients and a raw HTTP client, all pointed at the live server."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from google import genai

from tests.support import LiveServer

# Three 8 MiB chunks on the wire: 8388608 + 8388608 + 3222784 (WIRE.md 5.2).
TWENTY_MB = 20_000_000


@pytest.fixture(scope="session")
def twenty_mb() -> bytes:
    """20 MB of incompressible, reproducible bytes."""
    return random.Random(20).randbytes(TWENTY_MB)


@pytest.fixture
def other_api_key() -> str:
    """A second key, i.e. a second project in the default open auth mode."""
    return f"test-other-{uuid.uuid4().hex}"


@pytest.fixture
def client(live_server: LiveServer, api_key: str) -> Iterator[genai.Client]:
    """The sync Python client exactly as a user configures it for a self-hosted base URL."""
    with genai.Client(api_key=api_key, http_options={"base_url": live_server.url}) as sdk:
        yield sdk


@pytest.fixture
async def aclient(live_server: LiveServer, api_key: str) -> AsyncIterator[genai.client.AsyncClient]:
    """The async Python client (``client.aio``), closed on the test's own event loop."""
    sdk = genai.Client(api_key=api_key, http_options={"base_url": live_server.url})
    try:
        yield sdk.aio
    finally:
        await sdk.aio.aclose()
        sdk.close()


@pytest.fixture
def http(live_server: LiveServer, api_key: str) -> Iterator[httpx.Client]:
    """Raw HTTP with the same key as ``client``, for checks the SDK's parsing would hide."""
    with httpx.Client(base_url=live_server.url, headers={"x-goog-api-key": api_key}, timeout=30) as raw:
        yield raw
