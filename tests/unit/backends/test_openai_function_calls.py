"""The openai backend with tools and response formats: the request body it sends (validated against the
``openai`` package's request types) and the function calls it reads back, whole and as streamed deltas."""

from __future__ import annotations

import json
from typing import Any

from gemfiles.domain.calls import (
    Finished,
    FunctionCall,
    FunctionCalled,
    FunctionCallingConfig,
    FunctionDeclaration,
    FunctionResponse,
    Message,
    ModelRequest,
    Part,
    ResponseFormat,
    TextDelta,
)
from tests.unit.backends.openai_types import validate_request
from tests.unit.backends.test_openai import answering, delta, events, sse

WEATHER = FunctionDeclaration(
    "get_weather",
    "The weather in a city.",
    parameters={"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]},
)


def tool_delta(index: int, *, id: str | None = None, name: str = "", arguments: str = "") -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"name": name, "arguments": arguments}}
    if id:
        call["id"] = id
        call["type"] = "function"
    return {
        "model": "up-1",
        "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}],
    }


def weather_request(**kwargs: Any) -> ModelRequest:
    return ModelRequest(
        "gemini-2.5-flash",
        [Message("user", [Part("text", text="Weather in Oslo?")])],
        tools=(WEATHER,),
        **kwargs,
    )


async def test_tools_and_mode_any_become_tools_and_a_forced_tool_choice() -> None:
    upstream = answering(sse(delta("ok"), delta(None, "stop")))
    await events(upstream.backend(), weather_request(tool_config=FunctionCallingConfig("ANY")))
    body = upstream.bodies[0]
    validate_request(body)
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert body["tools"][0]["function"]["parameters"]["properties"] == {"city": {"type": "string"}}
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


async def test_streamed_tool_call_deltas_become_one_function_call() -> None:
    upstream = answering(
        sse(
            tool_delta(0, id="call_1", name="get_weather", arguments='{"ci'),
            tool_delta(0, arguments='ty": "Oslo"}'),
            delta(None, "tool_calls"),
        )
    )
    answer = await events(upstream.backend(), weather_request())
    assert answer[0] == FunctionCalled(FunctionCall("get_weather", {"city": "Oslo"}, "call_1"))
    assert isinstance(answer[-1], Finished) and answer[-1].finish_reason == "STOP"


async def test_unary_answer_tool_calls_become_function_calls() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c9", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
        ],
    }
    reply = {"model": "up-1", "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
    upstream = answering(json.dumps(reply), content_type="application/json")
    answer = await events(upstream.backend(stream=False), weather_request())
    assert answer[0] == FunctionCalled(FunctionCall("get_weather", {}, "c9"))


async def test_function_turns_become_assistant_tool_calls_and_tool_messages() -> None:
    upstream = answering(sse(delta("21 degrees"), delta(None, "stop")))
    request = ModelRequest(
        "gemini-2.5-flash",
        [
            Message("user", [Part("text", text="Weather?")]),
            Message(
                "model",
                [Part("function_call", function_call=FunctionCall("get_weather", {"city": "Oslo"}, "c1"))],
            ),
            Message(
                "user",
                [
                    Part(
                        "function_response",
                        function_response=FunctionResponse("get_weather", {"t": 21}, "c1"),
                    )
                ],
            ),
        ],
        tools=(WEATHER,),
    )
    await events(upstream.backend(), request)
    body = upstream.bodies[0]
    validate_request(body)
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "tool"]
    assert body["messages"][1]["tool_calls"][0]["id"] == "c1"
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "c1", "content": '{"t":21}'}


async def test_response_schema_becomes_a_json_schema_response_format() -> None:
    upstream = answering(sse(delta('{"a":1}'), delta(None, "stop")))
    schema = {"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}}
    request = ModelRequest(
        "m",
        [Message("user", [Part("text", text="x")])],
        response_format=ResponseFormat("application/json", schema),
    )
    await events(upstream.backend(), request)
    body = upstream.bodies[0]
    validate_request(body)
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["properties"]["a"] == {"type": "integer"}


async def test_enum_answer_is_unquoted() -> None:
    upstream = answering(sse(delta('"gr'), delta('een"'), delta(None, "stop")))
    request = ModelRequest(
        "m",
        [Message("user", [Part("text", text="x")])],
        response_format=ResponseFormat("text/x.enum", {"type": "STRING", "enum": ["red", "green"]}),
    )
    answer = await events(upstream.backend(), request)
    assert [e.text for e in answer if isinstance(e, TextDelta)] == ["green"]


async def test_a_name_repeated_in_every_delta_is_taken_once() -> None:
    upstream = answering(
        sse(
            tool_delta(0, id="c1", name="get_weather", arguments='{"city":'),
            tool_delta(0, id="c1", name="get_weather", arguments=' "Oslo"}'),
            delta(None, "tool_calls"),
        )
    )
    answer = await events(upstream.backend(), weather_request())
    assert answer[0] == FunctionCalled(FunctionCall("get_weather", {"city": "Oslo"}, "c1"))
