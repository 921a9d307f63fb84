"""A batch input line parsed, and the watermark a runner saves as answers arrive out of order."""

from __future__ import annotations

from gemfiles.domain.batch_runner import _Watermark, parse_line
from gemfiles.domain.jsonl import Line


def line(data: bytes, index: int = 0) -> Line:
    return Line(index, 0, len(data), data)


def test_parse_line_gives_key_request_and_metadata() -> None:
    key, request, extra = parse_line(
        line(b'{"key": "a", "request": {"contents": []}, "metadata": {"m": 1}}'), 100
    )
    assert (key, request, extra) == ("a", {"contents": []}, {"metadata": {"m": 1}})


def test_parse_line_turns_a_numeric_key_into_text_and_ignores_other_keys() -> None:
    assert parse_line(line(b'{"key": 12, "request": {}}'), 100)[0] == "12"
    assert parse_line(line(b'{"key": true, "request": {}}'), 100)[0] is None
    assert parse_line(line(b'{"key": ["x"], "request": {}}'), 100)[0] is None


def test_parse_line_reports_what_is_wrong_as_the_lines_error() -> None:
    for data, message in (
        (b"{oops", "Invalid JSON in input line 4: "),
        (b'"text"', "Input line 4 is not a JSON object."),
        (b'{"key": "k", "request": []}', "Input line 4 has no 'request' object."),
    ):
        _, request, extra = parse_line(line(data, 3), 100)
        assert request is None
        assert extra["error"]["code"] == 400 and extra["error"]["status"] == "INVALID_ARGUMENT"
        assert extra["error"]["message"].startswith(message)
    oversized = parse_line(Line(0, 0, 500, b"", True), 100)
    assert oversized[2]["error"]["message"] == "The request line exceeds 100 bytes."


def test_watermark_moves_over_consecutive_answers_only() -> None:
    mark = _Watermark(5, 500)
    mark.answered(7, 800)
    mark.answered(6, 700)
    assert (mark.index, mark.offset) == (5, 500)
    mark.answered(5, 600)
    assert (mark.index, mark.offset) == (8, 800)
    assert mark.ends == {}
