"""The per-project rule registry, its counters, and the playing of scripted answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import jsonschema
import pytest

from gemfiles.domain.calls import (
    Finished,
    FunctionCalled,
    ModelRequest,
    OutputEvent,
    ResponseFormat,
    TextDelta,
)
from gemfiles.domain.replies import reply_events, structured_reply
from gemfiles.domain.script import parse_rules
from gemfiles.domain.scriptbook import Matched, ScriptBook, StreamCut, play
from gemfiles.domain.tokens import count_request
from gemfiles.errors import ApiError, InvalidArgument

from .requests import TIME, WEATHER, request, text


class Sleeps:
    """Records the delays asked for instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def book_of(*rules: dict, startup: tuple[dict, ...] = ()) -> ScriptBook:
    book = ScriptBook(parse_rules(list(startup)))
    book.set_rules("p1", parse_rules(list(rules)))
    return book


def fallback_for(req: ModelRequest):  # type: ignore[no-untyped-def]
    def events() -> AsyncIterator[OutputEvent]:
        reply = structured_reply(req) or structured_reply(req, force_call=True)
        assert reply is not None
        return reply_events(req, reply)

    return events


async def played(matched: Matched, req: ModelRequest, sleep: Sleeps | None = None) -> list[OutputEvent]:
    return [e async for e in play(matched, req, fallback_for(req), sleep or Sleeps())]


def test_match_none_when_no_rule_holds() -> None:
    book = book_of({"match": {"text": "weather"}, "answer": {"text": "sunny"}})
    assert book.match("p1", request(text("hello"))) is None


def test_match_first_answering_rule_in_order_project_rules_before_startup() -> None:
    book = book_of(
        {"name": "a", "match": {"text": "x"}, "answer": {"text": "A"}},
        {"name": "b", "answer": {"text": "B"}},
        startup=({"name": "s", "answer": {"text": "S"}},),
    )
    matched = book.match("p1", request(text("x")))
    assert matched is not None and matched.rule.name == "a" and matched.label == "rule 0 ('a')"
    assert book.counts("p1") == {"rule 0 ('a')": 1, "rule 1 ('b')": 0, "script rule 0 ('s')": 0}
    other = book.match("p2", request(text("x")))  # another project sees only the start-up rules
    assert other is not None and other.rule.name == "s" and other.label == "script rule 0 ('s')"


def test_match_nth_call_counts_per_project() -> None:
    book = book_of(startup=({"nth": 2, "answer": {"text": "second"}},))
    assert book.match("p1", request(text("x"))) is None
    assert book.match("p2", request(text("x"))) is None
    matched = book.match("p1", request(text("x")))
    assert matched is not None and matched.call == 2
    assert book.match("p1", request(text("x"))) is None


def test_match_times_then_falls_through_to_later_rules() -> None:
    book = book_of(
        {"name": "busy", "times": 2, "answer": {"error": {"code": 429}}},
        {"name": "ok", "answer": {"text": "fine"}},
    )
    names = [book.match("p1", request(text("x"))).rule.name for _ in range(3)]  # type: ignore[union-attr]
    assert names == ["busy", "busy", "ok"]


def test_set_rules_replaces_and_restarts_counters_add_rules_appends() -> None:
    book = book_of({"times": 1, "answer": {"text": "once"}})
    assert book.match("p1", request(text("x"))) is not None
    assert book.match("p1", request(text("x"))) is None
    book.set_rules("p1", parse_rules([{"times": 1, "answer": {"text": "again"}}]))
    assert book.match("p1", request(text("x"))).answer.text == "again"  # type: ignore[union-attr]
    book.add_rules("p1", parse_rules([{"name": "more", "answer": {"text": "more"}}]))
    assert [r.name for r in book.rules("p1")] == [None, "more"]
    assert book.match("p1", request(text("x"))).label == "rule 1 ('more')"  # type: ignore[union-attr]


def test_reset_drops_project_rules_and_counters_only() -> None:
    book = book_of({"answer": {"text": "p1"}}, startup=({"nth": 1, "answer": {"text": "s"}},))
    book.set_rules("p2", parse_rules([{"answer": {"text": "p2"}}]))
    book.match("p1", request(text("x")))
    book.reset("p1")
    assert book.rules("p1") == [] and book.rules("p2") != []
    matched = book.match("p1", request(text("x")))
    assert matched is not None and matched.answer.text == "s"  # the start-up rule counts from 1 again


async def test_play_text_in_chunks_with_delays_and_usage() -> None:
    book = book_of(
        {
            "answer": {
                "text": "Hello, world!",
                "chunks": [2, 3],
                "chunk_size": 4,
                "chunk_delay": 0.5,
                "delay": 2,
            }
        }
    )
    req = request(text("hi"))
    sleeps = Sleeps()
    events = await played(book.match("p1", req), req, sleeps)  # type: ignore[arg-type]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["He", "llo", ", wo", "rld!"]
    assert sleeps.delays == [2, 0.5, 0.5, 0.5]
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.usage.output_tokens == 4
    assert finished.usage.input_tokens == count_request(req).input_tokens


