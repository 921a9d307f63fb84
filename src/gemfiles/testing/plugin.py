"""The gemfiles pytest plugin (registered through the ``pytest11`` entry point; pytest loads it by itself).

* ``gemfiles_server`` (session): a ``gemfiles serve`` process on a free loopback port with a temporary data
  directory and the emulator controls on; or, with ``--gemfiles-url URL`` (or ``GEMFILES_TEST_URL``), a
  server already running there (it must have ``GEMFILES_EMULATOR_CONTROLS=true``).
* ``gemini`` (per test): a fresh API key, so a fresh project, with the Python and JS SDKs pointed at the
  server through ``GOOGLE_GEMINI_BASE_URL``, ``GEMINI_API_KEY`` and ``GOOGLE_API_KEY`` (set for the test,
  restored after it); a ``Project`` with ``script(rules)``, ``fault(kind, **fields)``, ``journal()``,
  ``advance(seconds)`` and ``reset()``.

Nothing starts unless a test asks for one of these fixtures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from gemfiles.testing.controls import Project
from gemfiles.testing.server import LiveServer

# Variables that would point an SDK elsewhere (Vertex AI, another endpoint): removed for the test.
_SDK_ELSEWHERE = ("GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_VERTEX_BASE_URL", "GOOGLE_CLOUD_PROJECT")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gemfiles", "gemfiles: an offline Gemini API for tests")
    group.addoption(
        "--gemfiles-url",
        default=None,
        help="use the gemfiles server at this URL (with emulator controls on) instead of starting one",
    )


class GeminiServer:
    """The session's server: its URL, and the ``LiveServer`` when the plugin started it."""

    def __init__(self, url: str, process: LiveServer | None) -> None:
        self.url = url
        self.process = process

    def project(self, api_key: str | None = None) -> Project:
        return Project(self.url, api_key)


@pytest.fixture(scope="session")
def gemfiles_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GeminiServer]:
    url = request.config.getoption("--gemfiles-url") or os.environ.get("GEMFILES_TEST_URL")
    if url:
        yield GeminiServer(url.rstrip("/"), None)
        return
    data_dir = tmp_path_factory.mktemp("gemfiles") / "data"
    with LiveServer(data_dir, {"GEMFILES_EMULATOR_CONTROLS": "true"}) as server:
        yield GeminiServer(server.url, server)


@pytest.fixture
def gemini(gemfiles_server: GeminiServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """A fresh project on the session's gemfiles server, with the SDKs pointed at it for this test."""
    project = gemfiles_server.project()
    for name in _SDK_ELSEWHERE:
        monkeypatch.delenv(name, raising=False)
    for name, value in project.env.items():
        monkeypatch.setenv(name, value)
    try:
        yield project
    finally:
        project.close()
