"""The journal of model calls, and the emulator that scripts, falls through and journals."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from gemfiles.domain.calls import (
    Finished,
    FunctionCall,
    FunctionCalled,
    InlineData,
    ModelRequest,
    OutputEvent,
    Part,
    ResponseFormat,
    TextDelta,
    Usage,
)
from gemfiles.domain.emulator import Emulator
from gemfiles.domain.faults import FaultPlan, parse_faults
from gemfiles.domain.journal import AnswerSeen, FileSeen, Journal
from gemfiles.domain.replies import reply_events, structured_reply
from gemfiles.domain.script import parse_rules
from gemfiles.domain.scriptbook import ScriptBook, StreamCut
from gemfiles.errors import ApiError

from .requests import WEATHER, after_call, pdf_part, request, text

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def events_of(*events: OutputEvent) -> AsyncIterator[OutputEvent]:
    for event in events:
        yield event


async def drain(events: AsyncIterator[OutputEvent]) -> list[OutputEvent]:
    return [event async for event in events]


async def test_journal_records_what_the_model_received_and_answered() -> None:
    journal = Journal(lambda: NOW)
    req = request(
        text("Summarise"),
        pdf_part("a.pdf", "ab" * 32),
        Part("inline", inline=InlineData("image/png", b"png")),
        tools=(WEATHER,),
        response=ResponseFormat("application/json", schema={"type": "STRING"}),
    )
    req.generation_config = {"temperature": 0.2}
    call = FunctionCall("get_weather", {"city": "Oslo"}, "c1")
    events = events_of(TextDelta("Hi "), TextDelta("there"), FunctionCalled(call), Finished(Usage(7, 3)))
    await drain(journal.watch("p1", "generateContent", req, events))
    (entry,) = journal.entries("p1")
    assert entry.texts == ["Summarise"] and entry.time == NOW and entry.method == "generateContent"
    assert entry.files == [
        FileSeen("files/doc1", "a.pdf", "application/pdf", 2048, "ab" * 32),
        FileSeen(None, None, "image/png", 3, hashlib.sha256(b"png").hexdigest()),
    ]
    assert entry.generation_config == {"temperature": 0.2} and entry.tools == ("get_weather",)
    assert entry.response_mime_type == "application/json" and entry.response_schema == {"type": "string"}
    answer = entry.answer
    assert (answer.outcome, answer.text, answer.input_tokens, answer.output_tokens) == (
        "finished",
        "Hi there",
        7,
        3,
    )
    assert answer.function_calls == [{"name": "get_weather", "args": {"city": "Oslo"}, "id": "c1"}]
    assert entry.to_json()["time"] == "2026-03-01T12:00:00Z"
    assert journal.entries("p2") == []


async def test_journal_records_function_turns() -> None:
    journal = Journal(lambda: NOW)
    req = after_call(FunctionCall("get_weather", {"city": "Oslo"}, "c1"), {"t": 3})
    await drain(journal.watch("p1", "interactions", req, events_of(Finished(Usage(1, 0)))))
    turns = journal.entries("p1")[0].turns
    assert [t.role for t in turns] == ["user", "model", "user"]
    assert turns[1].function_calls == ({"name": "get_weather", "args": {"city": "Oslo"}, "id": "c1"},)
    assert turns[2].function_responses == ({"name": "get_weather", "response": {"t": 3}, "id": "c1"},)


async def test_journal_records_errors_and_drops_then_reraises() -> None:
    journal = Journal(lambda: NOW)

    async def failing() -> AsyncIterator[OutputEvent]:
        yield TextDelta("partial")
        raise StreamCut(1)

    with pytest.raises(StreamCut):
        await drain(journal.watch("p1", "streamGenerateContent", request(text("x")), failing()))
    assert journal.entries("p1")[0].answer.outcome == "dropped"
    assert journal.entries("p1")[0].answer.text == "partial"


async def test_journal_records_an_abandoned_stream() -> None:
    journal = Journal(lambda: NOW)
    watched = journal.watch(
        "p1", "streamGenerateContent", request(text("x")), events_of(TextDelta("a"), TextDelta("b"))
    )
    assert await anext(watched) == TextDelta("a")
    await watched.aclose()  # the client went away
    assert journal.entries("p1")[0].answer.outcome == "abandoned"


def test_journal_keeps_the_last_entries_and_resets_per_project() -> None:
    journal = Journal(lambda: NOW, limit=2)
    for n in range(3):
        journal.record("p1", journal.entry(request(text(str(n))), "generateContent", AnswerSeen()))
    assert [e.texts for e in journal.entries("p1")] == [["1"], ["2"]]
    assert [e.sequence for e in journal.entries("p1")] == [2, 3]
    journal.reset("p1")
    assert journal.entries("p1") == []


def deterministic(req: ModelRequest) -> AsyncIterator[OutputEvent]:
    reply = structured_reply(req)
    if reply is None:
        return events_of(TextDelta("report"), Finished(Usage(1, 1)))
    return reply_events(req, reply)


async def no_sleep(seconds: float) -> None:
    return None


def emulator(rules: list[dict]) -> Emulator:
    book = ScriptBook()
    book.set_rules("p1", parse_rules(rules))
    return Emulator(book, FaultPlan(), Journal(lambda: NOW), sleep=no_sleep)


async def test_emulator_answers_from_a_rule_and_journals_the_rule() -> None:
    emu = emulator([{"name": "hi", "match": {"text": "hello"}, "answer": {"text": "scripted"}}])
    events = await drain(emu.generate("p1", "generateContent", request(text("hello")), deterministic))
    assert events[0] == TextDelta("scripted")
    entry = emu.journal.entries("p1")[0]
    assert entry.rule == "rule 0 ('hi')" and entry.answer.text == "scripted"


async def test_emulator_falls_through_to_the_backend() -> None:
    emu = emulator([{"match": {"text": "hello"}, "answer": {"text": "scripted"}}])
    events = await drain(emu.generate("p1", "generateContent", request(text("other")), deterministic))
    assert events[0] == TextDelta("report")
    assert emu.journal.entries("p1")[0].rule is None


async def test_emulator_journals_a_scripted_error() -> None:
    emu = emulator([{"answer": {"error": {"code": 503}}}])
    with pytest.raises(ApiError):
        await drain(emu.generate("p1", "generateContent", request(text("x")), deterministic))
    assert emu.journal.entries("p1")[0].answer.error == {
        "code": 503,
        "status": "UNAVAILABLE",
        "message": "The model is overloaded. Please try again later.",
    }


async def test_emulator_reset_forgets_rules_faults_and_journal() -> None:
    emu = emulator([{"answer": {"text": "scripted"}}])
    emu.faults.set_faults("p1", parse_faults([{"kind": "start_exhausted"}]))
    await drain(emu.generate("p1", "generateContent", request(text("x")), deterministic))
    emu.reset("p1")
    assert emu.scripts.rules("p1") == [] and emu.faults.faults("p1") == [] and emu.journal.entries("p1") == []
