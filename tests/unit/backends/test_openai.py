"""The openai backend's request and answer handling, over httpx's in-process transport (no sockets).

What a real OpenAI-compatible server does with these requests is in tests/e2e/test_openai_backend.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gemfiles.backends.openai import OpenAIBackend, generation_params
from gemfiles.backends.registry import openai_backend
from gemfiles.domain.calls import (
    Finished,
    InlineData,
    Message,
    ModelRequest,
    OutputEvent,
    Part,
    TextDelta,
)
from gemfiles.domain.ports import ModelBackend
from gemfiles.errors import BadGateway, DeadlineExceeded, Unavailable
from gemfiles.settings import Settings
from tests.unit.backends import media
from tests.unit.backends.conftest import StoreFile
from tests.unit.backends.openai_types import validate_request


def sse(*chunks: dict[str, Any], done: bool = True) -> str:
    lines = [f"data: {json.dumps(c)}\n\n" for c in chunks]
    return ": keep-alive\n\n" + "".join(lines) + ("data: [DONE]\n\n" if done else "")


def delta(text: str | None = None, finish: str | None = None) -> dict[str, Any]:
    return {"model": "up-1", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


class Upstream:
    """Answers every request with ``reply``; keeps each request body it got."""

    def __init__(self, reply: Callable[[httpx.Request], httpx.Response]) -> None:
        self.reply = reply
        self.requests: list[httpx.Request] = []
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.bodies.append(json.loads(request.read()))
        return self.reply(request)

    def backend(self, **kwargs: Any) -> OpenAIBackend:
        kwargs.setdefault("api_key", "sk-test")
        kwargs.setdefault("model", "tiny")
        return OpenAIBackend("http://upstream.test/v1/", transport=httpx.MockTransport(self), **kwargs)


def answering(text: str, status: int = 200, content_type: str = "text/event-stream") -> Upstream:
    return Upstream(lambda request: httpx.Response(status, text=text, headers={"content-type": content_type}))


def ask(*parts: Part, **kwargs: Any) -> ModelRequest:
    return ModelRequest("gemini-2.5-flash", [Message("user", list(parts))], **kwargs)


async def events(backend: OpenAIBackend, request: ModelRequest) -> list[OutputEvent]:
    try:
        return [event async for event in backend.generate(request)]
    finally:
        await backend.close()


async def test_generate_streams_deltas_then_upstream_usage() -> None:
    upstream = answering(
        sse(
            delta("Hel"),
            delta("lo"),
            delta(None, "length"),
            {"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}},
        )
    )
    got = await events(upstream.backend(), ask(Part("text", text="Say hello")))
    assert got[:2] == [TextDelta("Hel"), TextDelta("lo")]
    finished = got[2]
    assert isinstance(finished, Finished) and len(got) == 3
    assert (finished.usage.input_tokens, finished.usage.output_tokens) == (11, 2)
    assert finished.finish_reason == "MAX_TOKENS" and finished.model_version == "up-1"
    request = upstream.requests[0]
    assert str(request.url) == "http://upstream.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["content-length"] == str(len(request.content))
    assert "transfer-encoding" not in request.headers
    body = validate_request(upstream.bodies[0])
    assert body["messages"] == [{"role": "user", "content": "Say hello"}]
    assert body["stream_options"] == {"include_usage": True}


async def test_generate_estimates_usage_when_the_server_reports_none() -> None:
    upstream = answering(sse(delta("abcdefghij"), delta(None, "stop")))
    got = await events(upstream.backend(), ask(Part("text", text="x" * 40)))
    finished = got[-1]
    assert isinstance(finished, Finished)
    assert (finished.usage.input_tokens, finished.usage.output_tokens) == (10, 3)


async def test_generate_maps_roles_system_instruction_generation_config_and_model() -> None:
    upstream = answering(sse(delta("ok", "stop")))
    request = ModelRequest(
        "my-model",
        [
            Message("user", [Part("text", text="Hi")]),
            Message("model", [Part("text", text="Hello")]),
            Message("user", [Part("text", text="Bye"), Part("text", text="now")]),
        ],
        system_instruction="Be brief",
        generation_config={"temperature": 0.2, "max_output_tokens": 7, "stop_sequences": ["\n"], "top_k": 3},
    )
    await events(upstream.backend(model=None), request)
    body = validate_request(upstream.bodies[0])
    assert body["model"] == "my-model"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Bye\n\nnow"},
    ]
    assert (body["temperature"], body["max_tokens"], body["stop"]) == (0.2, 7, ["\n"])
    assert "top_k" not in body  # not an OpenAI parameter: OpenAI itself refuses it


def test_generation_params_take_camel_case_and_json_modes() -> None:
    assert generation_params({"topP": 0.5, "maxOutputTokens": 3, "responseMimeType": "application/json"}) == {
        "top_p": 0.5,
        "max_tokens": 3,
        "response_format": {"type": "json_object"},
    }
    schema = {"type": "object"}
    assert generation_params({"response_json_schema": schema})["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema},
    }


async def test_generate_with_files_sends_parts_the_openai_types_accept(
    tmp_path: Path, store_file: StoreFile
) -> None:
    upstream = answering(sse(delta("ok", "stop")))
    image = await store_file(media.write_image(tmp_path / "a.png", "PNG"), "image/png")
    audio = await store_file(media.write_audio(tmp_path / "a.flac", 1.0, codec="flac"), "audio/flac")
    request = ask(
        Part("file", file=image),
        Part("text", text="and"),
        Part("file", file=audio),
        Part("inline", inline=InlineData("text/plain", b"inline words")),
    )
    await events(upstream.backend(), request)
    body = validate_request(upstream.bodies[0])
    kinds = [part["type"] for part in body["messages"][0]["content"]]
    assert kinds == ["image_url", "text", "input_audio", "text"]


async def test_generate_without_streaming_sends_stream_false() -> None:
    answer = {
        "model": "up-1",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "whole"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 1},
    }
    upstream = answering(json.dumps(answer), content_type="application/json")
    got = await events(upstream.backend(stream=False), ask(Part("text", text="Hi")))
    assert got[0] == TextDelta("whole")
    assert isinstance(got[1], Finished) and got[1].usage.input_tokens == 4
    body = validate_request(upstream.bodies[0])
    assert body["stream"] is False and "stream_options" not in body


@pytest.mark.parametrize(("status", "reply", "message"), [
    (400, {"error": {"message": "max_tokens is too large", "type": "invalid_request_error"}},
     "The model server answered 400: max_tokens is too large"),
    (404, {"detail": "Model not found"}, "The model server answered 404: Model not found"),
    (500, "upstream exploded", "The model server answered 500: upstream exploded"),
])  # fmt: skip
async def test_generate_upstream_error_status_is_bad_gateway_with_its_message(
    status: int, reply: Any, message: str
) -> None:
    text = reply if isinstance(reply, str) else json.dumps(reply)
    upstream = answering(text, status=status, content_type="application/json")
    with pytest.raises(BadGateway) as caught:
        await events(upstream.backend(), ask(Part("text", text="Hi")))
    assert caught.value.message == message
    assert (caught.value.code, caught.value.status) == (502, "UNAVAILABLE")


async def test_generate_error_event_in_the_stream_is_bad_gateway() -> None:
    upstream = answering(sse(delta("par"), {"error": {"message": "out of memory"}}))
    received: list[OutputEvent] = []
    with pytest.raises(BadGateway, match="The model server failed: out of memory"):
        async for event in upstream.backend().generate(ask(Part("text", text="Hi"))):
            received.append(event)
    assert received == [TextDelta("par")]


async def test_generate_stream_closed_before_finishing_is_bad_gateway() -> None:
    upstream = answering(sse(delta("half"), done=False))
    with pytest.raises(BadGateway, match="ended its answer unfinished"):
        await events(upstream.backend(), ask(Part("text", text="Hi")))


async def test_generate_counts_streamed_chunks_as_output_tokens_without_usage() -> None:
    upstream = answering(sse(delta(""), delta("a"), delta(""), delta("b"), delta(None, "length")))
    finished = (await events(upstream.backend(), ask(Part("text", text="Hi"))))[-1]
    assert isinstance(finished, Finished) and finished.usage.output_tokens == 4


async def test_generate_answer_that_is_not_json_is_bad_gateway() -> None:
    with pytest.raises(BadGateway, match="not JSON"):
        await events(answering("data: <html>\n\n").backend(), ask(Part("text", text="Hi")))


@pytest.mark.parametrize(("error", "kind", "code"), [
    (httpx.ConnectError("[Errno 111] Connection refused"), Unavailable, 503),
    (httpx.ConnectTimeout("timed out"), Unavailable, 503),
    (httpx.ReadTimeout("timed out"), DeadlineExceeded, 504),
    (httpx.RemoteProtocolError("peer closed connection"), Unavailable, 503),
    (httpx.ReadError("connection reset"), Unavailable, 503),
])  # fmt: skip
async def test_generate_transport_failures_map_to_google_errors(
    error: Exception, kind: type, code: int
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    with pytest.raises(kind) as caught:
        await events(Upstream(fail).backend(timeout=3), ask(Part("text", text="Hi")))
    assert caught.value.code == code


async def test_count_tokens_estimates_without_calling_the_server(
    tmp_path: Path, store_file: StoreFile
) -> None:
    upstream = answering("")
    pdf = await store_file(media.write_pdf(tmp_path / "d.pdf", 3), "application/pdf")
    usage = await upstream.backend().count_tokens(ask(Part("text", text="x" * 8), Part("file", file=pdf)))
    assert (usage.input_tokens, usage.output_tokens) == (2 + 3 * 258, 0)
    assert {(m.modality, m.tokens) for m in usage.input_by_modality} == {("TEXT", 2), ("DOCUMENT", 774)}
    assert upstream.requests == []


def test_from_settings_reads_the_openai_settings() -> None:
    settings = Settings(
        openai_base_url="http://127.0.0.1:9/v1", openai_api_key="k", openai_model="m", openai_timeout="7s"
    )
    backend = openai_backend(settings.openai_options())
    assert isinstance(backend, ModelBackend)
    assert (backend.base_url, backend.api_key, backend.model, backend.timeout) == (
        "http://127.0.0.1:9/v1",
        "k",
        "m",
        7,
    )


def test_from_settings_gives_decoding_children_the_probes_limits() -> None:
    settings = Settings(
        openai_base_url="http://127.0.0.1:9/v1", probe_timeout_seconds=42, child_memory_mib=999
    )
    backend = openai_backend(settings.openai_options())
    assert isinstance(backend, OpenAIBackend)
    assert (backend.options.decode_timeout, backend.options.decode_memory_mib) == (42, 999)


def test_from_settings_works_with_only_a_base_url() -> None:
    backend = openai_backend(
        Settings(openai_base_url="http://h/v1", openai_timeout=timedelta(1)).openai_options()
    )
    assert (backend.api_key, backend.model, backend.timeout, backend.options.max_frames) == (
        None,
        None,
        86400,
        32,
    )
    with pytest.raises(ValueError, match="GEMFILES_OPENAI_BASE_URL"):
        openai_backend(Settings().openai_options())
