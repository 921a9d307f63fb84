"""The routing table: built once from settings through the backend catalog; a bad table fails at once."""

from __future__ import annotations

import pytest

from gemfiles.backends.options import OpenAIOptions
from gemfiles.backends.registry import BackendCatalog
from gemfiles.domain.ports import BackendFactory
from gemfiles.domain.routing import ModelRouter
from gemfiles.protocol.sse import EventIds, sse_data, sse_event


def test_backend_catalog_is_the_domains_backend_factory() -> None:
    assert isinstance(BackendCatalog(OpenAIOptions()), BackendFactory)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "GEMFILES_MODELS is empty"),
        ({"": "inspect"}, "invalid model pattern"),
        ({"*": "gemini"}, "unknown backend 'gemini'"),
        ({"gpt-*": "openai"}, "GEMFILES_OPENAI_BASE_URL is not set"),
    ],
)
def test_build_router_refuses_a_bad_table(table: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelRouter.build(table, BackendCatalog(OpenAIOptions()))


def test_build_router_creates_each_backend_once_and_lists_their_own_models() -> None:
    catalog = BackendCatalog(OpenAIOptions(base_url="http://127.0.0.1:9/v1", model="qwen"))
    router = ModelRouter.build({"gpt-*": "openai", "qwen": "openai", "*": "inspect"}, catalog)
    assert set(router.backends) == {"openai", "inspect"}
    assert router.route("gpt-4o").backend is router.route("qwen").backend  # type: ignore[union-attr]
    assert router.listed() == [("qwen", "openai"), ("inspect", "inspect")]


def test_sse_frames_are_exact() -> None:
    assert sse_data({"a": 1}) == b'data: {"a":1}\n\n'
    assert sse_event("step.stop", {"index": 0}) == b'event: step.stop\ndata: {"index":0}\n\n'
    emit = EventIds()
    emit("a", {})
    assert emit("b", {"x": 1}) == b'event: b\ndata: {"event_type":"b","x":1,"event_id":"evt_2"}\n\n'