async def test_play_json_value_as_compact_text() -> None:
    book = book_of({"answer": {"json": {"a": [1, 2]}, "finish_reason": "MAX_TOKENS"}})
    req = request(text("hi"))
    events = await played(book.match("p1", req), req)  # type: ignore[arg-type]
    assert events[0] == TextDelta('{"a":[1,2]}')
    assert isinstance(events[-1], Finished) and events[-1].finish_reason == "MAX_TOKENS"


async def test_play_error_with_status_retry_info_and_retry_after() -> None:
    book = book_of({"answer": {"delay": 1, "error": {"code": 429, "retry_delay": 2.5, "retry_after": 3}}})
    req = request(text("hi"))
    sleeps = Sleeps()
    with pytest.raises(ApiError) as caught:
        await played(book.match("p1", req), req, sleeps)  # type: ignore[arg-type]
    error = caught.value
    assert sleeps.delays == [1]
    assert error.body() == {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}],
        }
    }
    assert error.headers == {"Retry-After": "3"}


async def test_play_error_keeps_given_status_message_and_details() -> None:
    detail = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "X", "domain": "d"}
    book = book_of(
        {"answer": {"error": {"code": 503, "status": "UNAVAILABLE", "message": "busy", "details": [detail]}}}
    )
    req = request(text("hi"))
    with pytest.raises(ApiError) as caught:
        await played(book.match("p1", req), req)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.status, caught.value.message) == (503, "UNAVAILABLE", "busy")
    assert caught.value.details == [detail] and caught.value.headers == {}


async def test_play_cut_after_k_chunks() -> None:
    book = book_of({"answer": {"text": "abcdef", "chunk_size": 2, "cut_after": 2}})
    req = request(text("hi"))
    seen: list[OutputEvent] = []
    with pytest.raises(StreamCut) as caught:
        async for event in play(book.match("p1", req), req, fallback_for(req), Sleeps()):  # type: ignore[arg-type]
            seen.append(event)
    assert seen == [TextDelta("ab"), TextDelta("cd")] and caught.value.after == 2


async def test_play_cut_beyond_the_last_chunk_loses_the_final_event() -> None:
    book = book_of({"answer": {"text": "ab", "cut_after": 5}})
    req = request(text("hi"))
    with pytest.raises(StreamCut):
        await played(book.match("p1", req), req)  # type: ignore[arg-type]


async def test_play_function_calls_given_and_generated() -> None:
    book = book_of(
        {
            "answer": {
                "text": "Calling.",
                "function_calls": [
                    {"name": "get_time", "args": {"zone": "x"}, "id": "c9"},
                    {"name": "get_weather"},
                    {},
                ],
            }
        }
    )
    req = request(text("use get_weather"), tools=(WEATHER, TIME))
    events = await played(book.match("p1", req), req)  # type: ignore[arg-type]
    assert events[0] == TextDelta("Calling.")
    calls = [e.call for e in events if isinstance(e, FunctionCalled)]
    assert calls[0].name == "get_time" and calls[0].args == {"zone": "x"} and calls[0].id == "c9"
    assert calls[1].name == "get_weather" and calls[1].id
    jsonschema.validate(calls[1].args, WEATHER.json_schema())
    assert calls[2].name == "get_weather"  # named in the prompt
    assert len({c.id for c in calls}) == 3


async def test_play_function_call_without_declared_functions_is_refused() -> None:
    book = book_of({"name": "call", "answer": {"function_calls": [{}]}})
    req = request(text("x"))
    with pytest.raises(InvalidArgument, match="rule 0 \\('call'\\) answers a function call"):
        await played(book.match("p1", req), req)  # type: ignore[arg-type]


async def test_play_fall_through_with_delay_and_cut_uses_the_deterministic_model() -> None:
    book = book_of({"answer": {"delay": 0.25, "cut_after": 1}})
    req = request(text("x" * 80), tools=(WEATHER,), mode="ANY")
    sleeps = Sleeps()
    seen: list[OutputEvent] = []
    with pytest.raises(StreamCut):
        async for event in play(book.match("p1", req), req, fallback_for(req), sleeps):  # type: ignore[arg-type]
            seen.append(event)
    assert sleeps.delays == [0.25] and len(seen) == 1 and isinstance(seen[0], FunctionCalled)


async def test_play_fall_through_without_cut_ends_with_finished() -> None:
    book = book_of({"match": {"schema": True}, "answer": {"delay": 0}})
    req = request(
        text("x"),
        response=ResponseFormat(
            "application/json",
            json_schema={"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
        ),
    )
    events = await played(book.match("p1", req), req)  # type: ignore[arg-type]
    body = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert isinstance(json.loads(body)["a"], int) and isinstance(events[-1], Finished)
