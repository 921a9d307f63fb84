"""Log output: JSON lines (request fields at the top level) or readable text; ``auto`` picks by terminal."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys

import pytest

from gemfiles import logs

REQUEST = {
    "request_id": "abc",
    "project": "p1",
    "route": "/{version}files/{name}",
    "method": "GET",
    "status": 200,
    "bytes_in": 0,
    "bytes_out": 12,
    "duration_ms": 1.25,
}


def record(**extra: object) -> logging.LogRecord:
    made = logging.LogRecord("gemfiles.access", logging.INFO, __file__, 1, "request", None, None)
    for name, value in extra.items():
        setattr(made, name, value)
    return made


def test_json_formatter_puts_request_fields_at_the_top_level() -> None:
    line = json.loads(logs.JsonFormatter().format(record(request=REQUEST)))
    assert {k: line[k] for k in REQUEST} == REQUEST
    assert (line["level"], line["logger"], line["message"]) == ("info", "gemfiles.access", "request")
    assert line["time"].endswith("Z")


def test_text_formatter_writes_one_readable_line() -> None:
    text = logs.TextFormatter().format(record(request=REQUEST))
    assert "gemfiles.access: GET /{version}files/{name} 200 1.2ms in=0 out=12 project=p1 id=abc" in text


@pytest.mark.parametrize(("tty", "expected"), [(False, logs.JsonFormatter), (True, logs.TextFormatter)])
def test_auto_format_is_text_on_a_terminal_and_json_otherwise(
    monkeypatch: pytest.MonkeyPatch, tty: bool, expected: type
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(stream, "isatty", lambda: tty)
    monkeypatch.setattr(sys, "stderr", stream)
    logger = logging.getLogger("gemfiles")
    saved = (list(logger.handlers), logger.level)
    try:
        logs.configure("info", "auto")
        (handler,) = [h for h in logger.handlers if h.get_name() == "gemfiles"]
        assert type(handler.formatter) is expected
        logs.configure("info", "auto")  # configuring again replaces the handler, never adds one
        assert len([h for h in logger.handlers if h.get_name() == "gemfiles"]) == 1
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])


def test_request_writer_writes_the_line_a_record_would_and_honours_the_level(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    access = logging.getLogger("gemfiles.access")
    saved = access.level
    try:
        access.setLevel(logging.INFO)
        logs.request_writer("json")(REQUEST)
        access.setLevel(logging.WARNING)
        logs.request_writer("json")(REQUEST)
    finally:
        access.setLevel(saved)
    (line,) = stream.getvalue().splitlines()
    written = json.loads(line)
    formatted = json.loads(logs.JsonFormatter().format(record(request=REQUEST)))
    assert written.keys() == formatted.keys()
    assert {k: written[k] for k in REQUEST} == REQUEST


async def test_request_lines_of_a_burst_go_out_in_one_write_by_the_end_of_the_loops_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writes: list[str] = []

    class Stream(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    monkeypatch.setattr(sys, "stderr", Stream())
    access = logging.getLogger("gemfiles.access")
    saved = access.level
    access.setLevel(logging.INFO)
    try:
        log = logs.request_writer("json")
        log(REQUEST, more_coming=True)
        log(REQUEST, more_coming=True)
        assert writes == []  # other requests are still being answered
        await asyncio.sleep(0)  # the end of the loop's turn
        assert len(writes) == 1 and len(writes[0].splitlines()) == 2
        log(REQUEST, more_coming=True)
        log(REQUEST)  # the last request in flight: everything waiting goes out with it, at once
        assert len(writes) == 2 and len(writes[1].splitlines()) == 2
        await asyncio.sleep(0)
        assert len(writes) == 2
    finally:
        access.setLevel(saved)
