"""Token counting at Google's documented rates, from stored facts only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gemfiles.domain.calls import (
    FunctionCall,
    FunctionDeclaration,
    FunctionResponse,
    InlineData,
    Message,
    ModelRequest,
    Part,
    ResolvedFile,
    Usage,
)
from gemfiles.domain.models import FileRecord
from gemfiles.domain.tokens import count_request, media_tokens, text_tokens, with_output


class NoBlobs:
    """A blob store that fails if anything reads bytes: counting must use stored facts only."""

    def open(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("token counting read a file's bytes")

    def reader(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("token counting read a file's bytes")


def file_part(mime_type: str, size: int, facts: dict | None) -> Part:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    record = FileRecord(
        project="p",
        id="abc",
        mime_type=mime_type,
        size_bytes=size,
        sha256_hex="0" * 64,
        create_time=now,
        update_time=now,
        expire_time=now + timedelta(hours=48),
        blob_key="k",
        facts=facts,
    )
    return Part("file", file=ResolvedFile(record, NoBlobs()))  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "tokens"), [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("é" * 8, 2)])
def test_text_tokens_are_four_characters_each_rounded_up(text: str, tokens: int) -> None:
    assert text_tokens(text) == tokens


def test_image_counts_258_tokens_whatever_its_size() -> None:
    assert media_tokens("image/png", 10, {"width": 1, "height": 1}) == ("IMAGE", 258)
    assert media_tokens("image/jpeg", 10_000_000, None) == ("IMAGE", 258)


def test_pdf_counts_258_tokens_per_page() -> None:
    assert media_tokens("application/pdf", 1, {"pages": 3}) == ("DOCUMENT", 774)
    assert media_tokens("application/pdf", 1, {}) == ("DOCUMENT", 258)  # not probed: one page


def test_video_counts_263_tokens_per_started_second() -> None:
    assert media_tokens("video/mp4", 1, {"duration_seconds": 10.0}) == ("VIDEO", 2630)
    assert media_tokens("video/mp4", 1, {"duration_seconds": 2.2}) == ("VIDEO", 789)


def test_audio_counts_32_tokens_per_started_second() -> None:
    assert media_tokens("audio/wav", 1, {"duration_seconds": 1.0}) == ("AUDIO", 32)
    assert media_tokens("audio/mpeg; rate=44100", 1, {"duration_seconds": 60.5}) == ("AUDIO", 32 * 61)


def test_text_file_counts_its_characters_else_its_bytes() -> None:
    assert media_tokens("text/plain", 100, {"char_count": 40}) == ("TEXT", 10)
    assert media_tokens("text/plain", 101, {}) == ("TEXT", 26)
    assert media_tokens("application/json", 8, None) == ("DOCUMENT", 2)


@pytest.mark.parametrize(
    ("mime_type", "modality"),
    [
        ("text/x-python", "TEXT"),
        ("TEXT/CSV; charset=utf-8", "TEXT"),
        ("application/x-python", "DOCUMENT"),
        ("application/ld+json", "DOCUMENT"),
        ("application/vnd.ms-excel", "DOCUMENT"),
        ("application/zip", "DOCUMENT"),
    ],
)
def test_only_the_text_family_counts_as_text_other_documents_by_characters(
    mime_type: str, modality: str
) -> None:
    assert media_tokens(mime_type, 40, {"char_count": 12}) == (modality, 3)
    assert media_tokens(mime_type, 40, None) == (modality, 10)


def test_request_usage_sums_parts_by_modality_without_reading_bytes() -> None:
    request = ModelRequest(
        model="m",
        messages=[
            Message(
                "user",
                [
                    Part("text", text="Describe this"),  # 13 chars -> 4
                    file_part("audio/wav", 32044, {"duration_seconds": 1.0}),
                    file_part("video/mp4", 1 << 30, {"duration_seconds": 3.0}),
                    Part("inline", inline=InlineData("image/png", b"\x89PNG", {"width": 2, "height": 2})),
                ],
            ),
            Message("model", [Part("text", text="ok")]),
        ],
        system_instruction="Be brief.",  # 9 chars -> 3
    )
    usage = count_request(request)
    assert usage.input_tokens == 3 + 4 + 1 + 32 + 789 + 258
    assert [(m.modality, m.tokens) for m in usage.input_by_modality] == [
        ("TEXT", 8),
        ("IMAGE", 258),
        ("AUDIO", 32),
        ("VIDEO", 789),
    ]
    assert with_output(usage, "x" * 9).output_tokens == 3
    assert with_output(usage, "x" * 9).total_tokens == usage.input_tokens + 3


def test_count_function_call_and_response_parts_as_text() -> None:
    call = Part("function_call", function_call=FunctionCall("f", {"a": 1}))
    result = Part("function_response", function_response=FunctionResponse("f", {"ok": True}))
    usage = count_request(ModelRequest("m", [Message("model", [call]), Message("user", [result])]))
    # 'f{"a":1}' is 8 characters (2 tokens), 'f{"ok":true}' 12 (3 tokens)
    assert usage.input_tokens == 5 and [m.modality for m in usage.input_by_modality] == ["TEXT"]


def test_count_declared_tools_as_input_text() -> None:
    bare = ModelRequest("m", [Message("user", [Part("text", text="hi")])])
    tool = FunctionDeclaration("f", parameters_json_schema={"type": "object"})
    with_tool = ModelRequest("m", bare.messages, tools=(tool,))
    # 'f{"type":"object"}' is 18 characters: 5 tokens more
    assert count_request(with_tool).input_tokens == count_request(bare).input_tokens + 5


def test_with_output_counts_function_calls() -> None:
    assert with_output(Usage(3, 0), "abcd", [FunctionCall("f", {"a": 1})]).output_tokens == 1 + 2
