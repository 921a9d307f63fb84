"""Gemini function calling and structured output in chat-completions terms, checked against the OpenAI
API's own request types."""

from __future__ import annotations

from typing import Any

import pytest

from gemfiles.backends.openai_tools import (
    ToolCallStream,
    enum_answer,
    function_messages,
    response_format_param,
    tool_params,
)
from gemfiles.domain.calls import (
    FunctionCall,
    FunctionCallingConfig,
    FunctionDeclaration,
    FunctionResponse,
    Message,
    ModelRequest,
    Part,
    ResponseFormat,
)
from gemfiles.errors import BadGateway

from .openai_types import validate_request

WEATHER = FunctionDeclaration(
    "get_weather",
    "The weather in a city.",
    parameters={"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]},
)
TIME = FunctionDeclaration("get_time", parameters_json_schema={"type": "object", "properties": {}})


def request(
    mode: str = "AUTO",
    allowed: tuple[str, ...] = (),
    tools: tuple[FunctionDeclaration, ...] = (WEATHER, TIME),
) -> ModelRequest:
    return ModelRequest(
        "m",
        [Message("user", [Part("text", text="hi")])],
        tools=tools,
        tool_config=FunctionCallingConfig(mode, allowed),  # type: ignore[arg-type]
    )


def body(messages: list[dict[str, Any]] | None = None, **params: Any) -> dict[str, Any]:
    return validate_request(
        {"model": "m", "messages": messages or [{"role": "user", "content": "hi"}], **params}
    )


def test_tools_declared_as_functions_with_json_schema_parameters() -> None:
    params = tool_params(request())
    body(**params)
    assert params["tool_choice"] == "auto"
    assert params["tools"][0] == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    assert "description" not in params["tools"][1]["function"]


@pytest.mark.parametrize(
    ("mode", "allowed", "choice", "names"),
    [
        ("VALIDATED", (), "auto", ["get_weather", "get_time"]),
        ("NONE", (), "none", ["get_weather", "get_time"]),
        ("ANY", (), "required", ["get_weather", "get_time"]),
        ("ANY", ("get_time",), {"type": "function", "function": {"name": "get_time"}}, ["get_time"]),
        ("ANY", ("get_time", "get_weather"), "required", ["get_weather", "get_time"]),
    ],
)
def test_tool_choice_follows_the_function_calling_mode(
    mode: str, allowed: tuple[str, ...], choice: Any, names: list[str]
) -> None:
    params = tool_params(request(mode, allowed))
    body(**params)
    assert params["tool_choice"] == choice
    assert [t["function"]["name"] for t in params["tools"]] == names


def test_no_tools_no_tool_params() -> None:
    assert tool_params(request(tools=())) == {}


def test_response_format_for_schemas_json_and_enum() -> None:
    google = response_format_param(
        ResponseFormat(
            "application/json", schema={"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}}
        )
    )
    assert google == {
        "type": "json_schema",
        "json_schema": {
            "name": "response",
            "schema": {"type": "object", "properties": {"a": {"type": "integer"}}},
        },
    }
    assert response_format_param(ResponseFormat("application/json")) == {"type": "json_object"}
    enum = response_format_param(ResponseFormat("text/x.enum", schema={"type": "STRING", "enum": ["a", "b"]}))
    assert enum == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": {"type": "string", "enum": ["a", "b"]}},
    }
    assert response_format_param(ResponseFormat()) is None
    for fmt in (google, enum, {"type": "json_object"}):
        body(response_format=fmt)


def test_enum_answer_unquotes_a_json_string() -> None:
    assert enum_answer('"red"') == "red"
    assert enum_answer(" red\n") == "red"
    assert enum_answer("3") == "3"


def test_function_turns_become_assistant_tool_calls_and_tool_messages() -> None:
    messages = [
        Message("user", [Part("text", text="Weather and time?")]),
        Message(
            "model",
            [
                Part("text", text="Checking."),
                Part("function_call", function_call=FunctionCall("get_weather", {"city": "Oslo"}, "w1")),
                Part("function_call", function_call=FunctionCall("get_time", {})),
            ],
        ),
        Message(
            "user",
            [
                Part("function_response", function_response=FunctionResponse("get_time", {"t": "12:00"})),
                Part("function_response", function_response=FunctionResponse("get_weather", {"c": 21}, "w1")),
            ],
        ),
    ]
    converted = function_messages(messages)
    assert set(converted) == {1, 2}
    assert converted[1] == [
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "w1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                },
                {"id": "call_1_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            ],
        }
    ]
    assert converted[2] == [
        {"role": "tool", "tool_call_id": "call_1_1", "content": '{"t":"12:00"}'},
        {"role": "tool", "tool_call_id": "w1", "content": '{"c":21}'},
    ]
    body([{"role": "user", "content": "Weather and time?"}, *converted[1], *converted[2]])


def test_assistant_turn_with_calls_only_has_null_content() -> None:
    converted = function_messages(
        [Message("model", [Part("function_call", function_call=FunctionCall("f", {}, "x"))])]
    )
    assert converted[0][0]["content"] is None
    body(
        [
            {"role": "user", "content": "go"},
            *converted[0],
            {"role": "tool", "tool_call_id": "x", "content": "{}"},
        ]
    )


def test_tool_call_stream_joins_deltas_by_index() -> None:
    stream = ToolCallStream()
    stream.feed(
        [{"index": 0, "id": "c0", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]
    )
    stream.feed([{"index": 0, "function": {"arguments": '{"city": "Os'}}])
    stream.feed(
        [
            {"index": 1, "id": "c1", "function": {"name": "get_time", "arguments": ""}},
            {"index": 0, "function": {"arguments": 'lo"}'}},
        ]
    )
    assert stream.calls() == [
        FunctionCall("get_weather", {"city": "Oslo"}, "c0"),
        FunctionCall("get_time", {}, "c1"),
    ]


def test_tool_call_stream_takes_a_whole_message() -> None:
    stream = ToolCallStream()
    stream.feed([{"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}])
    assert stream.calls() == [FunctionCall("f", {"x": 1}, "a")]


@pytest.mark.parametrize(
    ("delta", "message"),
    [
        ({"function": {"name": "f", "arguments": "{oops"}}, "not JSON"),
        ({"function": {"name": "f", "arguments": "[1]"}}, "not an object"),
        ({"function": {"arguments": "{}"}}, "without a function name"),
    ],
)
def test_tool_call_stream_refuses_bad_upstream_calls(delta: dict[str, Any], message: str) -> None:
    stream = ToolCallStream()
    stream.feed([delta])
    with pytest.raises(BadGateway, match=message):
        stream.calls()
