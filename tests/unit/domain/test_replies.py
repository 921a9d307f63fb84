"""The deterministic model's structured replies: JSON, enum values, function calls, results."""

from __future__ import annotations

import json

import jsonschema
import pytest

from gemfiles.domain.calls import (
    Finished,
    FunctionCall,
    FunctionCalled,
    OutputEvent,
    ResponseFormat,
    TextDelta,
)
from gemfiles.domain.replies import Reply, reply_events, request_seed, structured_reply
from gemfiles.domain.schemas import SchemaError
from gemfiles.domain.tokens import count_request, text_tokens

from .requests import TIME, WEATHER, after_call, pdf_part, request, text

INVOICE = {
    "type": "OBJECT",
    "properties": {
        "document": {"type": "STRING"},
        "total": {"type": "NUMBER", "minimum": 0},
        "lines": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": "1"},
    },
    "required": ["document", "total"],
}


async def collect(events: object) -> list[OutputEvent]:
    return [event async for event in events]  # type: ignore[attr-defined]


def test_reply_none_for_a_plain_request() -> None:
    assert structured_reply(request(text("hi"))) is None
    assert (
        structured_reply(request(text("hi"), tools=(WEATHER,))) is None
    )  # AUTO: no call unless a rule says so


def test_reply_json_valid_for_response_schema_carrying_the_file_name() -> None:
    req = request(text("Summarise"), pdf_part(), response=ResponseFormat("application/json", schema=INVOICE))
    reply = structured_reply(req)
    assert reply is not None and not reply.calls
    value = json.loads(reply.text)
    jsonschema.validate(value, {**INVOICE, "type": "object", "properties": {"document": {"type": "string"}}})
    assert value["document"] == "invoice-2026.pdf"
    assert value["total"] >= 0 and len(value["lines"]) >= 1


def test_reply_json_same_for_the_same_request_and_changes_with_it() -> None:
    fmt = ResponseFormat(
        "application/json",
        json_schema={"type": "object", "properties": {"n": {"type": "integer"}, "s": {"type": "string"}}},
    )
    first = structured_reply(request(text("one"), response=fmt))
    assert structured_reply(request(text("one"), response=fmt)) == first
    assert {structured_reply(request(text(f"other {i}"), response=fmt)) for i in range(4)} - {first}


def test_reply_json_without_schema_is_an_object_naming_model_and_text() -> None:
    reply = structured_reply(request(text("hello"), response=ResponseFormat("application/json")))
    assert reply is not None and json.loads(reply.text) == {"model": "gemini-2.5-flash", "text": "hello"}


def test_reply_enum_value_for_text_x_enum() -> None:
    fmt = ResponseFormat(
        "text/x.enum", schema={"type": "STRING", "format": "enum", "enum": ["red", "green", "blue"]}
    )
    reply = structured_reply(request(text("Which colour?"), response=fmt))
    assert reply is not None and reply.text in ("red", "green", "blue")
    assert structured_reply(request(text("green"), response=fmt)) == Reply(text="green")


def test_reply_function_call_under_any_with_valid_args_and_an_id() -> None:
    reply = structured_reply(request(text("Weather in Oslo?"), tools=(WEATHER, TIME), mode="ANY"))
    assert reply is not None and reply.text == "" and len(reply.calls) == 1
    call = reply.calls[0]
    declared = {d.name: d for d in (WEATHER, TIME)}[call.name]
    jsonschema.Draft202012Validator(
        declared.json_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(call.args)
    assert call.id and call.id.startswith("call-")


def test_reply_calls_the_function_named_in_the_prompt() -> None:
    reply = structured_reply(request(text("please use get_time"), tools=(WEATHER, TIME), mode="ANY"))
    assert reply is not None and reply.calls[0].name == "get_time"


def test_reply_calls_only_allowed_functions() -> None:
    for n in range(6):
        req = request(text(f"go {n}"), tools=(WEATHER, TIME), mode="ANY", allowed=("get_weather",))
        reply = structured_reply(req)
        assert reply is not None and reply.calls[0].name == "get_weather"


def test_reply_never_calls_under_none_even_when_forced() -> None:
    assert structured_reply(request(text("x"), tools=(WEATHER,), mode="NONE"), force_call=True) is None


def test_reply_call_under_auto_when_forced_by_a_rule() -> None:
    reply = structured_reply(request(text("x"), tools=(WEATHER,), mode="AUTO"), force_call=True)
    assert reply is not None and reply.calls[0].name == "get_weather"


def test_reply_text_using_the_function_response_after_a_call() -> None:
    call = FunctionCall("get_weather", {"city": "Oslo", "unit": "celsius"}, id="call-1")
    reply = structured_reply(
        after_call(call, {"temperature": 21, "sky": "clear"}, tools=(WEATHER,), mode="ANY")
    )
    assert reply == Reply(text='get_weather returned {"temperature":21,"sky":"clear"}.')


def test_reply_json_after_a_call_carries_the_result_in_a_string() -> None:
    call = FunctionCall("get_weather", {"city": "Oslo"}, id="call-1")
    fmt = ResponseFormat(
        "application/json",
        json_schema={"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
    )
    reply = structured_reply(after_call(call, {"t": 3}, tools=(WEATHER,), response=fmt))
    assert reply is not None and json.loads(reply.text) == {"answer": 'get_weather returned {"t":3}'}


def test_reply_refuses_an_unsatisfiable_schema() -> None:
    fmt = ResponseFormat("application/json", json_schema={"type": "integer", "minimum": 3, "maximum": 1})
    with pytest.raises(SchemaError):
        structured_reply(request(text("x"), response=fmt))


def test_request_seed_depends_on_the_file_content() -> None:
    assert request_seed(request(pdf_part(sha="aa" * 32))) != request_seed(request(pdf_part(sha="bb" * 32)))


async def test_reply_events_stream_text_then_calls_with_consistent_usage() -> None:
    req = request(text("Weather?"), tools=(WEATHER,), mode="ANY")
    reply = structured_reply(req)
    assert reply is not None
    events = await collect(reply_events(req, reply))
    assert isinstance(events[0], FunctionCalled) and isinstance(events[-1], Finished)
    usage = events[-1].usage
    assert usage.input_tokens == count_request(req).input_tokens
    call = reply.calls[0]
    assert usage.output_tokens == text_tokens(call.name + json.dumps(call.args, separators=(",", ":")))


async def test_reply_events_split_long_json_into_deltas() -> None:
    req = request(
        text("x" * 100), response=ResponseFormat("application/json", json_schema={"type": "string"})
    )
    reply = structured_reply(req)
    assert reply is not None
    events = await collect(reply_events(req, reply))
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1 and "".join(deltas) == reply.text
    assert events[-1].usage.output_tokens == text_tokens(reply.text)  # type: ignore[union-attr]
