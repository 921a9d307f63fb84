"""Shared fixtures: live servers on loopback, unique API keys (one project each)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import LiveServer


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One shared server for tests that isolate themselves with their own API key (= own project)."""
    data_dir = tmp_path_factory.mktemp("shared-server") / "data"
    server = LiveServer(data_dir, {"GEMFILES_EMULATOR_CONTROLS": "true"})
    with server:
        yield server


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Starts servers with their own settings: ``server_factory(GEMFILES_FILE_TTL="1h")``."""
    started: list[LiveServer] = []

    def make(data_dir: Path | None = None, **env: str) -> LiveServer:
        server = LiveServer(data_dir or tmp_path / f"data{len(started)}", env)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def api_key() -> str:
    """A fresh key: in the default open auth mode, a fresh project."""
    return f"test-{uuid.uuid4().hex}"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("torture", "reliability harness (tests/torture, docs/reliability.md)")
    group.addoption(
        "--torture-seed",
        type=int,
        default=None,
        help="seed of the torture runs' random choices (default: GEMFILES_TORTURE_SEED, else random)",
    )
    group.addoption(
        "--torture-mode",
        choices=["quick", "long"],
        default=None,
        help="quick (make test) or long (make torture, make soak); default: GEMFILES_TORTURE_MODE or quick",
    )
    group.addoption(
        "--soak-minutes", type=float, default=None, help="soak duration (default 1 quick, 30 long)"
    )
