"""Token counts with Google's documented rates, for usageMetadata, interactions usage and countTokens.

The rates (https://ai.google.dev/gemini-api/docs/tokens):

* text: about 4 characters per token (rounded up per text part);
* an image: 258 tokens;
* a PDF: 258 tokens per page;
* video: 263 tokens per second (rounded up to whole seconds);
* audio: 32 tokens per second (rounded up to whole seconds);
* a text or other document file: its characters (else its size in bytes) / 4, rounded up.

Media counts come from the facts the media layer stored when the file was uploaded (``duration_seconds``,
``pages``), so counting never reads a file's bytes. Missing facts count as one page or one second.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from gemfiles.domain.calls import (
    FunctionCall,
    FunctionDeclaration,
    FunctionResponse,
    Message,
    ModalityCount,
    ModelRequest,
    Part,
    Usage,
)
from gemfiles.domain.mime import FileKind, family, file_kind

IMAGE_TOKENS = 258
PDF_PAGE_TOKENS = 258
VIDEO_TOKENS_PER_SECOND = 263
AUDIO_TOKENS_PER_SECOND = 32
CHARS_PER_TOKEN = 4

Modality = Literal["TEXT", "IMAGE", "AUDIO", "VIDEO", "DOCUMENT"]
MODALITY_ORDER: tuple[Modality, ...] = ("TEXT", "IMAGE", "AUDIO", "VIDEO", "DOCUMENT")

# The modality each file kind is reported under. Text-like documents (JSON, XML, code: kind "text" but not
# text/*) count as DOCUMENT, as Google reports them; only the text/* family counts as TEXT.
KIND_MODALITY: dict[FileKind, Modality] = {
    "image": "IMAGE",
    "video": "VIDEO",
    "audio": "AUDIO",
    "pdf": "DOCUMENT",
    "text": "DOCUMENT",
    "other": "DOCUMENT",
}


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def _seconds(facts: Mapping[str, Any]) -> int:
    duration = facts.get("duration_seconds")
    try:
        seconds = float(duration) if duration is not None else 0.0
    except (TypeError, ValueError):
        seconds = 0.0
    return max(1, math.ceil(seconds))


def media_tokens(mime_type: str, size_bytes: int, facts: Mapping[str, Any] | None) -> tuple[Modality, int]:
    """The modality and token count of one file or inline blob."""
    facts = facts or {}
    kind = file_kind(mime_type)
    modality = "TEXT" if family(mime_type) == "text" else KIND_MODALITY[kind]
    if kind == "image":
        return modality, IMAGE_TOKENS
    if kind == "video":
        return modality, VIDEO_TOKENS_PER_SECOND * _seconds(facts)
    if kind == "audio":
        return modality, AUDIO_TOKENS_PER_SECOND * _seconds(facts)
    if kind == "pdf":
        pages = facts.get("pages")
        return modality, PDF_PAGE_TOKENS * (int(pages) if isinstance(pages, int) and pages > 0 else 1)
    chars = facts.get("char_count")
    count = chars if isinstance(chars, int) and chars >= 0 else size_bytes
    return modality, math.ceil(count / CHARS_PER_TOKEN)


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=False, default=str)


def call_text(call: FunctionCall | FunctionResponse) -> str:
    """What a function call or response counts as: its name and JSON, as text."""
    body = call.args if isinstance(call, FunctionCall) else call.response
    return call.name + compact_json(body)


def declaration_text(declaration: FunctionDeclaration) -> str:
    """What a declared tool counts as: name, description and parameter schema, as text."""
    return declaration.name + declaration.description + compact_json(declaration.json_schema())


def part_tokens(part: Part) -> tuple[Modality, int]:
    if part.kind == "text":
        return "TEXT", text_tokens(part.text or "")
    if part.kind == "function_call" and part.function_call is not None:
        return "TEXT", text_tokens(call_text(part.function_call))
    if part.kind == "function_response" and part.function_response is not None:
        return "TEXT", text_tokens(call_text(part.function_response))
    if part.kind == "file" and part.file is not None:
        record = part.file.record
        return media_tokens(record.mime_type, record.size_bytes, record.facts)
    if part.kind == "inline" and part.inline is not None:
        inline = part.inline
        return media_tokens(inline.mime_type, len(inline.data), inline.facts)
    return "TEXT", 0


def count_parts(parts: Iterable[Part], system_instruction: str | None = None) -> Usage:
    """Input tokens of some parts (and a system instruction), with the per-modality breakdown."""
    totals: dict[Modality, int] = {}
    if system_instruction:
        totals["TEXT"] = text_tokens(system_instruction)
    for part in parts:
        modality, tokens = part_tokens(part)
        totals[modality] = totals.get(modality, 0) + tokens
    by_modality = tuple(ModalityCount(m, totals[m]) for m in MODALITY_ORDER if m in totals)
    return Usage(input_tokens=sum(totals.values()), output_tokens=0, input_by_modality=by_modality)


def count_messages(messages: Iterable[Message], system_instruction: str | None = None) -> Usage:
    return count_parts((part for message in messages for part in message.parts), system_instruction)


def count_request(request: ModelRequest) -> Usage:
    """What countTokens answers and what a generation's usage reports as input (declared tools count
    as text, as the model reads them)."""
    tools = [Part("text", text=declaration_text(d)) for d in request.tools]
    messages = [*request.messages, Message("user", tools)] if tools else request.messages
    return count_messages(messages, request.system_instruction)


def with_output(usage: Usage, output_text: str, calls: Iterable[FunctionCall] = ()) -> Usage:
    """The usage of an answer: its text and the function calls it made count as output text."""
    output = text_tokens(output_text) + sum(text_tokens(call_text(c)) for c in calls)
    return Usage(usage.input_tokens, output, usage.input_by_modality)
