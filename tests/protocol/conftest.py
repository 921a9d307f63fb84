"""Fixtures for the protocol tests: raw httpx clients on live servers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support import LiveServer


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        yield http


@pytest.fixture
def new_key() -> Callable[[], str]:
    """More fresh keys (projects) when a test needs several."""
    return lambda: f"test-{uuid.uuid4().hex}"
