"""The rule format: loading, validation with errors naming rule and field, and matching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemfiles.domain.calls import FunctionCall, ResponseFormat
from gemfiles.domain.script import Match, Rule, ScriptError, load_script, matches, parse_rules

from .requests import TIME, WEATHER, after_call, pdf_part, request, text

YAML = """
rules:
  - name: busy
    match: {model: "gemini-2.5-*", text: "weather"}
    nth: 1
    times: 2
    answer:
      error: {code: 429, retry_delay: 2, retry_after: 2}
  - name: weather call
    match: {function: get_weather}
    answer:
      function_calls:
        - {name: get_weather, args: {city: Oslo, unit: celsius}}
  - answer: {text: "Hello there", chunk_size: 3, chunk_delay: 0.1}
"""


def test_load_yaml_script(tmp_path: Path) -> None:
    path = tmp_path / "script.yaml"
    path.write_text(YAML)
    rules = load_script(path)
    assert [r.name for r in rules] == ["busy", "weather call", None]
    assert (
        rules[0].answer.error is not None and rules[0].answer.error.canonical_status() == "RESOURCE_EXHAUSTED"
    )
    assert rules[1].answer.function_calls and rules[1].answer.function_calls[0].args == {
        "city": "Oslo",
        "unit": "celsius",
    }


def test_load_json_script_as_a_bare_list(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    path.write_text(json.dumps([{"match": {"schema": True}, "answer": {"json": {"ok": True}}}]))
    (rule,) = load_script(path)
    assert rule.match.schema_ is True and rule.answer.has_json and rule.answer.json_ == {"ok": True}


def test_json_null_answer_is_content_not_a_fall_through() -> None:
    (rule,) = parse_rules([{"answer": {"json": None}}])
    assert rule.answer.has_json and not rule.answer.falls_through
    (delay_only,) = parse_rules([{"answer": {"delay": 1.5}}])
    assert delay_only.answer.falls_through


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            [{"name": "x", "answer": {"error": {"code": 200}}}],
            "rule 0 ('x'): answer.error.code: Input should be greater than or equal to 400",
        ),
        (
            [{"answer": {"text": "a"}}, {"answer": {"txt": "b"}}],
            "rule 1: answer.txt: Extra inputs are not permitted",
        ),
        (
            [{"match": {"text_regex": "("}, "answer": {}}],
            "rule 0: match.text_regex: not a valid regular expression",
        ),
        (
            [{"answer": {"text": "a", "json": 1}}],
            "rule 0: answer: a json answer cannot also carry text",
        ),
        (
            [{"answer": {"error": {"code": 503}, "text": "a"}}],
            "rule 0: answer: an error answer cannot",
        ),
        (
            [{"match": {"file": {"sha256": "xyz"}}, "answer": {}}],
            "rule 0: match.file.sha256: String should match pattern",
        ),
        (
            [{"answer": {"function_calls": [{"name": 3}]}}],
            "rule 0: answer.function_calls[0].name: Input should be a valid string",
        ),
        ([{"answer": {"chunks": [2, 0]}}], "rule 0: answer.chunks: chunk sizes are at least 1"),
        (
            [{"answer": {"error": {"code": 429, "details": [{"reason": "x"}]}}}],
            "rule 0: answer.error.details: each detail needs an '@type'",
        ),
        ([{"name": "n"}], "rule 0 ('n'): answer: Field required"),
        (["text"], "rule 0: expected an object"),
        ({"rule": []}, "expected a list of rules"),
    ],
)
def test_parse_rules_refuses_bad_rules_naming_rule_and_field(rules: object, message: str) -> None:
    with pytest.raises(ScriptError) as caught:
        parse_rules(rules, "test")
    assert message in caught.value.message
    assert caught.value.code == 400


def test_parse_rules_reports_every_problem_at_once() -> None:
    with pytest.raises(ScriptError) as caught:
        parse_rules([{"answer": {"delay": -1}}, {"nth": 0, "answer": {}}])
    assert "rule 0: answer.delay" in caught.value.message and "rule 1: nth" in caught.value.message


def test_load_script_refuses_unreadable_or_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="cannot read"):
        load_script(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ScriptError, match="not valid JSON"):
        load_script(bad)


def test_match_model_glob_and_text() -> None:
    req = request(text("What is the weather like?"), model="gemini-2.5-flash")
    assert matches(Match(model="gemini-2.5-*", text="weather"), req)
    assert matches(Match(model="models/gemini-2.5-flash"), req)
    assert not matches(Match(model="gemini-1.5-*"), req)
    assert not matches(Match(text="Weather"), req)  # substrings are case-sensitive
    assert matches(Match(text_regex=r"(?i)WEATHER\s+like"), req)


def test_match_file_by_mime_name_and_sha() -> None:
    req = request(text("read"), pdf_part("invoice-7.pdf", "ab" * 32))
    assert matches(
        Match.model_validate({"file": {"mime_type": "application/*", "display_name": "invoice-*.pdf"}}), req
    )
    assert matches(Match.model_validate({"file": {"sha256": "AB" * 32}}), req)
    assert not matches(Match.model_validate({"file": {"mime_type": "image/*"}}), req)
    assert not matches(Match.model_validate({"file": {}}), request(text("no file")))


def test_match_tools_function_schema_and_turn() -> None:
    plain = request(text("x"))
    tooled = request(
        text("x"),
        tools=(WEATHER, TIME),
        response=ResponseFormat("application/json", json_schema={"type": "string"}),
    )
    assert matches(Match(tools=False), plain) and not matches(Match(tools=True), plain)
    assert matches(Match(tools=True, function="get_time"), tooled)
    assert not matches(Match(function="other"), tooled)
    assert matches(Match.model_validate({"schema": True}), tooled) and matches(
        Match.model_validate({"schema": False}), plain
    )
    later = after_call(FunctionCall("get_weather", {}), {"t": 1})
    assert matches(Match(turn=2), later) and matches(Match(turn=1), plain)
    assert matches(Match(function_response="get_*"), later) and not matches(
        Match(function_response="*"), plain
    )


def test_rule_answers_the_nth_call_and_times_after_it() -> None:
    only_third = Rule.model_validate({"nth": 3, "answer": {}})
    assert [only_third.answers_call(n) for n in range(1, 6)] == [False, False, True, False, False]
    twice = Rule.model_validate({"times": 2, "answer": {}})
    assert [twice.answers_call(n) for n in range(1, 4)] == [True, True, False]
    window = Rule.model_validate({"nth": 2, "times": 2, "answer": {}})
    assert [window.answers_call(n) for n in range(1, 5)] == [False, True, True, False]
    always = Rule.model_validate({"answer": {}})
    assert all(always.answers_call(n) for n in range(1, 10))
